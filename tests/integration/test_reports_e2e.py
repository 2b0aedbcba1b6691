"""Reports on allocations end to end through the gateway (DOMAIN.md section
10): schedule, submit, request changes, resubmit, accept; who sees which
report; every refusal with its code, each leaving the report as it was; two
submits at once; `overdue` computed at read time."""
import threading

import pytest

from tests.helpers.consultations import cast, close
from tests.helpers.grants import propose, wait_allocation, wait_consultation
from tests.helpers.reports import (
    OVERDUE, SCHEDULE, SUBMIT, allocation_reports, approved_allocation, close_grant, day,
    get_report, ok, refused, report_input, review, review_body, schedule, schedule_body, submit,
    submit_body, voting_pair)
from tests.support import announced

MEMBER_REPORTS = "query($id: ID!) { member(id: $id) { allocations { reports { id status } } } }"
CANCEL = "mutation($id: ID!, $r: String!) { cancelConsultation(id: $id, reason: $r) { status } }"


@pytest.fixture(scope="module")
def team(stack):
    """(beneficiary, another member): only they vote in this module's rounds."""
    return voting_pair(stack)


@pytest.fixture(scope="module")
def shared(stack, team):
    """(grant, allocation of 10000.00 USD to the beneficiary), APPROVED."""
    return approved_allocation(stack, team[0], "10000.00")


def events_of(stack, report_id):
    """The grants service's report events about `report_id`, by type, oldest first."""
    return [e["event_type"] for e in stack.db("grants").outbox.find(
        {"event_type": {"$regex": "^report_"}, "envelope.data.report_id": report_id}
    ).sort("created_at", 1)]


# ---- the whole life of a report -----------------------------------------------------------

def test_schedule_submit_request_changes_resubmit_accept(stack, team):
    beneficiary, _ = team
    g, a = approved_allocation(stack, beneficiary, "86454.20")
    due = day(30)
    r = schedule(stack, a["id"], due)
    assert (r["status"], r["dueOn"], r["overdue"]) == ("DUE", due, False)
    assert (r["narrative"], r["spent"], r["indicators"], r["submittedAt"]) == (None, None, [], None)
    assert r["allocation"]["id"] == a["id"] and r["allocation"]["member"]["id"] == beneficiary

    sent = submit(stack, r["id"], beneficiary, report_input(spent="86454.20"))
    assert sent["status"] == "SUBMITTED" and sent["submittedAt"] and sent["spent"] == "86454.20"
    assert [(i["name"], i["unit"], i["target"], i["actual"]) for i in sent["indicators"]] == [
        ("Lawyers trained", "people", "40", "40"),
        ("Campaign video views", "views", None, "150000"),
        ("Share of sites reporting", None, "12.5", "12.5")]
    # a write, then at once the reads that depend on it
    assert get_report(stack, r["id"], stack.member_token(beneficiary))["status"] == "SUBMITTED"
    assert [x["status"] for x in allocation_reports(stack, g["id"], a["id"])] == ["SUBMITTED"]

    note = "Please add the Q3 figures."
    back = review(stack, r["id"], False, note)
    assert (back["status"], back["reviewNote"]) == ("CHANGES_REQUESTED", note)
    seen = get_report(stack, r["id"], stack.member_token(beneficiary))
    assert (seen["status"], seen["reviewNote"]) == ("CHANGES_REQUESTED", note)

    again = submit(stack, r["id"], beneficiary, report_input(narrative="With the Q3 figures.",
                                                             spent="0", indicators=[]))
    assert (again["status"], again["narrative"], again["spent"], again["indicators"]) == \
        ("SUBMITTED", "With the Q3 figures.", "0.00", [])
    done = review(stack, r["id"], True)
    assert done["status"] == "ACCEPTED" and not done["overdue"]
    assert get_report(stack, r["id"])["status"] == "ACCEPTED"
    assert events_of(stack, r["id"]) == [
        "report_scheduled", "report_submitted", "report_changes_requested", "report_submitted",
        "report_accepted"]
    [changes] = announced(stack.db("grants"), "report_changes_requested", report_id=r["id"])
    assert changes["data"]["note"] == "Please add the Q3 figures."
    assert changes["data"]["member_id"] == beneficiary and changes["data"]["due_on"] == due
    # events carry no narrative, money or indicators
    assert "narrative" not in changes["data"] and "spent" not in changes["data"]


