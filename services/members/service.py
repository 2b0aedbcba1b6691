"""Members service: entrypoints only. Rules live in domain.py.

Each mutation writes through one `self.store.transaction(work)` and answers
from what `work` returns (a repeated or redelivered call gets the kept
result: services/common/store.py). The RPCs of DOMAIN.md section 11 (reads
of focal points, export, erasure) are in safety.py; recording a read is the
one write that is no transaction (safety.py says why)."""
import logging

from pymongo.errors import DuplicateKeyError

from services.common import paging
from services.common.errors import (FOCAL_POINT_TAKEN, NAME_TAKEN, BadUserInput, Conflict,
                                    NotFound)
from services.common.handlers import OperatorRpc, consume, rpc
from services.common import records
from services.common.queries import RecordQueries, RecordSource
from services.common.store import utcnow
from services.common.validation import load
from services.members import domain
from services.members.dependencies import (FOCAL_INDEX, duplicate_index, focal_point_query,
                                           list_query, members_store, voters_query)
from services.members.safety import MemberSafety
from services.members.schemas import (LanguageInput, ListFilter, MemberInput, VisibilityInput,
                                      member_view)

log = logging.getLogger(__name__)

# this process's blocks of member numbers (`seq`: services/common/paging.py)
SEQS = paging.SeqBlocks()


