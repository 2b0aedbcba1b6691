"""The safety of members (DOMAIN.md section 11): who read a focal point, a
member's export, and the erasure of its personal data. A mixin of
MembersService (services/members/service.py), whose `store` it uses.

Invariants:
- every answer that gives out focal points is recorded in
  `focal_point_reads` before it is returned: one record per call, naming the
  members whose focal point it gives; no record, no answer;
- a read record holds when, who (`by`) and which members: never a focal
  point, never an address;
- an erasure changes the member's record and deletes the kept answers that
  still hold its focal point in one transaction, with its event; nothing is
  logged but ids and counts (`by` is a person's name: never logged).
"""
import logging
from typing import Any

from pymongo.write_concern import WriteConcern

from services.common import member_data, paging, records
from services.common.errors import BadUserInput
from services.common.handlers import rpc
from services.common.store import utcnow
from services.common.validation import load
from services.members import domain
from services.members.dependencies import (MAX_READS_PER_MEMBER, MEMBER_DATA, erased_query,
                                           kept_answers_query, reads_query)
from services.members.schemas import ByInput, FocalPointReadView, member_view

log = logging.getLogger(__name__)
_dump_read = FocalPointReadView().dump

# the most member ids one call of read_focal_points or focal_point_reads_many
# takes (a page is at most MAX_PAGE_SIZE, 200, by default)
MAX_IDS = 1000
# a read record is acknowledged as a transaction's changes are: by a majority
MAJORITY = WriteConcern("majority")


def member_ids_of(member_ids: object) -> list[str]:
    """The ids asked for, each once (paging.clean_ids); BadUserInput over MAX_IDS."""
    ids = paging.clean_ids(member_ids)
    if len(ids) > MAX_IDS:
        raise BadUserInput(f"At most {MAX_IDS} member ids at once.",
                           {"memberIds": [f"At most {MAX_IDS}."]})
    return ids


def by_of(by: object) -> str:
    """Who asks, as text of 1..200 characters, or BadUserInput."""
    return str(load(ByInput(), {"by": by})["by"])


class MemberSafety:
    """The RPCs of DOMAIN.md section 11 that the members service answers."""

    store: Any

    @rpc
    def read_focal_points(self, member_ids: object, by: object) -> list[dict[str, Any]]:
        """[{id, focal_point}] of the members named (unknown ids left out;
        focal_point None once erased), after recording ONE read
        `{_id, at, by, member_ids}` of the members whose focal point it gives
        (none when it gives none). `by`: who is given them (a secretariat
        person's name or a token's subject), text of at most 200 characters.

        The record is a plain insert, not `self.store.transaction`: this
        answer is a read, not a kept change. A repeated call (same request
        name) must not get a kept answer holding focal points (an erasure
        could not reach it), and each answer given out is a read of its own.
        The insert is acknowledged by a majority (as a transaction is)
        before the answer is returned; if it fails the call fails, so no
        focal point leaves unrecorded."""
        reader = by_of(by)
        ids = member_ids_of(member_ids)
        if not ids:
            return []
        found = {d["_id"]: d.get("focal_point") for d in
                 self.store.db.members.find({"_id": {"$in": ids}}, {"focal_point": 1})}
        answer = [{"id": i, "focal_point": found[i]} for i in ids if i in found]
        given = [a["id"] for a in answer if a["focal_point"] is not None]
        if given:
            self.store.db.focal_point_reads.with_options(write_concern=MAJORITY).insert_one(
                {"_id": paging.new_id(), "at": utcnow(), "by": reader, "member_ids": given})
        return answer

    @rpc
    def focal_point_reads_many(self, member_ids: object) -> dict[str, list[dict[str, Any]]]:
        """{member_id: [{at, by}]} for each id asked (unknown ones: []),
        newest first, at most MAX_READS_PER_MEMBER (500) each: older records
        stay in the store and in the member's export (member_data). One
        indexed range per member."""
        reads = self.store.db.focal_point_reads
        return {member_id: [_dump_read(d) for d in
                            reads.find(reads_query(member_id), {"at": 1, "by": 1})
                            .sort([("at", -1), ("_id", -1)]).limit(MAX_READS_PER_MEMBER)]
                for member_id in member_ids_of(member_ids)}

    @rpc
    def erase_member_data(self, member_id: object, by: object) -> dict[str, Any]:
        """Erase the member's personal data (DOMAIN.md section 11):
        {member: MemberView, removed: [what, in words]}. NOT_FOUND for an
        unknown member, CONFLICT naming its status unless it is WITHDRAWN or
        REJECTED. In one transaction: the focal point removed, `erased_at`,
        `erased_by` and the history entry "Personal data erased" the first
        time, revision + 1 and `member_data_erased` when anything changed,
        and the kit's kept answers of this member deleted (they hold its
        focal point as it was: a repeat of such a call then runs again, and
        is refused as any change of a WITHDRAWN or REJECTED member is).
        Again: removes what is left, if anything ([] when nothing)."""
        erased_by = by_of(by)
        result = self.store.transaction(lambda tx: _erase(tx, member_id, erased_by))
        log.info("member %s: personal data erased (%d kind(s) of data removed)",
                 result["member"]["_id"], len(result["removed"]))
        return {"member": member_view(result["member"]), "removed": result["removed"]}

    @rpc
    def erased_ids(self) -> list[str]:
        """Ids of the members whose personal data was erased, in the order
        of their erasure (`coalition erasures list`: what to erase again
        after a backup older than an erasure is restored)."""
        return [d["_id"] for d in
                self.store.db.members.find(erased_query(), {"_id": 1}).sort("erased_at", 1)]

    @rpc
    def member_data(self, member_id: object) -> dict[str, list[dict[str, Any]]]:
        """Everything this service holds about the member (MEMBER_DATA):
        {collection: [documents]}, empty lists for an unknown member. Read-only."""
        return member_data.export(self.store.db, MEMBER_DATA, member_id)


def _erase(tx: Any, member_id: object, by: str) -> dict[str, Any]:
    """The erasure in `tx` (see MemberSafety.erase_member_data): the member
    as it is now, and what was removed."""
    member = records.load(tx, "members", "member", member_id)
    changes, entry = domain.erasure(member, utcnow(), by)
    if changes is not None:
        update: dict[str, Any] = {"$set": changes}
        if entry is not None:
            update["$push"] = {"history": entry}
            member["history"].append(entry)
        tx.db.members.update_one({"_id": member["_id"]}, update, session=tx.session)
        member.update(changes)
        tx.emit("member_data_erased", domain.event_data(member, entry["note"] if entry else None))
    kept = tx.db.requests.delete_many(kept_answers_query(member["_id"]), session=tx.session)
    return {"member": member, "removed": domain.removed_words(changes, kept.deleted_count)}
