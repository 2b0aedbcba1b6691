"""Pure grant and allocation rules: transitions, the allocation state
machine, reactions to members and consultations, refusal messages."""
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import BadUserInput, Conflict, NotFound
from services.common.events import validate_data
from services.common.records import apply_newer
from services.common.validation import load
from services.common.vocabulary import AllocationStatus, GrantStatus, MemberStatus, Outcome
from services.grants import domain
from services.grants.schemas import AllocationInput

PIPELINE, ACTIVE, CLOSED = GrantStatus.PIPELINE, GrantStatus.ACTIVE, GrantStatus.CLOSED
PROPOSED, APPROVED = AllocationStatus.PROPOSED, AllocationStatus.APPROVED
REJECTED, ON_HOLD = AllocationStatus.REJECTED, AllocationStatus.ON_HOLD

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
MEMBER_STATUSES = list(MemberStatus)
OUTCOMES = list(Outcome)
ACTIONS = sorted(domain.ALLOCATION_LIFECYCLE.transitions)


def grant(**over):
    doc = {"_id": "g1", **domain.new_grant(
        {"title": "Robert Carr Fund 2026", "donor": "RCF", "currency": "USD",
         "amount_cents": 145500000, "start_date": date(2026, 1, 1), "end_date": date(2026, 12, 31)},
        NOW)}
    doc.update(over)
    return doc


def allocation(**over):
    doc = {"_id": "a1", **domain.new_allocation(
        {"member_id": "m1", "amount_cents": 500000, "purpose": "Community-led monitoring"},
        grant(), NOW)}
    doc.update(over)
    return doc


# ---- grants ------------------------------------------------------------------

def test_new_grant_is_pipeline_with_zero_counters():
    g = grant()
    assert g["status"] == PIPELINE
    assert (g["amount_cents"], g["allocated_cents"], g["disbursed_cents"]) == (145500000, 0, 0)
    assert (g["start_date"], g["end_date"]) == ("2026-01-01", "2026-12-31")
    assert domain.available_cents(g) == 145500000


def test_pipeline_grant_activates():
    changes, entry, event = domain.grant_transition(grant(), "activate", NOW)
    assert changes["status"] == ACTIVE and entry["status"] == ACTIVE
    assert event == "grant_activated"


@pytest.mark.parametrize("status", [ACTIVE, CLOSED])
def test_only_a_pipeline_grant_activates_and_the_conflict_names_the_status(status):
    with pytest.raises(Conflict, match=f"grant is {status}"):
        domain.grant_transition(grant(status=status), "activate", NOW)


def test_period_end_not_before_start():
    assert domain.period_error(date(2016, 1, 1), date(2016, 1, 1)) is None
    assert domain.period_error(date(2016, 1, 1), date(2017, 1, 1)) is None
    assert domain.period_error(date(2016, 1, 2), date(2016, 1, 1))


@pytest.mark.parametrize("status, ok", [(PIPELINE, True), (ACTIVE, True), (CLOSED, False)])
def test_allocations_on_pipeline_and_active_grants_only(status, ok):
    if ok:
        domain.check_grant_allocatable(grant(status=status), "g1")
    else:
        with pytest.raises(Conflict, match="grant is CLOSED"):
            domain.check_grant_allocatable(grant(status=status), "g1")


def test_unknown_grant_is_not_found_whatever_the_id():
    for some_id in ["nope", None, ""]:
        with pytest.raises(NotFound):
            domain.check_grant_allocatable(None, some_id)


def test_reservation_refusal_says_how_much_is_available():
    g = grant(amount_cents=1000000, allocated_cents=880000)
    assert domain.reservation_refusal(g, 500000) == (
        "Only 1200.00 USD of this grant is available; 5000.00 was asked.")


# ---- members -----------------------------------------------------------------

@pytest.mark.parametrize("status", ["CANDIDATE", "SUSPENDED", "WITHDRAWN", "REJECTED"])
def test_allocation_only_to_an_active_member(status):
    domain.check_member_eligible({"status": "ACTIVE"}, "m1")
    with pytest.raises(Conflict, match=f"member is {status}"):
        domain.check_member_eligible({"status": status}, "m1")


def test_unknown_member_is_not_found():
    with pytest.raises(NotFound):
        domain.check_member_eligible(None, "m1")


class ReadModel:
    """Just enough of a transaction on one collection for records.apply_newer."""

    def __init__(self, *docs):
        self.docs = {d["_id"]: dict(d) for d in docs}
        self.db, self.session = {"members": self}, None

    def update_one(self, query, update, session=None):
        doc = self.docs.get(query["_id"])
        matched = doc is not None and doc["revision"] < query["revision"]["$lt"]
        if matched:
            doc.update(update["$set"])
        return SimpleNamespace(matched_count=int(matched))

    def find_one(self, query, projection=None, session=None):
        return self.docs.get(query["_id"])

    def insert_one(self, doc, session=None):
        self.docs[doc["_id"]] = doc


