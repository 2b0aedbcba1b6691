"""Members service: entrypoints only. Rules live in domain.py."""
import logging

from pymongo.errors import DuplicateKeyError

from services.common import paging
from services.common.errors import BadUserInput, NotFound
from services.common.handlers import OperatorRpc, consume, rpc
from services.common.store import utcnow
from services.common.validation import load
from services.members import domain
from services.members.dependencies import list_query, members_store, voters_query
from services.members.schemas import ListFilter, MemberInput, MemberView

log = logging.getLogger(__name__)
_dump = MemberView().dump


def view(doc):
    return _dump({**doc, "can_vote": domain.can_vote(doc)})


class MembersService(OperatorRpc):
    name = "members"
    store = members_store()

    # ---- commands ------------------------------------------------------

    def _create(self, data, founding):
        member = load(MemberInput(), data)
        now = utcnow()
        doc = {"_id": paging.new_id(), **domain.new_member(member, now, founding)}
        event = "member_registered" if founding else "membership_applied"

        def work(tx):
            doc["seq"] = paging.next_seq(tx.db, "members", tx.session)
            tx.db.members.insert_one(doc, session=tx.session)
            tx.emit(event, domain.event_data(doc, doc["history"][0]["note"]))
            return doc
        try:
            doc = self.store.transaction(work)
        except DuplicateKeyError:
            raise BadUserInput("A member with this name already exists.",
                               {"name": ["A member with this name already exists."]})
        log.info("member %s created as %s", doc["_id"], doc["status"])
        return view(doc)

    @rpc
    def register_founding_member(self, data):
        return self._create(data, founding=True)

    @rpc
    def apply_for_membership(self, data):
        return self._create(data, founding=False)

    def _transition(self, member_id, action, note=None, tx=None):
        member_id = paging.clean_id(member_id)

        def work(tx):
            member = tx.db.members.find_one({"_id": member_id}, session=tx.session) if member_id else None
            if member is None:
                raise NotFound(f"No member with id {member_id!r}.")
            changes, entry, event = domain.transition(member, action, utcnow(), note)
            tx.db.members.update_one({"_id": member_id},
                                     {"$set": changes, "$push": {"history": entry}},
                                     session=tx.session)
            member.update(changes)
            member["history"].append(entry)
            tx.emit(event, domain.event_data(member, entry["note"]))
            return member

        member = work(tx) if tx is not None else self.store.transaction(work)
        log.info("member %s: %s -> %s", member_id, action, member["status"])
        return view(member)

    @rpc
    def sign_mou(self, member_id):
        return self._transition(member_id, "sign_mou")

    @rpc
    def withdraw_membership(self, member_id, reason=None):
        if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
            raise BadUserInput("The reason is not valid.", {"reason": ["At most 2000 characters."]})
        return self._transition(member_id, "withdraw", reason or "Withdrew membership")

    @rpc
    def reinstate_member(self, member_id):
        return self._transition(member_id, "reinstate", "Reinstated")

    # ---- queries -------------------------------------------------------

    @rpc
    def get(self, member_id):
        member_id = paging.clean_id(member_id)
        doc = self.store.db.members.find_one({"_id": member_id}) if member_id else None
        return view(doc) if doc else None

    @rpc
    def get_many(self, member_ids):
        """One round trip for any number of ids; unknown ids are left out."""
        ids = paging.clean_ids(member_ids)
        return [view(d) for d in self.store.db.members.find({"_id": {"$in": ids}})] if ids else []

    @rpc
    def voter_ids(self):
        """Ids of the members that may vote now (`can_vote`), read from this
        service's own store: consultations takes a round's snapshot from this
        answer, so a round opened after a change returned includes it
        (read-your-writes, docs/consistency.md). One indexed range, ids only."""
        return [d["_id"] for d in self.store.db.members.find(voters_query(), {"_id": 1})]

    @rpc
    def list(self, filters=None, first=50, after=None, count=True):
        """A page of members in creation order; totalCount only if `count`."""
        filters = load(ListFilter(), filters or {})
        return paging.page(self.store.db.members, list_query(filters), first, after, view,
                           maximum=self.store.config.get("MAX_PAGE_SIZE", 200),
                           count=count, sequenced=True)

    # ---- reactions to consultations --------------------------------------

    @consume("consultations", "round_closed")
    def on_round_closed(self, data, tx, envelope):
        if data["outcome"] != "ADOPTED" or not data["subject_id"]:
            return
        action = {"MEMBERSHIP_ADMISSION": "admit", "MEMBER_SUSPENSION": "suspend"}.get(data["kind"])
        if action:
            self._apply_outcome(data, action, tx,
                                f"Consultation {data['consultation_id']} adopted in round {data['round']}")

    @consume("consultations", "consultation_cancelled")
    def on_consultation_cancelled(self, data, tx, envelope):
        if data["kind"] == "MEMBERSHIP_ADMISSION" and data["subject_id"]:
            self._apply_outcome(data, "reject", tx,
                                f"Admission consultation {data['consultation_id']} cancelled: "
                                f"{data['reason']}")

    def _apply_outcome(self, data, action, tx, note):
        try:
            self._transition(data["subject_id"], action, note, tx=tx)
        except domain.Conflict as exc:
            # the member moved on meanwhile (for example it withdrew): the
            # outcome no longer applies; recorded in the log, not retried
            log.warning("outcome of %s not applied to %s: %s",
                        data["consultation_id"], data["subject_id"], exc)
        except NotFound:
            log.warning("outcome of %s names unknown member %s", data["consultation_id"],
                        data["subject_id"])
