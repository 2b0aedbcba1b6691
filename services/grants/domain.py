"""Grant and allocation rules (DOMAIN.md section 3) as pure functions.

No I/O here: the service loads documents, asks these functions what may
happen and what it is called, writes the result and emits the returned
events. Amounts are integer cents (see money.py).

Invariants (the guarded updates in dependencies.py keep them under
concurrency):
- 0 <= allocated_cents <= amount_cents on a grant, where allocated_cents is
  the sum of its allocations that are RESERVING (PROPOSED, APPROVED or
  ON_HOLD): a reservation is taken when an allocation is proposed and freed
  only by the transition that ends it (reject);
- 0 <= disbursed_cents <= amount_cents on an allocation, and a grant's
  disbursed_cents is the sum of its allocations';
- money is recorded only on an APPROVED allocation of an ACTIVE grant, and
  proposed only on a PIPELINE or ACTIVE grant for an ACTIVE member;
- a grant goes PIPELINE -> ACTIVE -> CLOSED and never back; a CLOSED grant
  takes no allocation and no disbursement (its reports go on: reports.py).
"""
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from bson.int64 import Int64

from services.common.errors import Conflict
from services.common.lifecycle import Lifecycle, Transition, either, require_status
from services.common.records import found
from services.common.vocabulary import (DEFAULT_SECTOR_CODE, AllocationStatus,
                                        ConsultationKind, GrantStatus, MemberStatus, Outcome)
from services.grants import budget, money

Doc = dict[str, Any]

# ---- grants --------------------------------------------------------------

G, A = GrantStatus, AllocationStatus
GRANT_LIFECYCLE = Lifecycle.table("grant", [
    # action     from        to        event              it cannot ...   history note
    ("activate", {G.PIPELINE}, G.ACTIVE, "grant_activated", "be activated", "Activated"),
    ("close",    {G.ACTIVE},   G.CLOSED, "grant_closed",    "be closed",    "Closed"),
])

ALLOCATABLE_GRANT = frozenset({GrantStatus.PIPELINE, GrantStatus.ACTIVE})  # may get proposals
DISBURSABLE_GRANT = frozenset({GrantStatus.ACTIVE})  # disbursements may be recorded

# ---- allocations ---------------------------------------------------------

ALLOCATION_LIFECYCLE = Lifecycle.table("allocation", [
    # action    from          to           event                  it cannot ...  history note
    ("approve", {A.PROPOSED}, A.APPROVED,  "allocation_approved", "be approved", "Approved"),
    ("reject",  {A.PROPOSED}, A.REJECTED,  "allocation_rejected", "be rejected", "Rejected"),
    ("hold",    {A.APPROVED}, A.ON_HOLD,   "allocation_held",     "be held",     "Held"),
    ("release", {A.ON_HOLD},  A.APPROVED,  "allocation_released", "be released", "Released"),
])

# count in the grant's allocated total
RESERVING = frozenset({AllocationStatus.PROPOSED, AllocationStatus.APPROVED,
                       AllocationStatus.ON_HOLD})

# ---- members as grants sees them (its read model) ------------------------

# their APPROVED allocations go ON_HOLD
HOLDING_MEMBER = frozenset({MemberStatus.SUSPENDED, MemberStatus.WITHDRAWN})


class BooksOutOfBalance(RuntimeError):
    """A grant's counter does not hold what its allocations say it holds.

    Cannot happen while every change of a counter goes through a guarded
    update (dependencies.py) in the transaction that changes the allocation;
    if it does, the handler fails (retried, then dead-lettered for an
    operator) rather than write books that do not add up."""


# ---- grants --------------------------------------------------------------

def period_error(start_date: date | None, end_date: date | None) -> str | None:
    """The message for a bad period, or None."""
    if start_date is not None and end_date is not None and end_date < start_date:
        return "Must not be before startDate."
    return None


def new_grant(data: Mapping[str, Any], now: datetime) -> Doc:
    """A PIPELINE grant from validated input (amount already in cents)."""
    return {
        **{name: data[name] for name in ("title", "donor", "currency")},
        "amount_cents": Int64(data["amount_cents"]),
        "allocated_cents": Int64(0),
        "disbursed_cents": Int64(0),
        "start_date": data["start_date"].isoformat(),
        "end_date": data["end_date"].isoformat(),
        "sector_code": data.get("sector_code") or DEFAULT_SECTOR_CODE,
        "budget_lines": budget.stored_lines(data.get("budget_lines")),
        "closed_at": None,
        "status": GrantStatus.PIPELINE,
        "history": [{"at": now, "status": GrantStatus.PIPELINE, "note": "Created"}],
        "created_at": now,
        "updated_at": now,
    }


def closing_changes(changes: Doc) -> Doc:
    """A grant's close also keeps when (closed_at): the moment of its status change."""
    return {**changes, "closed_at": changes["updated_at"]}