def newer(stored, revision):
    return apply_newer(ReadModel(*stored), "members", "m1", revision, {"status": "ACTIVE"})


def test_only_newer_revisions_apply():
    assert newer([], 1)
    assert newer([{"_id": "m1", "revision": 2}], 3)
    assert not newer([{"_id": "m1", "revision": 3}], 3)
    assert not newer([{"_id": "m1", "revision": 3}], 2)


@pytest.mark.parametrize("status, effect", [
    ("SUSPENDED", "hold"), ("WITHDRAWN", "hold"), ("ACTIVE", "release"),
    ("CANDIDATE", None), ("REJECTED", None),
])
def test_member_effect(status, effect):
    assert domain.member_effect(status) == effect


# ---- the allocation state machine ---------------------------------------------

@pytest.mark.parametrize("status, action, result", [
    (PROPOSED, "approve", (APPROVED, "allocation_approved")),
    (PROPOSED, "reject", (REJECTED, "allocation_rejected")),
    (APPROVED, "hold", (ON_HOLD, "allocation_held")),
    (ON_HOLD, "release", (APPROVED, "allocation_released")),
])
def test_allowed_steps(status, action, result):
    step = domain.allocation_step(status, action)
    assert (step.target, step.event) == result


ALLOWED = {(PROPOSED, "approve"), (PROPOSED, "reject"), (APPROVED, "hold"), (ON_HOLD, "release")}


@pytest.mark.parametrize("status", list(AllocationStatus))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_other_step_is_refused_without_raising(status, action):
    if (status, action) not in ALLOWED:
        assert domain.allocation_step(status, action) is None


def test_rejected_is_final():
    assert all(domain.allocation_step(REJECTED, a) is None for a in ACTIONS)


def test_only_rejection_frees_the_reservation():
    assert {a for a in ACTIONS if domain.releases_reservation(a)} == {"reject"}


@given(st.lists(st.sampled_from(ACTIONS), max_size=30))
def test_any_sequence_of_actions_keeps_a_known_status_and_reservation_is_freed_once(actions):
    status, freed = PROPOSED, 0
    for action in actions:
        step = domain.allocation_step(status, action)
        if step is not None:
            status = step.target
            freed += domain.releases_reservation(action)
    assert status in list(AllocationStatus)
    assert freed == (1 if status == REJECTED else 0)
    assert (status in domain.RESERVING) == (status != REJECTED)


# ---- reactions to consultations ------------------------------------------------

def test_adopted_approves_a_proposed_allocation():
    assert domain.after_round_closed(PROPOSED, "ADOPTED", "ACTIVE") == ["approve"]
    assert domain.after_round_closed(PROPOSED, "ADOPTED", None) == ["approve"]


@pytest.mark.parametrize("member_status", ["SUSPENDED", "WITHDRAWN"])
def test_adopted_for_a_held_member_goes_straight_on_hold(member_status):
    assert domain.after_round_closed(PROPOSED, "ADOPTED", member_status) == ["approve", "hold"]


@pytest.mark.parametrize("outcome", ["BLOCKED", "NO_QUORUM", "NOT_ADOPTED"])
@pytest.mark.parametrize("member_status", MEMBER_STATUSES)
def test_other_outcomes_change_nothing(outcome, member_status):
    assert domain.after_round_closed(PROPOSED, outcome, member_status) == []


@pytest.mark.parametrize("status", [APPROVED, REJECTED, ON_HOLD])
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_outcome_on_an_allocation_that_moved_on_changes_nothing(status, outcome):
    assert domain.after_round_closed(status, outcome, "ACTIVE") == []


def test_cancel_rejects_only_a_proposed_allocation():
    assert domain.after_cancelled(PROPOSED) == ["reject"]
    for status in (APPROVED, REJECTED, ON_HOLD):
        assert domain.after_cancelled(status) == []


# ---- proposals and disbursements ---------------------------------------------------

def test_new_allocation_is_proposed_with_nothing_disbursed():
    a = allocation()
    assert a["status"] == PROPOSED and a["disbursed_cents"] == 0
    assert a["grant_id"] == "g1" and a["currency"] == "USD"


def test_closes_at_must_be_in_the_future():
    """A boundary rule (validation.Deadline), reported with the other fields."""
    base = {"grantId": "g1", "memberId": "m1", "amount": "10.00", "purpose": "p"}
    assert AllocationInput().load({**base, "closesAt": None})["closes_at"] is None
    soon = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert AllocationInput().load({**base, "closesAt": soon.isoformat()})["closes_at"] == soon
    for moment in (datetime.now(timezone.utc), NOW - timedelta(days=1)):
        with pytest.raises(BadUserInput) as info:
            load(AllocationInput(), {**base, "purpose": "", "closesAt": moment.isoformat()})
        assert info.value.fields["closesAt"] == ["Must be in the future."]
        assert "purpose" in info.value.fields