class MembersService(RecordQueries, MemberSafety, OperatorRpc):
    name = "members"
    store = members_store()
    records = RecordSource("members", filters=ListFilter, view=member_view, query=list_query,
                           sequenced=True)

    # ---- commands ------------------------------------------------------

    @rpc
    def register_founding_member(self, data):
        return self._register(load(MemberInput(), data), founding=True)

    @rpc
    def apply_for_membership(self, data):
        return self._register(load(MemberInput(), data), founding=False)

    @rpc
    def sign_mou(self, member_id):
        return self._change(member_id, "sign_mou")

    @rpc
    def withdraw_membership(self, member_id, reason=None):
        return self._change(member_id, "withdraw", domain.withdrawal_note(reason))

    @rpc
    def reinstate_member(self, member_id):
        return self._change(member_id, "reinstate")

    @rpc
    def set_language(self, member_id, language):
        """The language of the member's e-mails and pages (DOMAIN.md section 7);
        announced as member_language_set, which adds no history entry. The
        same language again changes and announces nothing."""
        language = load(LanguageInput(), {"language": language})["language"]
        member = self._set(member_id, lambda m: domain.language_change(m, language),
                           "member_language_set")
        log.info("member %s: language %s", member["_id"], domain.language_of(member))
        return member_view(member)

    @rpc
    def set_visibility(self, member_id, visibility):
        """Who may learn the member exists (DOMAIN.md section 11), in any
        status; announced as member_visibility_set, which adds no history
        entry. The same visibility again changes and announces nothing."""
        visibility = load(VisibilityInput(), {"visibility": visibility})["visibility"]
        member = self._set(member_id, lambda m: domain.visibility_change(m, visibility),
                           "member_visibility_set")
        log.info("member %s: visibility %s", member["_id"], domain.visibility_of(member))
        return member_view(member)

    def _set(self, member_id, change, event):
        """One setting of the member changed in a transaction: `change(member)`
        gives the changes to $set (None: nothing to change, nothing announced),
        announced as `event`. The member as it is now."""
        def work(tx):
            member = records.load(tx, "members", "member", member_id)
            changes = change(member)
            if changes is None:
                return member
            tx.db.members.update_one({"_id": member["_id"]}, {"$set": changes},
                                     session=tx.session)
            member.update(changes)
            tx.emit(event, domain.event_data(member))
            return member
        return self.store.transaction(work)

    def _register(self, member_in, founding):
        """Its `seq` is taken from this process's block before the transaction,
        which then writes no shared counter: concurrent registrations do not
        conflict (a refused one leaves a gap in the numbers, as paging allows)."""
        seq = SEQS.take(self.store.db, "members",
                        self.store.config.get("SEQ_BLOCK", paging.DEFAULT_SEQ_BLOCK))

        def work(tx):
            member = {"_id": paging.new_id(), **domain.new_member(member_in, utcnow(), founding),
                      "seq": seq}
            tx.db.members.insert_one(member, session=tx.session)
            tx.emit(domain.registration_event(founding),
                    domain.event_data(member, member["history"][0]["note"]))
            return member
        try:
            member = self.store.transaction(work)
        except DuplicateKeyError as exc:
            # never the address itself: it is personal data
            if duplicate_index(exc) == FOCAL_INDEX:
                raise Conflict(FOCAL_POINT_TAKEN) from None
            raise BadUserInput(NAME_TAKEN, {"name": [NAME_TAKEN]}) from None
        log.info("member %s created as %s", member["_id"], member["status"])
        return member_view(member)

    def _change(self, member_id, action, note=None):
        member = self.store.transaction(lambda tx: self._move(tx, member_id, action, note))
        log.info("member %s: %s -> %s", member["_id"], action, member["status"])
        return member_view(member)

    def _move(self, tx, member_id, action, note):
        """Move the member by `action` in `tx` and announce it; return the
        member as it is now. Conflict if its status does not allow it."""
        member = records.load(tx, "members", "member", member_id)
        changes, entry, event = domain.transition(member, action, utcnow(), note)
        tx.db.members.update_one({"_id": member["_id"]},
                                 {"$set": changes, "$push": {"history": entry}},
                                 session=tx.session)
        member.update(changes)
        member["history"].append(entry)
        tx.emit(event, domain.event_data(member, entry["note"]))
        return member

    # ---- queries (get, get_many and list: RecordQueries) -----------------

    @rpc
    def find_by_focal_point(self, address):
        """{id, status, language} of the acting member (CANDIDATE, ACTIVE or
        SUSPENDED) whose focal point has `address`, case-insensitively; None
        if there is none, or if `address` is not a text of at most 254
        characters (never an error, which could echo it). One indexed read
        (the `focal_point` index). For accounts only (common/permissions.py): it tells
        whether an address is a member's, so the gateway may not call it."""
        key = domain.lookup_key(address)
        if key is None:
            return None
        member = self.store.db.members.find_one(focal_point_query(key),
                                                {"status": 1, "language": 1})
        if member is None:
            return None
        return {"id": member["_id"], "status": member["status"],
                "language": domain.language_of(member)}

    @rpc
    def voter_ids(self):
        """Ids of the members that may vote now (`can_vote`), read from this
        service's own store: consultations takes a round's snapshot from this
        answer, so a round opened after a change returned includes it
        (read-your-writes, docs/consistency.md). One indexed range, ids only."""
        return [d["_id"] for d in self.store.db.members.find(voters_query(), {"_id": 1})]

    # ---- reactions to consultations --------------------------------------

    @consume("consultations", "round_closed")
    def on_round_closed(self, data, tx, envelope):
        self._apply_outcome(tx, data, domain.after_round_closed(data))

    @consume("consultations", "consultation_cancelled")
    def on_consultation_cancelled(self, data, tx, envelope):
        self._apply_outcome(tx, data, domain.after_cancelled(data))

    def _apply_outcome(self, tx, data, decided):
        """Apply (action, note) `decided` to the consultation's subject, if any."""
        if decided is None:
            return
        action, note = decided
        try:
            member = self._move(tx, data["subject_id"], action, note)
        except Conflict as exc:
            # the member moved on meanwhile (for example it withdrew): the
            # outcome no longer applies; recorded in the log, not retried
            log.warning("outcome of %s not applied to %s: %s",
                        data["consultation_id"], data["subject_id"], exc)
        except NotFound:
            log.warning("outcome of %s names unknown member %s", data["consultation_id"],
                        data["subject_id"])
        else:
            log.info("member %s: %s -> %s", member["_id"], action, member["status"])