def transition_changes(transition: Transition, now: datetime,
                       note: str | None = None) -> tuple[Doc, Doc]:
    """(changes to $set, history entry) of a grant or allocation moved by `transition`."""
    return {"status": transition.target, "updated_at": now}, Lifecycle.entry(transition, now, note)


def grant_transition(grant: Mapping[str, Any], action: str, now: datetime,
                     note: str | None = None) -> tuple[Doc, Doc, str]:
    """Return (changes to $set, history entry, event type) or raise Conflict."""
    step = GRANT_LIFECYCLE.step(grant["status"], action)
    changes, entry = transition_changes(step, now, note)
    return changes, entry, step.event


def available_cents(grant: Mapping[str, Any]) -> int:
    return int(grant["amount_cents"] - grant["allocated_cents"])


def check_grant_allocatable(grant: Doc | None, grant_id: object) -> Doc:
    """The grant, if allocations may be proposed on it; NotFound or Conflict."""
    grant = found(grant, "grant", grant_id)
    require_status(grant, "grant", ALLOCATABLE_GRANT, "allocations can only be proposed on")
    return grant


def reservation_refusal(grant: Mapping[str, Any], asked_cents: int) -> str:
    """The CONFLICT message when a reservation would exceed the grant."""
    currency = grant["currency"]
    available = max(available_cents(grant), 0)
    return (f"Only {money.with_currency(available, currency)} of this grant is available; "
            f"{money.render(asked_cents)} was asked.")


# ---- members -------------------------------------------------------------

def check_member_eligible(member: Doc | None, member_id: object) -> Doc:
    """The member, if an allocation may go to it: only to a member that
    grants knows to be ACTIVE. NotFound or Conflict."""
    member = found(member, "member", member_id)
    require_status(member, "member", {MemberStatus.ACTIVE}, "allocations can only be proposed to")
    return member


def member_effect(member_status: str | None) -> str | None:
    """What a member's (new) status does to its allocations: an allocation
    action ("hold" or "release") or None."""
    if member_status in HOLDING_MEMBER:
        return "hold"
    if member_status == MemberStatus.ACTIVE:
        return "release"
    return None


def member_effect_note(member_status: str, event_type: str, revision: int) -> str:
    """The history note of an allocation held or released by a member event."""
    return f"Member is {member_status} ({event_type}, revision {revision})"


# ---- allocations ---------------------------------------------------------

def new_allocation(data: Mapping[str, Any], grant: Mapping[str, Any], now: datetime) -> Doc:
    """A PROPOSED allocation from validated input, on `grant` (whose amount it reserves)."""
    return {
        "grant_id": grant["_id"],
        "member_id": data["member_id"],
        "currency": grant["currency"],
        "amount_cents": Int64(data["amount_cents"]),
        "disbursed_cents": Int64(0),
        "purpose": data["purpose"],
        "closes_at": data.get("closes_at"),
        "status": AllocationStatus.PROPOSED,
        "history": [{"at": now, "status": AllocationStatus.PROPOSED,
                     "note": "Proposed; amount reserved"}],
        "created_at": now,
        "updated_at": now,
    }


def allocation_step(status: str, action: str) -> Transition | None:
    """The transition if `action` may happen from `status`, else None.

    Never raises: events are applied by handlers, for which "the allocation
    has moved on" is a normal case to log, not an error to retry."""
    transition = ALLOCATION_LIFECYCLE[action]
    return transition if status in transition.sources else None


def after_round_closed(status: str, outcome: str, member_status: str | None) -> list[str]:
    """Actions, in order, that a closed GRANT_ALLOCATION round causes on an
    allocation in `status` whose member is `member_status` (None: unknown).

    ADOPTED approves a PROPOSED allocation, and holds it at once if its member
    is meanwhile SUSPENDED or WITHDRAWN. Other outcomes change nothing (the
    facilitator may start another round, or cancel)."""
    if outcome != Outcome.ADOPTED or allocation_step(status, "approve") is None:
        return []
    if member_effect(member_status) == "hold":
        return ["approve", "hold"]
    return ["approve"]


def after_cancelled(status: str) -> list[str]:
    """Actions a cancelled GRANT_ALLOCATION consultation causes: PROPOSED -> REJECTED."""
    return ["reject"] if allocation_step(status, "reject") is not None else []


def is_about_allocation(consultation: Mapping[str, Any]) -> bool:
    return consultation["kind"] == ConsultationKind.GRANT_ALLOCATION


def decided_allocation(closed: Mapping[str, Any]) -> bool:
    """Did a closed round decide an allocation (GRANT_ALLOCATION, ADOPTED)?
    Any other outcome leaves it PROPOSED (see after_round_closed)."""
    return is_about_allocation(closed) and closed["outcome"] == Outcome.ADOPTED


def adopted_note(closed: Mapping[str, Any]) -> str:
    return f"Consultation {closed['consultation_id']} adopted in round {closed['round']}"


