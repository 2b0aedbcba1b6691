"""Reports on allocations (DOMAIN.md section 10): the pure rules of
services/grants/reports.py and indicators.py. The entrypoints of
report_service.py (the order of the refusals, guarded transitions on the
real store, concurrent submits, the events) are tested on the real store in
tests/service/test_grants_reports_service.py."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import BadUserInput, Conflict, Forbidden, NotFound
from services.common.vocabulary import AllocationStatus, ReportStatus
from services.grants import domain, indicators, reports

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
DUE, SUBMITTED = ReportStatus.DUE, ReportStatus.SUBMITTED
ACCEPTED, CHANGES = ReportStatus.ACCEPTED, ReportStatus.CHANGES_REQUESTED


def allocation(status=AllocationStatus.APPROVED, cents=8645420):
    grant = {"_id": "g1", "currency": "USD"}
    doc = {"_id": "a1", **domain.new_allocation(
        {"member_id": "m1", "amount_cents": cents, "purpose": "Advocacy"}, grant, NOW)}
    doc["status"] = status
    return doc


def report(status=DUE, due_on=date(2027, 1, 31), **over):
    doc = {"_id": "r1", **reports.new_report(allocation(), "Robert Carr Fund 2016-2018", due_on,
                                             NOW), "status": status}
    doc.update(over)
    return doc


# ---- scheduling -----------------------------------------------------------------

def test_reports_are_scheduled_on_approved_allocations():
    assert reports.check_reportable(allocation(AllocationStatus.APPROVED), "a1")["_id"] == "a1"


@pytest.mark.parametrize("status", [AllocationStatus.PROPOSED, AllocationStatus.REJECTED,
                                    AllocationStatus.ON_HOLD])
def test_not_on_proposed_rejected_or_held_ones(status):
    with pytest.raises(Conflict, match=f"allocation is {status}.*that is APPROVED"):
        reports.check_reportable(allocation(status), "a1")
    with pytest.raises(NotFound):
        reports.check_reportable(None, "a1")


def test_a_new_report_is_due_and_copies_what_never_changes():
    r = report()
    assert (r["status"], r["due_on"], r["member_id"], r["grant_id"]) == \
        (DUE, "2027-01-31", "m1", "g1")
    assert (r["allocation_cents"], r["currency"], r["spent_cents"], r["indicators"]) == \
        (8645420, "USD", None, [])


# ---- transitions ----------------------------------------------------------------

@pytest.mark.parametrize("status, action, target, event", [
    (DUE, "submit", SUBMITTED, "report_submitted"),
    (CHANGES, "submit", SUBMITTED, "report_submitted"),
    (SUBMITTED, "accept", ACCEPTED, "report_accepted"),
    (SUBMITTED, "request_changes", CHANGES, "report_changes_requested")])
def test_allowed_transitions(status, action, target, event):
    assert reports.step(report(status), action, NOW, "why") == (
        {"status": target, "updated_at": NOW}, {"at": NOW, "status": target, "note": "why"}, event)


ALLOWED = {(DUE, "submit"), (CHANGES, "submit"), (SUBMITTED, "accept"),
           (SUBMITTED, "request_changes")}


@pytest.mark.parametrize("status", list(ReportStatus))
@pytest.mark.parametrize("action", ["submit", "accept", "request_changes"])
def test_every_other_transition_is_a_conflict_naming_the_status(status, action):
    if (status, action) in ALLOWED:
        return
    with pytest.raises(Conflict, match=f"This report is {status}"):
        reports.step(report(status), action, NOW)


@given(st.lists(st.sampled_from(["submit", "accept", "request_changes"]), max_size=20))
def test_any_sequence_ends_in_a_known_status_and_accepted_is_final(actions):
    status, accepted = DUE, False
    for action in actions:
        try:
            status = reports.step(report(status), action, NOW)[0]["status"]
        except Conflict:
            continue
        assert not accepted, "nothing moves an ACCEPTED report"
        accepted = status == ACCEPTED
    assert status in list(ReportStatus)


# ---- refusals -------------------------------------------------------------------

@pytest.mark.parametrize("member_id", [None, "m2", "", {"$ne": ""}])
def test_only_the_allocations_member_submits(member_id):
    with pytest.raises(Forbidden, match="Only the member that received the allocation"):
        reports.check_submitter(report(), member_id)
    reports.check_submitter(report(), "m1")


def test_spent_up_to_the_allocations_amount():
    reports.check_spent(report(), 0)
    reports.check_spent(report(), 8645420)
    with pytest.raises(BadUserInput) as refused:
        reports.check_spent(report(), 8645421)
    assert refused.value.fields == {
        "spent": ["Must not be more than the allocation's amount of 86454.20 USD."]}


# ---- overdue: computed when read ---------------------------------------------------

@pytest.mark.parametrize("status, due_on, overdue", [
    (DUE, TODAY - timedelta(days=1), True), (DUE, TODAY, False), (DUE, TODAY + timedelta(1), False),
    (CHANGES, TODAY - timedelta(days=30), True), (SUBMITTED, TODAY - timedelta(days=30), False),
    (ACCEPTED, TODAY - timedelta(days=30), False)])
def test_overdue_while_waiting_for_its_member_after_the_due_date(status, due_on, overdue):
    assert reports.is_overdue(report(status, due_on), TODAY) is overdue
    assert reports.view(report(status, due_on), TODAY)["overdue"] is overdue


def test_overdue_query_matches_what_is_overdue():
    assert reports.overdue_query(TODAY) == {"status": {"$in": ["DUE", "CHANGES_REQUESTED"]},
                                            "due_on": {"$lt": "2026-12-04"}}


# ---- indicators: exact decimals ------------------------------------------------------

@pytest.mark.parametrize("text, shown", [
    ("150000", "150000"), ("12.5", "12.5"), ("12.50", "12.5"), ("0", "0"), ("0.000", "0"),
    ("007.25", "7.25"), (" 3 ", "3"), (42, "42"), ("999999999999999.999999", "999999999999999.999999"),
    ("0.000001", "0.000001"), ("100.100", "100.1")])
def test_indicator_values_are_exact_and_read_back_plain(text, shown):
    value = indicators.stored(indicators.parse(text))
    assert isinstance(value, Decimal128)
    assert indicators.render(value) == shown
    assert value.to_decimal() == Decimal(shown)


@pytest.mark.parametrize("value, words", [
    ("-1", "must not be negative"), ("-0", "must not be negative"), (1.5, "exact number"),
    (True, "exact number"), ("1e3", "no sign, exponent"), ("NaN", "decimal number"),
    ("Infinity", "decimal number"), ("1,000", "decimal number"), ("+1", "decimal number"),
    ("1234567890123456", "15 digits before"), ("0.1234567", "6 digits after"),
    ("", "decimal number"), ({"$gt": 0}, "written as text"), ("\u0661", "decimal number")])
def test_indicator_values_refused(value, words):
    with pytest.raises(indicators.InvalidDecimal, match=words):
        indicators.parse(value)


def test_rows_name_each_bad_row_and_optional_parts_are_none():
    rows, messages = indicators.rows([{"name": "Lawyers trained", "actual": "40"},
                                      {"name": "Views", "unit": " views ", "target": "150000",
                                       "actual": "150000"}])
    assert messages == [] and rows[0] == {"name": "Lawyers trained", "unit": None,
                                          "target": None, "actual": Decimal128("40")}
    assert indicators.view(rows[1]) == {"name": "Views", "unit": "views", "target": "150000",
                                        "actual": "150000"}
    assert indicators.rows([1, {"name": "x", "actual": "1", "colour": "red"}])[1] == [
        "Row 1: must be an object with name, unit, target and actual.",
        "Row 2: colour is not a field of an indicator."]
    assert indicators.rows([{"name": "x", "actual": "1"}] * 101)[1] == ["At most 100 indicators."]


def test_indicator_text_that_is_not_text_is_refused():
    """A control character (which no XML, CSV or mail carries) is refused in
    a name or unit, as in every other text (validation.NOT_TEXT)."""
    assert indicators.rows([{"name": "Lawyers\x00trained", "actual": "1"},
                            {"name": "Views", "unit": "a\x1bb", "actual": "1"}])[1] == [
        "Row 1: name must not contain control characters.",
        "Row 2: unit must not contain control characters."]