def test_who_sees_which_report(stack, team, shared):
    beneficiary, other = team
    g, a = shared
    accepted = schedule(stack, a["id"], day(20))
    submit(stack, accepted["id"], beneficiary)
    review(stack, accepted["id"], True, "Thank you.")
    due = schedule(stack, a["id"], day(40))
    both = {accepted["id"], due["id"]}
    for token in (stack.admin(), stack.member_token(beneficiary)):
        listed = [x["id"] for x in allocation_reports(stack, g["id"], a["id"], token)]
        assert [x for x in listed if x in both] == [accepted["id"], due["id"]]  # oldest first
        assert get_report(stack, due["id"], token)["status"] == "DUE"
        assert get_report(stack, accepted["id"], token)["reviewNote"] == "Thank you."
    # another member sees the accepted reports only
    theirs = allocation_reports(stack, g["id"], a["id"], stack.member_token(other))
    ids = {x["id"] for x in theirs}
    assert accepted["id"] in ids and due["id"] not in ids
    assert all(x["status"] == "ACCEPTED" for x in theirs)
    assert get_report(stack, due["id"], stack.member_token(other)) is None
    assert get_report(stack, accepted["id"], stack.member_token(other))["status"] == "ACCEPTED"
    # anonymous sees none
    assert allocation_reports(stack, g["id"], a["id"], None) == []
    assert get_report(stack, accepted["id"], None) is None
    assert get_report(stack, due["id"], None) is None
    assert get_report(stack, "no-such-report") is None
    assert get_report(stack, '{"$gt": ""}') is None
    # the same rule on every path to an allocation
    seen = stack.gql(MEMBER_REPORTS, {"id": beneficiary}, stack.member_token(other))["member"]
    reports = {x["id"]: x["status"] for al in seen["allocations"] for x in al["reports"]}
    assert accepted["id"] in reports and due["id"] not in reports
    assert set(reports.values()) <= {"ACCEPTED"}


# ---- refusals ---------------------------------------------------------------------------------

def unchanged(stack, report, status="DUE"):
    """The report is as it was: same status, nothing submitted by the refusal."""
    now = get_report(stack, report["id"])
    assert now["status"] == status and now["narrative"] == report["narrative"], now
    assert now["spent"] == report["spent"] and now["indicators"] == report["indicators"], now
    return now