def cancelled_note(cancelled: Mapping[str, Any]) -> str:
    return f"Consultation {cancelled['consultation_id']} cancelled: {cancelled['reason']}"


def releases_reservation(action: str) -> bool:
    """Does the action free the allocation's amount on the grant?"""
    return ALLOCATION_LIFECYCLE[action].target not in RESERVING


def check_disbursable(allocation: Doc | None, allocation_id: object,
                      grant: Doc | None) -> tuple[Doc, Doc]:
    """(allocation, grant) if money may be recorded on the allocation:
    APPROVED, on an ACTIVE grant. NotFound or Conflict."""
    allocation = found(allocation, "allocation", allocation_id)
    status = allocation["status"]
    if status == AllocationStatus.ON_HOLD:
        raise Conflict("This allocation is ON_HOLD because its member is suspended or has "
                       "withdrawn; no disbursement can be recorded until it is APPROVED again.")
    if status != AllocationStatus.APPROVED:
        raise Conflict(f"This allocation is {status}; disbursements can only be recorded on an "
                       f"allocation that is {AllocationStatus.APPROVED}.")
    if grant is None or grant["status"] not in DISBURSABLE_GRANT:
        grant_status = grant["status"] if grant else "unknown"
        raise Conflict(f"This allocation's grant is {grant_status}; disbursements can only be "
                       f"recorded on a grant that is {either(DISBURSABLE_GRANT)}.")
    return allocation, grant


def grant_no_longer_disbursable() -> str:
    """The CONFLICT message when the grant changed between the check and the write."""
    return f"This allocation's grant is no longer {either(DISBURSABLE_GRANT)}."


def remaining_cents(allocation: Mapping[str, Any]) -> int:
    return int(allocation["amount_cents"] - allocation["disbursed_cents"])


def disbursement_refusal(allocation: Mapping[str, Any], asked_cents: int) -> str:
    """The CONFLICT message when a disbursement would exceed the allocation."""
    remaining = max(remaining_cents(allocation), 0)
    return (f"Only {money.with_currency(remaining, allocation['currency'])} of this allocation "
            f"remains to be disbursed; {money.render(asked_cents)} was asked.")


def new_disbursement(data: Mapping[str, Any], allocation: Mapping[str, Any], now: datetime) -> Doc:
    """Money paid on `allocation` (validated input), filed under its grant and member too."""
    return {"allocation_id": allocation["_id"], "grant_id": allocation["grant_id"],
            "member_id": allocation["member_id"], "amount_cents": Int64(data["amount_cents"]),
            "paid_on": data["paid_on"].isoformat(), "reference": data.get("reference"),
            "recorded_at": now}


# ---- event payloads (services/common/events.py) -------------------------

def iso_utc(moment: datetime | None) -> str | None:
    """An aware datetime as ISO-8601 in UTC ("2026-11-22T10:00:00+00:00"), or None."""
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def grant_created_data(grant: Mapping[str, Any]) -> Doc:
    return {"grant_id": grant["_id"], "currency": grant["currency"],
            "amount": money.render(grant["amount_cents"])}


def grant_activated_data(grant: Mapping[str, Any]) -> Doc:
    return {"grant_id": grant["_id"]}


def grant_closed_data(grant: Mapping[str, Any]) -> Doc:
    return {"grant_id": grant["_id"]}


def allocation_proposed_data(allocation: Mapping[str, Any], grant: Mapping[str, Any]) -> Doc:
    return {
        "allocation_id": allocation["_id"],
        "grant_id": grant["_id"],
        "grant_title": grant["title"],
        "member_id": allocation["member_id"],
        "amount": money.render(allocation["amount_cents"]),
        "currency": grant["currency"],
        "purpose": allocation["purpose"],
        "closes_at": iso_utc(allocation.get("closes_at")),
    }


def allocation_changed_data(allocation: Mapping[str, Any], status: str,
                            grant_title: str | None) -> Doc:
    """An allocation's decision (approved, rejected, held, released), with
    what the beneficiary's notification says: the grant's title and the
    amount in the allocation's currency."""
    return {"allocation_id": allocation["_id"], "grant_id": allocation["grant_id"],
            "member_id": allocation["member_id"], "status": status,
            "grant_title": grant_title, "amount": money.render(allocation["amount_cents"]),
            "currency": allocation["currency"]}


def disbursement_recorded_data(disbursement: Mapping[str, Any], grant: Mapping[str, Any],
                               currency: str) -> Doc:
    """Money paid to the beneficiary (`member_id`) from `grant`, in `currency`
    (the allocation's, which is its grant's)."""
    return {"disbursement_id": disbursement["_id"], "allocation_id": disbursement["allocation_id"],
            "grant_id": disbursement["grant_id"], "amount": money.render(disbursement["amount_cents"]),
            "paid_on": disbursement["paid_on"], "member_id": disbursement["member_id"],
            "grant_title": grant["title"], "currency": currency}
