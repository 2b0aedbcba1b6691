"""Grant and allocation rules (DOMAIN.md section 3) as pure functions.

No I/O here: the service loads documents, asks these functions what may
happen and what it is called, writes the result and emits the returned
events. Amounts are integer cents (see money.py).
"""
from datetime import timezone

from bson.int64 import Int64

from services.common.errors import BadUserInput, Conflict, NotFound
from services.grants import money

# ---- grants --------------------------------------------------------------

PIPELINE, ACTIVE, CLOSED = "PIPELINE", "ACTIVE", "CLOSED"
GRANT_STATUSES = [PIPELINE, ACTIVE, CLOSED]

# action -> (statuses it may start from, resulting status, event it announces)
GRANT_TRANSITIONS = {
    "activate": ({PIPELINE}, ACTIVE, "grant_activated"),
}
GRANT_ACTION_WORDS = {"activate": "activated"}

ALLOCATABLE_GRANT = {PIPELINE, ACTIVE}   # allocations may be proposed
DISBURSABLE_GRANT = {ACTIVE}             # disbursements may be recorded

# ---- allocations ---------------------------------------------------------

PROPOSED, APPROVED, REJECTED, ON_HOLD = "PROPOSED", "APPROVED", "REJECTED", "ON_HOLD"
ALLOCATION_STATUSES = [PROPOSED, APPROVED, REJECTED, ON_HOLD]
RESERVING = {PROPOSED, APPROVED, ON_HOLD}  # count in the grant's allocated total

ALLOCATION_TRANSITIONS = {
    "approve": ({PROPOSED}, APPROVED, "allocation_approved"),
    "reject": ({PROPOSED}, REJECTED, "allocation_rejected"),
    "hold": ({APPROVED}, ON_HOLD, "allocation_held"),
    "release": ({ON_HOLD}, APPROVED, "allocation_released"),
}

# ---- members as grants sees them (its read model) ------------------------

MEMBER_ACTIVE = "ACTIVE"
HOLDING_MEMBER = {"SUSPENDED", "WITHDRAWN"}  # their APPROVED allocations go ON_HOLD

GRANT_ALLOCATION = "GRANT_ALLOCATION"
ADOPTED = "ADOPTED"


# ---- grants --------------------------------------------------------------

def not_found(kind, some_id):
    """NotFound for an id that names nothing (whatever its shape)."""
    named = f" {some_id!r}" if isinstance(some_id, str) and some_id else ""
    return NotFound(f"No {kind} with id{named}." if named else f"No {kind} with this id.")


def period_error(start_date, end_date):
    """The message for a bad period, or None. Dates are datetime.date."""
    if start_date is not None and end_date is not None and end_date < start_date:
        return "Must not be before startDate."
    return None


def new_grant(data, now):
    """A PIPELINE grant from validated input (amount already in cents)."""
    return {
        "title": data["title"],
        "donor": data["donor"],
        "currency": data["currency"],
        "amount_cents": Int64(data["amount_cents"]),
        "allocated_cents": Int64(0),
        "disbursed_cents": Int64(0),
        "start_date": data["start_date"].isoformat(),
        "end_date": data["end_date"].isoformat(),
        "status": PIPELINE,
        "history": [{"at": now, "status": PIPELINE, "note": "Created"}],
        "created_at": now,
        "updated_at": now,
    }


def grant_transition(grant, action, now, note=None):
    """Return (changes to $set, history entry, event type) or raise Conflict."""
    sources, target, event = GRANT_TRANSITIONS[action]
    status = grant["status"]
    if status not in sources:
        raise Conflict(f"This grant is {status}; it cannot be {GRANT_ACTION_WORDS[action]} "
                       f"(only a grant that is {' or '.join(sorted(sources))} can).")
    entry = {"at": now, "status": target, "note": note or GRANT_ACTION_WORDS[action].capitalize()}
    return {"status": target, "updated_at": now}, entry, event


def available_cents(grant):
    return grant["amount_cents"] - grant["allocated_cents"]


def check_grant_allocatable(grant, grant_id):
    if grant is None:
        raise not_found("grant", grant_id)
    if grant["status"] not in ALLOCATABLE_GRANT:
        raise Conflict(f"This grant is {grant['status']}; allocations can only be proposed on a "
                       f"grant that is {' or '.join(sorted(ALLOCATABLE_GRANT))}.")


def reservation_refusal(grant, asked_cents):
    """The CONFLICT message when a reservation would exceed the grant."""
    currency = grant["currency"]
    available = max(available_cents(grant), 0)
    return (f"Only {money.with_currency(available, currency)} of this grant is available; "
            f"{money.render(asked_cents)} was asked.")


# ---- members -------------------------------------------------------------

def check_member_eligible(member, member_id):
    """An allocation goes only to a member that grants knows to be ACTIVE."""
    if member is None:
        raise not_found("member", member_id)
    if member["status"] != MEMBER_ACTIVE:
        raise Conflict(f"This member is {member['status']}; allocations can only be proposed to a "
                       f"member that is {MEMBER_ACTIVE}.")