def test_only_the_beneficiary_submits(stack, team, shared):
    beneficiary, other = team
    r = schedule(stack, shared[1]["id"], day(30))
    refused(submit_body(stack, r["id"], other), "FORBIDDEN")
    message, _ = refused(submit_body(stack, r["id"], token=stack.admin()), "FORBIDDEN")
    assert "member" in message.lower()
    anonymous = stack.post(SUBMIT, {"id": r["id"], "i": report_input()}).json()
    assert anonymous["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
    refused(submit_body(stack, "no-such-report", beneficiary), "NOT_FOUND")
    unchanged(stack, r)
    assert events_of(stack, r["id"]) == ["report_scheduled"]


def row(**overrides):
    """One IndicatorInput."""
    return {"name": "Reached", "unit": None, "target": None, "actual": "1", **overrides}


@pytest.mark.parametrize("overrides, field", [
    ({"spent": "10000.01"}, "spent"),
    ({"spent": "-1.00"}, "spent"),
    ({"spent": "1.005"}, "spent"),
    ({"narrative": ""}, "narrative"),
    ({"narrative": "   \n  "}, "narrative"),
    ({"narrative": "n" * 20001}, "narrative"),
    ({"indicators": [{"name": "Reached", "unit": None, "target": None, "actual": "1"},
                     {"name": "Trained", "unit": None, "target": None, "actual": "-1"}]},
     "indicators"),
    ({"indicators": [{"name": "Reached", "unit": None, "target": "-5", "actual": "1"}]},
     "indicators"),
    ({"indicators": [{"name": " ", "unit": None, "target": None, "actual": "1"}]}, "indicators"),
    ({"indicators": [row(actual="1.1234567")]}, "indicators"),        # 7 places
    ({"indicators": [row(actual="1" * 16)]}, "indicators"),           # 16 digits
    ({"indicators": [row(actual="1e5")]}, "indicators"),
    ({"indicators": [row(actual="NaN")]}, "indicators"),
    ({"indicators": [row(actual="Infinity")]}, "indicators"),
    ({"indicators": [row(actual="")]}, "indicators"),
    ({"indicators": [row(unit="u" * 51)]}, "indicators"),
    ({"indicators": [row(name="n" * 201)]}, "indicators"),
    ({"indicators": [row(name=f"Row {n}") for n in range(101)]}, "indicators"),
])
def test_bad_input_is_refused_on_its_field(stack, team, shared, overrides, field):
    beneficiary, _ = team
    r = schedule(stack, shared[1]["id"], day(30))
    message, fields = refused(submit_body(stack, r["id"], beneficiary, report_input(**overrides)),
                              "BAD_USER_INPUT", field)
    if overrides.get("spent") == "10000.01":
        assert "10000.00" in message + str(fields)  # says the allocation's amount
    if field == "indicators" and "Trained" in str(overrides):
        assert "Row 2" in message + str(fields)  # names the row
    unchanged(stack, r)


def test_spent_may_be_the_whole_allocation_and_not_a_float(stack, team, shared):
    beneficiary, _ = team
    r = schedule(stack, shared[1]["id"], day(30))
    code = submit_body(stack, r["id"], beneficiary, report_input(spent=2500.5))["errors"][0]
    assert code["extensions"]["code"] == "BAD_USER_INPUT"
    unchanged(stack, r)
    assert submit(stack, r["id"], beneficiary, report_input(spent="10000"))["spent"] == "10000.00"


def test_indicators_are_exact_and_at_their_limits(stack, team, shared):
    beneficiary, _ = team
    r = schedule(stack, shared[1]["id"], day(30))
    rows = [row(name="n" * 200, unit="u" * 50, target="999999999999999.999999",
                actual="0.000001"),
            row(name="Views", unit="", actual="150000"),
            *[row(name=f"Row {n}", actual="0") for n in range(98)]]
    sent = submit(stack, r["id"], beneficiary,
                  report_input(narrative="n" * 20000, spent="0.01", indicators=rows))
    first, second = sent["indicators"][:2]
    assert (first["target"], first["actual"]) == ("999999999999999.999999", "0.000001")
    assert (second["unit"], second["actual"]) == (None, "150000")  # an empty unit is none
    assert len(sent["indicators"]) == 100 and len(sent["narrative"]) == 20000
    assert get_report(stack, r["id"])["indicators"] == sent["indicators"]


def test_state_refusals_are_conflicts(stack, team, shared):
    beneficiary, other = team
    r = schedule(stack, shared[1]["id"], day(30))
    refused(review_body(stack, r["id"], True), "CONFLICT")  # DUE: nothing to review
    refused(review_body(stack, r["id"], False, "Why?"), "CONFLICT")
    sent = submit(stack, r["id"], beneficiary)
    refused(submit_body(stack, r["id"], beneficiary, report_input(narrative="Twice")), "CONFLICT")
    refused(review_body(stack, r["id"], True, token=stack.member_token(beneficiary)), "FORBIDDEN")
    refused(review_body(stack, r["id"], False, None), "BAD_USER_INPUT", "note")
    refused(review_body(stack, r["id"], False, "  "), "BAD_USER_INPUT", "note")
    refused(review_body(stack, r["id"], False, "x" * 5001), "BAD_USER_INPUT", "note")
    unchanged(stack, sent, "SUBMITTED")
    review(stack, r["id"], True)
    refused(review_body(stack, r["id"], True), "CONFLICT")  # ACCEPTED is final
    refused(submit_body(stack, r["id"], beneficiary), "CONFLICT")
    assert events_of(stack, r["id"]) == ["report_scheduled", "report_submitted", "report_accepted"]


def test_schedule_refusals(stack, team, shared):
    beneficiary, other = team
    g = shared[0]
    proposed = propose(stack, g["id"], beneficiary, "100.00")
    refused(schedule_body(stack, proposed["id"], day(30)), "CONFLICT")
    refused(schedule_body(stack, shared[1]["id"], day(30), stack.member_token(beneficiary)),
            "FORBIDDEN")
    refused(schedule_body(stack, "no-such-allocation", day(30)), "NOT_FOUND")
    refused(schedule_body(stack, '{"$gt": ""}', day(30)), "NOT_FOUND")
    body = stack.post(SCHEDULE, {"a": shared[1]["id"], "d": "2026-02-30"}, stack.admin()).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    # blocked, then cancelled: REJECTED, and still nothing to report on
    c = wait_consultation(stack, g["id"], proposed["id"])
    assert not cast(stack, c["id"], other, "BLOCK", "Not this year").get("errors")
    assert close(stack, c["id"])["outcome"] == "BLOCKED"
    ok(stack.post(CANCEL, {"id": c["id"], "r": "Test over"}, stack.admin()).json(),
       "cancelConsultation")
    wait_allocation(stack, g["id"], proposed["id"], "REJECTED")
    refused(schedule_body(stack, proposed["id"], day(30)), "CONFLICT")
    assert allocation_reports(stack, g["id"], proposed["id"]) == []


def race(stack, report_id, member_id):
    """The answers to two submitReport of the same report sent at the same moment."""
    start, answers = threading.Barrier(2), []

    def send(n):
        start.wait()
        answers.append(submit_body(stack, report_id, member_id,
                                   report_input(narrative=f"Writer {n}")))
    threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_two_submits_at_once_one_wins(stack, team, shared):
    beneficiary, _ = team
    for _ in range(3):
        r = schedule(stack, shared[1]["id"], day(30))
        answers = race(stack, r["id"], beneficiary)
        won = [b for b in answers if not b.get("errors")]
        lost = [b for b in answers if b.get("errors")]
        assert len(won) == 1 and len(lost) == 1, answers
        assert lost[0]["errors"][0]["extensions"]["code"] == "CONFLICT", lost
        stored = get_report(stack, r["id"])
        assert stored["status"] == "SUBMITTED"
        assert stored["narrative"] == won[0]["data"]["submitReport"]["narrative"]
        assert events_of(stack, r["id"]) == ["report_scheduled", "report_submitted"]


def test_two_reviews_at_once_one_wins(stack, team, shared):
    beneficiary, _ = team
    r = schedule(stack, shared[1]["id"], day(30))
    submit(stack, r["id"], beneficiary)
    start, answers = threading.Barrier(2), []

    def send(accept):
        start.wait()
        answers.append(review_body(stack, r["id"], accept, None if accept else "Changes."))
    threads = [threading.Thread(target=send, args=(accept,)) for accept in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    won = [b["data"]["reviewReport"] for b in answers if not b.get("errors")]
    lost = [b["errors"][0]["extensions"]["code"] for b in answers if b.get("errors")]
    assert len(won) == 1 and lost == ["CONFLICT"], answers
    assert get_report(stack, r["id"])["status"] == won[0]["status"]
    assert events_of(stack, r["id"])[2:] == [
        "report_accepted" if won[0]["status"] == "ACCEPTED" else "report_changes_requested"]


# ---- overdue ----------------------------------------------------------------------------------

def test_overdue_while_due_or_sent_back_and_past_its_date(stack, team, shared):
    beneficiary, _ = team
    late = schedule(stack, shared[1]["id"], day(-1))
    today = schedule(stack, shared[1]["id"], day(0))
    assert (late["status"], late["overdue"]) == ("DUE", True)
    assert today["overdue"] is False  # due today is not yet overdue
    listed = stack.gql(OVERDUE, None, stack.admin())["overdueReports"]
    assert late["id"] in {x["id"] for x in listed} and today["id"] not in {x["id"] for x in listed}
    assert all(x["overdue"] for x in listed)
    refused(stack.post(OVERDUE, None, stack.member_token(beneficiary)).json(), "FORBIDDEN")
    anonymous = stack.post(OVERDUE).json()
    assert anonymous["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")
    assert submit(stack, late["id"], beneficiary)["overdue"] is False
    listed = stack.gql(OVERDUE, None, stack.admin())["overdueReports"]
    assert late["id"] not in {x["id"] for x in listed}
    assert review(stack, late["id"], False, "Missing figures.")["overdue"] is True
    assert get_report(stack, late["id"], stack.member_token(beneficiary))["overdue"] is True
    submit(stack, late["id"], beneficiary)
    assert review(stack, late["id"], True)["overdue"] is False


def test_overdue_is_computed_when_read(stack, team, shared):
    """Time passes (the due date moves into the past in the store, as
    tomorrow's clock would see it): the next read says overdue."""
    r = schedule(stack, shared[1]["id"], day(1))
    assert r["overdue"] is False
    stored = stack.db("grants").reports.find_one({"_id": r["id"]})
    assert stored is not None and "overdue" not in stored
    stack.db("grants").reports.update_one({"_id": r["id"]}, {"$set": {"due_on": day(-1)}})
    assert get_report(stack, r["id"])["overdue"] is True
    listed = stack.gql(OVERDUE, None, stack.admin())["overdueReports"]
    assert r["id"] in {x["id"] for x in listed}


def test_reports_go_on_after_the_grant_closes(stack, team):
    """Final reports come after the end: a CLOSED grant's allocations still report."""
    beneficiary, _ = team
    g, a = approved_allocation(stack, beneficiary, "500.00")
    assert close_grant(stack, g["id"])["status"] == "CLOSED"
    r = schedule(stack, a["id"], day(-10))
    assert r["overdue"] is True
    submit(stack, r["id"], beneficiary, report_input(spent="500.00", indicators=[]))
    assert review(stack, r["id"], True)["status"] == "ACCEPTED"
