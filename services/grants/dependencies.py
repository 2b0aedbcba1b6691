"""Storage of the grants service: its indexes and its queries.

Collections: `grants` (with the counters allocated_cents and
disbursed_cents, kept in the same transaction as every allocation and
disbursement that moves them), `allocations`, `disbursements`, `reports`
(on allocations: reports.py), and `members` (grants' own read model of
members, fed by member events).

Every guard that protects the money invariant is in the filter of the very
update that changes the counter (`$expr`), never a read followed by a write.

MEMBER_DATA (services/common/member_data.py) declares what the service holds
about one member, for its export (DOMAIN.md section 11): every collection
that names a member by id. `grants` names none (a grant's donor is not a
member), so it is not exported; allocations, disbursements and reports carry
their member's id (disbursements and reports always have: copied from their
allocation when written), and `members` is keyed by it.
"""
from bson.int64 import Int64
from pymongo import ASCENDING, IndexModel

from services.common.member_data import Part
from services.common.store import MongoStore

INDEXES = {
    "grants": [
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)]),   # list(status=...)
    ],
    "allocations": [
        IndexModel([("grant_id", ASCENDING), ("_id", ASCENDING)]),  # allocations_by_grants
        # allocations_by_members, and a member's APPROVED/ON_HOLD allocations
        IndexModel([("member_id", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)]),
    ],
    "disbursements": [
        IndexModel([("allocation_id", ASCENDING), ("_id", ASCENDING)]),  # disbursements_by_allocations
        IndexModel([("member_id", ASCENDING), ("_id", ASCENDING)]),  # MEMBER_DATA
    ],
    "reports": [
        IndexModel([("allocation_id", ASCENDING), ("_id", ASCENDING)]),  # reports_by_allocations
        # overdue_reports: DUE or CHANGES_REQUESTED, due before today, by due date
        IndexModel([("status", ASCENDING), ("due_on", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("member_id", ASCENDING), ("_id", ASCENDING)]),  # MEMBER_DATA
    ],
    "members": [],  # by _id only
}


_CENTS = "in cents of the grant's currency (an integer: 8645420 is 86,454.20)"
_MOVES = {"history": "Every change of its status: when (at), to what (status), and why (note).",
          "created_at": "When it was created.", "updated_at": "When it last changed."}

MEMBER_DATA = [
    Part("allocations", lambda m: {"member_id": m}, {
        "id": "The allocation's id.",
        "grant_id": "The grant it is allocated from.",
        "currency": "The grant's currency (ISO 4217).",
        "amount_cents": f"The amount allocated to the member, {_CENTS}.",
        "disbursed_cents": f"How much of it has been paid, {_CENTS}.",
        "purpose": "What the money is for, as proposed.",
        "closes_at": "The deadline asked for its consultation, or null for the default.",
        "status": "Where it stands: PROPOSED, APPROVED, REJECTED or ON_HOLD.",
        **_MOVES,
    }),
    Part("disbursements", lambda m: {"member_id": m}, {
        "id": "The disbursement's id.",
        "allocation_id": "The allocation it pays.",
        "grant_id": "The grant the money comes from.",
        "amount_cents": f"The amount paid, {_CENTS}.",
        "paid_on": "The day it was paid.",
        "reference": "The payment's reference (a bank transfer's, for instance), if any.",
        "recorded_at": "When the payment was recorded.",
    }),
    Part("reports", lambda m: {"member_id": m}, {
        "id": "The report's id.",
        "allocation_id": "The allocation it reports on.",
        "grant_id": "The grant of that allocation.",
        "grant_title": "The grant's title when the report was scheduled.",
        "currency": "The allocation's currency (ISO 4217).",
        "allocation_cents": f"The allocation's amount, {_CENTS}.",
        "due_on": "The day the report is due.",
        "status": "Where it stands: DUE, SUBMITTED, ACCEPTED or CHANGES_REQUESTED.",
        "narrative": "What the member reported it did with the money.",
        "spent_cents": f"How much the member reported spent, {_CENTS}.",
        "indicators": "The indicator rows reported: name, unit, target and actual value.",
        "submitted_at": "When the member last submitted it.",
        "review_note": "The secretariat's note of its last review.",
        "reviewed_at": "When the secretariat last reviewed it.",
        **_MOVES,
    }),
    Part("members", lambda m: {"_id": m}, {
        "status": "The member's status as the grants service last heard it.",
        "revision": "The revision of the member's record that this copy holds.",
        "updated_at": "When this copy last changed.",
    }),
]


def grants_store():
    return MongoStore(indexes=INDEXES)


def apply_guarded(tx, collection, guarded_update):
    """Apply a (filter, update) pair in `tx`; whether its filter matched (a
    guard that does not match writes nothing)."""
    guard, change = guarded_update
    return tx.db[collection].update_one(guard, change, session=tx.session).matched_count > 0


def member_allocations(tx, member_id, statuses):
    """The member's allocations in one of `statuses`, read in `tx`."""
    return list(tx.db.allocations.find({"member_id": member_id, "status": {"$in": sorted(statuses)}},
                                       session=tx.session))


def touch_member(tx, member_id):
    """Write the member's read-model document (a counter no one reads), so
    that a member event handled at the same time conflicts with this
    transaction (one is retried) instead of each missing the other's change."""
    tx.db.members.update_one({"_id": member_id}, {"$inc": {"touches": 1}}, session=tx.session)


def fits(counter, amount_cents, limit):
    """`$expr`: counter + amount <= limit, evaluated by the store on the document."""
    return {"$lte": [{"$add": [f"${counter}", Int64(amount_cents)]}, f"${limit}"]}


def transition_update(record, changes, entry):
    """(filter, update) applying a transition to `record` only while it is
    still in the status it was read in."""
    return ({"_id": record["_id"], "status": record["status"]},
            {"$set": changes, "$push": {"history": entry}})


def reservation_update(grant_id, statuses, amount_cents, now):
    """(filter, update) reserving amount on a grant in one of `statuses`, only
    if allocated + amount stays <= amount."""
    return ({"_id": grant_id, "status": {"$in": sorted(statuses)},
             "$expr": fits("allocated_cents", amount_cents, "amount_cents")},
            {"$inc": {"allocated_cents": Int64(amount_cents)}, "$set": {"updated_at": now}})


def release_update(grant_id, amount_cents, now):
    """(filter, update) freeing a reservation (never below zero)."""
    return ({"_id": grant_id, "allocated_cents": {"$gte": Int64(amount_cents)}},
            {"$inc": {"allocated_cents": Int64(-amount_cents)}, "$set": {"updated_at": now}})


def disbursement_update(allocation_id, status, amount_cents, now):
    """(filter, update) adding a disbursement to an allocation in `status`,
    only if disbursed + amount stays <= amount."""
    return ({"_id": allocation_id, "status": status,
             "$expr": fits("disbursed_cents", amount_cents, "amount_cents")},
            {"$inc": {"disbursed_cents": Int64(amount_cents)}, "$set": {"updated_at": now}})


def disbursed_total_update(grant_id, statuses, amount_cents, now):
    """(filter, update) adding a disbursement to its grant's total (grant in `statuses`)."""
    return ({"_id": grant_id, "status": {"$in": sorted(statuses)}},
            {"$inc": {"disbursed_cents": Int64(amount_cents)}, "$set": {"updated_at": now}})


def grouped(docs, key, ids, view):
    """{id: [view(doc), ...]} for every requested id (empty list if none), oldest first."""
    result = {i: [] for i in ids}
    for doc in sorted(docs, key=lambda d: d["_id"]):
        result.setdefault(doc[key], []).append(view(doc))
    return result