def is_newer(stored, revision):
    """Apply a member event only if it is newer than what the read model holds."""
    return stored is None or revision > stored.get("revision", 0)


def member_effect(member_status):
    """What a member's (new) status does to its allocations: an allocation
    action ("hold" or "release") or None."""
    if member_status in HOLDING_MEMBER:
        return "hold"
    if member_status == MEMBER_ACTIVE:
        return "release"
    return None


# ---- allocations ---------------------------------------------------------

def check_closes_at(closes_at, now):
    if closes_at is not None and closes_at <= now:
        raise BadUserInput("closesAt must be in the future.", {"closesAt": ["Must be in the future."]})


def new_allocation(data, grant, now):
    """A PROPOSED allocation from validated input, on `grant` (whose amount it reserves)."""
    return {
        "grant_id": grant["_id"],
        "member_id": data["member_id"],
        "currency": grant["currency"],
        "amount_cents": Int64(data["amount_cents"]),
        "disbursed_cents": Int64(0),
        "purpose": data["purpose"],
        "closes_at": data.get("closes_at"),
        "status": PROPOSED,
        "history": [{"at": now, "status": PROPOSED, "note": "Proposed; amount reserved"}],
        "created_at": now,
        "updated_at": now,
    }


def allocation_step(status, action):
    """(resulting status, event) if `action` may happen from `status`, else None.

    Never raises: events are applied by handlers, for which "the allocation
    has moved on" is a normal case to log, not an error to retry."""
    sources, target, event = ALLOCATION_TRANSITIONS[action]
    return (target, event) if status in sources else None


def after_round_closed(status, outcome, member_status):
    """Actions, in order, that a closed GRANT_ALLOCATION round causes on an
    allocation in `status` whose member is `member_status` (None: unknown).

    ADOPTED approves a PROPOSED allocation, and holds it at once if its member
    is meanwhile SUSPENDED or WITHDRAWN. Other outcomes change nothing (the
    facilitator may start another round, or cancel)."""
    if outcome != ADOPTED or allocation_step(status, "approve") is None:
        return []
    if member_effect(member_status) == "hold":
        return ["approve", "hold"]
    return ["approve"]


def after_cancelled(status):
    """Actions a cancelled GRANT_ALLOCATION consultation causes: PROPOSED -> REJECTED."""
    return ["reject"] if allocation_step(status, "reject") is not None else []


def releases_reservation(action):
    """Does the action free the allocation's amount on the grant?"""
    return ALLOCATION_TRANSITIONS[action][1] not in RESERVING


def check_disbursable(allocation, allocation_id, grant):
    if allocation is None:
        raise not_found("allocation", allocation_id)
    status = allocation["status"]
    if status == ON_HOLD:
        raise Conflict("This allocation is ON_HOLD because its member is suspended or has "
                       "withdrawn; no disbursement can be recorded until it is APPROVED again.")
    if status != APPROVED:
        raise Conflict(f"This allocation is {status}; disbursements can only be recorded on an "
                       f"allocation that is {APPROVED}.")
    if grant is None or grant["status"] not in DISBURSABLE_GRANT:
        grant_status = grant["status"] if grant else "unknown"
        raise Conflict(f"This allocation's grant is {grant_status}; disbursements can only be "
                       f"recorded on a grant that is {' or '.join(sorted(DISBURSABLE_GRANT))}.")


def remaining_cents(allocation):
    return allocation["amount_cents"] - allocation["disbursed_cents"]


def disbursement_refusal(allocation, asked_cents):
    """The CONFLICT message when a disbursement would exceed the allocation."""
    remaining = max(remaining_cents(allocation), 0)
    return (f"Only {money.with_currency(remaining, allocation['currency'])} of this allocation "
            f"remains to be disbursed; {money.render(asked_cents)} was asked.")


def new_disbursement(data, allocation, now):
    return {
        "allocation_id": allocation["_id"],
        "grant_id": allocation["grant_id"],
        "member_id": allocation["member_id"],
        "amount_cents": Int64(data["amount_cents"]),
        "paid_on": data["paid_on"].isoformat(),
        "reference": data.get("reference"),
        "recorded_at": now,
    }


# ---- event payloads (services/common/events.py) -------------------------

def iso_utc(moment):
    """An aware datetime as ISO-8601 in UTC ("2026-11-22T10:00:00+00:00"), or None."""
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def grant_created_data(grant):
    return {"grant_id": grant["_id"], "currency": grant["currency"],
            "amount": money.render(grant["amount_cents"])}


def grant_activated_data(grant):
    return {"grant_id": grant["_id"]}


def allocation_proposed_data(allocation, grant):
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


def allocation_changed_data(allocation, status):
    return {"allocation_id": allocation["_id"], "grant_id": allocation["grant_id"],
            "member_id": allocation["member_id"], "status": status}


def disbursement_recorded_data(disbursement):
    return {"disbursement_id": disbursement["_id"], "allocation_id": disbursement["allocation_id"],
            "grant_id": disbursement["grant_id"], "amount": money.render(disbursement["amount_cents"]),
            "paid_on": disbursement["paid_on"]}