def test_disbursable_only_when_approved_on_an_active_grant():
    domain.check_disbursable(allocation(status=APPROVED), "a1", grant(status=ACTIVE))
    with pytest.raises(NotFound):
        domain.check_disbursable(None, "a1", None)
    with pytest.raises(Conflict, match="allocation is ON_HOLD"):
        domain.check_disbursable(allocation(status=ON_HOLD), "a1", grant(status=ACTIVE))
    for status in (PROPOSED, REJECTED):
        with pytest.raises(Conflict, match=f"allocation is {status}"):
            domain.check_disbursable(allocation(status=status), "a1", grant(status=ACTIVE))
    for status in (PIPELINE, CLOSED):
        with pytest.raises(Conflict, match=f"grant is {status}"):
            domain.check_disbursable(allocation(status=APPROVED), "a1", grant(status=status))


def test_disbursement_refusal_says_how_much_remains():
    a = allocation(amount_cents=500000, disbursed_cents=470000)
    assert domain.disbursement_refusal(a, 50000) == (
        "Only 300.00 USD of this allocation remains to be disbursed; 500.00 was asked.")


# ---- event payloads match the catalogue ------------------------------------------

def test_event_payloads_match_the_catalogue():
    g = grant()
    a = allocation(closes_at=datetime(2026, 2, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    proposed = domain.allocation_proposed_data(a, g)
    assert proposed["closes_at"] == "2026-02-01T10:00:00+00:00"
    assert proposed["amount"] == "5000.00"
    validate_data("allocation_proposed", proposed)
    validate_data("allocation_proposed", domain.allocation_proposed_data(allocation(), g))
    validate_data("grant_created", domain.grant_created_data(g))
    validate_data("grant_activated", domain.grant_activated_data(g))
    for status in (APPROVED, REJECTED, ON_HOLD):
        validate_data("allocation_approved", domain.allocation_changed_data(a, status, g["title"]))
    validate_data("allocation_held", domain.allocation_changed_data(a, ON_HOLD, None))
    d = {"_id": "d1", **domain.new_disbursement(
        {"amount_cents": 1, "paid_on": date(2026, 3, 1), "reference": None}, a, NOW)}
    validate_data("disbursement_recorded", domain.disbursement_recorded_data(d, g, "USD"))


def test_decisions_and_payments_say_what_the_beneficiary_is_told():
    """The notification of an allocation's decision or a payment names the
    grant, the amount (exact, two places) and the currency, and whom it is for."""
    g, a = grant(), allocation(amount_cents=123456)
    changed = domain.allocation_changed_data(a, APPROVED, g["title"])
    assert (changed["member_id"], changed["grant_title"], changed["amount"], changed["currency"]) \
        == ("m1", "Robert Carr Fund 2026", "1234.56", "USD")
    d = {"_id": "d1", **domain.new_disbursement(
        {"amount_cents": 5, "paid_on": date(2026, 3, 1), "reference": None}, a, NOW)}
    paid = domain.disbursement_recorded_data(d, g, a["currency"])
    assert (paid["member_id"], paid["grant_title"], paid["amount"], paid["currency"]) \
        == ("m1", "Robert Carr Fund 2026", "0.05", "USD")


# ---- closing a grant (issue 19) ------------------------------------------------

def test_an_active_grant_closes_and_says_when():
    changes, entry, event = domain.grant_transition(grant(status=ACTIVE), "close", NOW)
    assert (changes["status"], entry["status"], entry["note"], event) == \
        (CLOSED, CLOSED, "Closed", "grant_closed")
    assert domain.closing_changes(changes) == {"status": CLOSED, "updated_at": NOW,
                                               "closed_at": NOW}
    validate_data("grant_closed", domain.grant_closed_data(grant()))


@pytest.mark.parametrize("status", [PIPELINE, CLOSED])
def test_only_an_active_grant_closes(status):
    with pytest.raises(Conflict, match=f"This grant is {status}; it cannot be closed"):
        domain.grant_transition(grant(status=status), "close", NOW)


def test_a_closed_grant_takes_no_allocation_and_no_disbursement():
    with pytest.raises(Conflict, match="grant is CLOSED"):
        domain.check_grant_allocatable(grant(status=CLOSED), "g1")
    with pytest.raises(Conflict, match="grant is CLOSED"):
        domain.check_disbursable(allocation(status=APPROVED), "a1", grant(status=CLOSED))


def test_a_new_grant_has_the_default_sector_no_budget_lines_and_is_open():
    g = grant()
    assert (g["sector_code"], g["budget_lines"], g["closed_at"]) == ("13040", [], None)
