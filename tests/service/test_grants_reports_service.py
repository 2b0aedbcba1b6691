"""Reports, grant closing, budget lines and IATI in the grants service
(DOMAIN.md section 10) without the gateway: its entrypoints run in a nameko
container (tests/service/host.py) against the real store and broker, beside
the members service, which grants asks (members.get_many, over the broker)
for the names of the members an IATI export names. The member here is
registered through the members service; grants hears of it by its event.

Concurrent submits: the hosted service and a second instance of the
service's report entrypoints (in this process, on a client of its own to the
same database) submit one report at the same moment."""
import threading
import uuid

import pytest
from bson.decimal128 import Decimal128
from bson.int64 import Int64

from services.common.errors import BadUserInput, Conflict, Forbidden, NotFound
from services.common.store import Store, make_client, utcnow
from services.grants.report_service import ReportEntrypoints, moved
from tests.helpers.grants import grant_input, hosted_allocation, hosted_member
from tests.helpers.reports import budgets, participants, report_input, transactions, valid_iati
from tests.support import announced

HOSTED = ("members", "grants")
GOOD = {"narrative": "We trained 40 lawyers.", "spent": "86454.20",
        "indicators": [{"name": "Video views", "target": "150000", "actual": "150000"}]}


@pytest.fixture(scope="module")
def grants(host):
    return host.service("grants")


@pytest.fixture(scope="module")
def member(host, grants):
    """{id, name} of a member registered through the members service."""
    return hosted_member(host, grants)


@pytest.fixture(scope="module")
def allocation(grants, member):
    """An APPROVED allocation of 86454.20 USD to the member."""
    return hosted_allocation(grants, member["id"], "86454.20")[1]


@pytest.fixture
def second(stack, grants):
    """Another instance of the report entrypoints: the service's code in this
    process, on a client of its own to the hosted grants database."""
    client = make_client({"MONGO_URI": stack.env["MONGO_URI"]})
    instance = ReportEntrypoints()
    instance.store = Store(client, client[grants.db.name], "grants", {})
    yield instance
    client.close()


def report_events(grants, report_id):
    return [(d["event_type"], d["envelope"]["data"]) for d in
            grants.db.outbox.find({"envelope.data.report_id": report_id}).sort("created_at", 1)]


def unchanged(grants, report_id):
    """What a refused request must leave as it was."""
    return grants.db.reports.find_one({"_id": report_id}), grants.db.outbox.count_documents({})


# ---- the life of a report -----------------------------------------------------------

def test_schedule_submit_request_changes_resubmit_accept(grants, member, allocation):
    scheduled = grants.schedule_report(allocation["id"], "2016-12-31")
    rid = scheduled["id"]
    assert (scheduled["status"], scheduled["overdue"], scheduled["due_on"]) == \
        ("DUE", True, "2016-12-31")
    submitted = grants.submit_report(rid, member["id"], GOOD)
    assert (submitted["status"], submitted["overdue"], submitted["spent"]) == \
        ("SUBMITTED", False, "86454.20")
    assert submitted["indicators"] == [{"name": "Video views", "unit": None,
                                        "target": "150000", "actual": "150000"}]
    sent_back = grants.review_report(rid, False, "Add the receipts.")
    assert (sent_back["status"], sent_back["review_note"], sent_back["overdue"]) == \
        ("CHANGES_REQUESTED", "Add the receipts.", True)
    grants.submit_report(rid, member["id"], {**GOOD, "spent": "0"})
    accepted = grants.review_report(rid, True)
    assert accepted["status"] == "ACCEPTED" and accepted["reviewed_at"]
    assert [h["status"] for h in accepted["history"]] == [
        "DUE", "SUBMITTED", "CHANGES_REQUESTED", "SUBMITTED", "ACCEPTED"]
    events = report_events(grants, rid)
    assert [(kind, data["note"]) for kind, data in events] == [
        ("report_scheduled", None), ("report_submitted", None),
        ("report_changes_requested", "Add the receipts."), ("report_submitted", None),
        ("report_accepted", None)]
    assert events[0][1]["grant_title"] == grants.get(allocation["grant_id"])["title"]
    assert {events[0][1][k] for k in ("member_id", "allocation_id")} == \
        {member["id"], allocation["id"]}
    stored = grants.db.reports.find_one({"_id": rid})
    assert stored["status"] == "ACCEPTED" and stored["spent_cents"] == 0
    assert isinstance(stored["indicators"][0]["actual"], Decimal128)


@pytest.fixture(scope="module")
def submitted(grants, member, allocation):
    """A report SUBMITTED already: every refusal below comes before the CONFLICT."""
    rid = grants.schedule_report(allocation["id"], "2027-01-31")["id"]
    grants.submit_report(rid, member["id"], GOOD)
    return rid


@pytest.mark.parametrize("which, who, data, error", [
    ("unknown", None, {}, NotFound),                         # unknown first, whoever asks
    ("report", None, {}, Forbidden),                         # not a member
    ("report", "another", GOOD, Forbidden),                  # another member
    ("report", "own", {**GOOD, "narrative": " "}, BadUserInput),
    ("report", "own", {**GOOD, "spent": "86454.21"}, BadUserInput),
    ("report", "own", {**GOOD, "indicators": [{"name": "x", "actual": "-1"}]}, BadUserInput),
    ("report", "own", GOOD, Conflict),                       # last: it is SUBMITTED
])
def test_submit_refusals_come_in_order_and_change_nothing(grants, member, submitted, which, who,
                                                          data, error):
    report_id = submitted if which == "report" else uuid.uuid4().hex
    member_id = {"own": member["id"], "another": uuid.uuid4().hex, None: None}[who]
    before = unchanged(grants, submitted)
    with pytest.raises(error):
        grants.submit_report(report_id, member_id, data)
    assert unchanged(grants, submitted) == before


def test_a_second_submit_while_submitted_is_a_conflict(grants, member, allocation):
    rid = grants.schedule_report(allocation["id"], "2027-01-31")["id"]
    grants.submit_report(rid, member["id"], GOOD)
    with pytest.raises(Conflict, match="report is SUBMITTED"):
        grants.submit_report(rid, member["id"], GOOD)
    assert len(announced(grants.db, "report_submitted", report_id=rid)) == 1


def race(grants, second, report_id, member_id):
    """{writer: its answer or its Conflict} of two submits of the report at once."""
    start, answers = threading.Barrier(2), {}

    def send(writer, submit):
        start.wait()
        try:
            answers[writer] = submit(report_id, member_id, report_input(narrative=writer))
        except Conflict as refused:
            answers[writer] = refused
    threads = [threading.Thread(target=send, args=writer)
               for writer in (("hosted", grants.submit_report), ("second", second.submit_report))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return answers


def test_two_submits_at_once_one_wins_the_other_is_a_conflict(grants, second, member, allocation):
    for _ in range(5):
        rid = grants.schedule_report(allocation["id"], "2027-01-31")["id"]
        answers = race(grants, second, rid, member["id"])
        won = [w for w, a in answers.items() if not isinstance(a, Conflict)]
        assert len(won) == 1 and len(answers) == 2, answers
        stored = grants.db.reports.find_one({"_id": rid})
        assert (stored["status"], stored["narrative"]) == ("SUBMITTED", won[0])
        assert [h["status"] for h in stored["history"]] == ["DUE", "SUBMITTED"]
        assert len(announced(grants.db, "report_submitted", report_id=rid)) == 1


def test_a_submit_on_a_stale_read_finds_the_guard_changed(grants, second, member, allocation):
    """Both read the report DUE; the guarded update of the second finds it
    SUBMITTED already, and writes nothing."""
    rid = grants.schedule_report(allocation["id"], "2027-01-31")["id"]
    stale = grants.db.reports.find_one({"_id": rid})
    grants.submit_report(rid, member["id"], GOOD)
    before = unchanged(grants, rid)
    with pytest.raises(Conflict, match="changed meanwhile"):
        second.store.transaction(lambda tx: moved(tx, stale, "submit", {"updated_at": utcnow()}))
    assert unchanged(grants, rid) == before and before[0]["status"] == "SUBMITTED"


# ---- review and schedule refusals ---------------------------------------------------

def test_review_refusals(grants, allocation):
    rid = grants.schedule_report(allocation["id"], "2027-01-31")["id"]
    before = unchanged(grants, rid)
    with pytest.raises(Conflict, match="report is DUE"):
        grants.review_report(rid, True, None)
    with pytest.raises(BadUserInput) as refused:
        grants.review_report(rid, False, "")
    assert "note" in refused.value.fields
    with pytest.raises(NotFound):
        grants.review_report(uuid.uuid4().hex, True, None)
    assert unchanged(grants, rid) == before


def test_schedule_refusals(grants, member, allocation):
    before = grants.db.reports.count_documents({}), grants.db.outbox.count_documents({})
    with pytest.raises(BadUserInput) as refused:
        grants.schedule_report(allocation["id"], "31.12.2016")
    assert "dueOn" in refused.value.fields
    with pytest.raises(NotFound):
        grants.schedule_report(uuid.uuid4().hex, "2016-12-31")
    _, proposed = hosted_allocation(grants, member["id"], "10", approve=False)
    before = grants.db.reports.count_documents({}), grants.db.outbox.count_documents({})
    with pytest.raises(Conflict, match="PROPOSED"):
        grants.schedule_report(proposed["id"], "2016-12-31")
    assert (grants.db.reports.count_documents({}), grants.db.outbox.count_documents({})) == before


# ---- reads ----------------------------------------------------------------------------

def test_reads(grants, member):
    _, a1 = hosted_allocation(grants, member["id"], "100")
    first = grants.schedule_report(a1["id"], "2016-01-01")["id"]
    later = grants.schedule_report(a1["id"], "2027-01-31")["id"]
    got = grants.get_reports([later, "nope", first, {"$ne": 1}])
    assert [r["id"] for r in got] == [later, first]
    assert grants.get_reports(first) == []
    other = uuid.uuid4().hex
    grouped = grants.reports_by_allocations([a1["id"], other])
    assert [r["id"] for r in grouped[a1["id"]]] == [first, later] and grouped[other] == []
    assert grouped[a1["id"]][0]["overdue"] is True and grouped[a1["id"]][1]["overdue"] is False


def test_overdue_reports_the_longest_overdue_first(grants, member):
    """Overdue: DUE or CHANGES_REQUESTED and due before today (UTC); nothing
    else in this module is due before 2001."""
    _, a = hosted_allocation(grants, member["id"], "100")
    oldest = grants.schedule_report(a["id"], "2001-01-01")["id"]
    sent_back = grants.schedule_report(a["id"], "2001-03-01")["id"]
    grants.submit_report(sent_back, member["id"], {**GOOD, "spent": "1"})
    grants.review_report(sent_back, False, "Receipts, please.")
    waiting = grants.schedule_report(a["id"], "2001-02-01")["id"]
    grants.submit_report(waiting, member["id"], {**GOOD, "spent": "1"})     # SUBMITTED: not overdue
    not_yet = grants.schedule_report(a["id"], utcnow().date().isoformat())["id"]  # due today
    ids = [r["id"] for r in grants.overdue_reports()]
    assert [i for i in ids if i in (oldest, sent_back, waiting, not_yet)] == [oldest, sent_back]
    assert all(r["overdue"] for r in grants.overdue_reports(500))
    assert [r["id"] for r in grants.overdue_reports(1)] == [oldest]
    assert [r["id"] for r in grants.overdue_reports(0)] == [oldest]           # at least one
    assert len(grants.overdue_reports("all")) == len(grants.overdue_reports(True)) == len(ids)


# ---- closing a grant ----------------------------------------------------------------

def books(grants, grant_id):
    """Everything a refused request about the grant must leave as it was."""
    return {"grant": grants.db.grants.find_one({"_id": grant_id}),
            "disbursements": grants.db.disbursements.count_documents({"grant_id": grant_id}),
            "outbox": grants.db.outbox.count_documents({})}


def payment(allocation_id, amount="100", paid_on="2026-03-01"):
    return {"allocationId": allocation_id, "amount": amount, "paidOn": paid_on}


def test_an_active_grant_closes_and_takes_no_more_money_but_reports_go_on(grants, member):
    grant, a = hosted_allocation(grants, member["id"], "1000")
    grants.record_disbursement(payment(a["id"]))
    closed = grants.close_grant(grant["id"])
    assert (closed["status"], closed["disbursed"]) == ("CLOSED", "100.00") and closed["closed_at"]
    stored = grants.db.grants.find_one({"_id": grant["id"]})
    assert (stored["status"], stored["history"][-1]["status"]) == ("CLOSED", "CLOSED")
    (event,) = announced(grants.db, "grant_closed", grant_id=grant["id"])
    assert event["data"] == {"grant_id": grant["id"]}

    before = books(grants, grant["id"])
    with pytest.raises(Conflict, match="grant is CLOSED"):
        grants.record_disbursement(payment(a["id"]))
    with pytest.raises(Conflict, match="CLOSED"):
        grants.close_grant(grant["id"])
    assert books(grants, grant["id"]) == before

    rid = grants.schedule_report(a["id"], "2026-12-31")["id"]   # the final report
    grants.submit_report(rid, member["id"], {**GOOD, "spent": "100"})
    assert grants.review_report(rid, True)["status"] == "ACCEPTED"


def test_a_pipeline_or_unknown_grant_does_not_close(grants):
    grant = grants.create_grant(grant_input())
    before = books(grants, grant["id"])
    with pytest.raises(Conflict, match="PIPELINE"):
        grants.close_grant(grant["id"])
    with pytest.raises(NotFound):
        grants.close_grant(uuid.uuid4().hex)
    assert books(grants, grant["id"]) == before
    assert announced(grants.db, "grant_closed", grant_id=grant["id"]) == []


# ---- budget lines and sector ----------------------------------------------------------

LINES = [{"periodStart": "2017-01-01", "periodEnd": "2017-12-31", "amount": "485000"},
         {"periodStart": "2016-01-01", "periodEnd": "2016-12-31", "amount": "485000.5"}]
PERIOD = {"currency": "USD", "amount": "1455000", "startDate": "2016-01-01",
          "endDate": "2018-12-31"}


def test_budget_lines_are_stored_in_cents_sorted_with_the_sector(grants):
    created = grants.create_grant(grant_input(**PERIOD, sectorCode="12263", budgetLines=LINES))
    assert created["sector_code"] == "12263" and created["closed_at"] is None
    assert created["budget_lines"] == [
        {"period_start": "2016-01-01", "period_end": "2016-12-31", "amount": "485000.50"},
        {"period_start": "2017-01-01", "period_end": "2017-12-31", "amount": "485000.00"}]
    stored = grants.db.grants.find_one({"_id": created["id"]})
    assert stored["sector_code"] == "12263"
    assert stored["budget_lines"] == [
        {"period_start": "2016-01-01", "period_end": "2016-12-31", "amount_cents": 48500050},
        {"period_start": "2017-01-01", "period_end": "2017-12-31", "amount_cents": 48500000}]
    assert all(isinstance(line["amount_cents"], Int64) for line in stored["budget_lines"])
    plain = grants.create_grant(grant_input(sectorCode=None, budgetLines=None))
    assert (plain["sector_code"], plain["budget_lines"]) == ("13040", [])
    assert grants.db.grants.find_one({"_id": plain["id"]})["budget_lines"] == []


@pytest.mark.parametrize("overrides, field", [
    ({"budgetLines": [{**LINES[0], "amount": "1455000.01"}]}, "budgetLines"),   # over the grant
    ({"budgetLines": [LINES[0], {**LINES[1], "periodEnd": "2017-01-01"}]}, "budgetLines"),
    ({"budgetLines": [{**LINES[0], "periodEnd": "2019-01-01"}]}, "budgetLines"),
    ({"sectorCode": "1304"}, "sectorCode")])
def test_a_bad_budget_or_sector_is_refused_and_nothing_stored(grants, overrides, field):
    data = grant_input(**PERIOD, **overrides)
    outbox = grants.db.outbox.count_documents({})
    with pytest.raises(BadUserInput) as refused:
        grants.create_grant(data)
    assert field in refused.value.fields
    assert grants.db.grants.count_documents({"title": data["title"]}) == 0
    assert grants.db.outbox.count_documents({}) == outbox


# ---- IATI ------------------------------------------------------------------------------

def test_iati_many_is_a_valid_document_per_grant_naming_members_as_members_has_them(
        grants, member):
    grant, a = hosted_allocation(grants, member["id"], "86454.20", **PERIOD,
                                 sectorCode="12263", budgetLines=LINES)
    approved_on = utcnow().date().isoformat()
    grants.record_disbursement(payment(a["id"], "40000", "2016-03-01"))
    got = grants.iati_many([grant["id"], uuid.uuid4().hex, {"$ne": 1}])
    assert list(got) == [grant["id"]]
    (activity,) = valid_iati(got[grant["id"]]).findall("iati-activity")
    assert activity.findtext("iati-identifier").endswith(f"-{grant['id']}")
    assert activity.find("activity-status").get("code") == "2"
    assert activity.find("sector").get("code") == "12263"
    assert participants(activity, "4") == [(member["name"], "22")]   # an NGO
    assert transactions(activity, "2") == [
        ("86454.20", "USD", approved_on, approved_on, member["name"], "22")]
    assert transactions(activity, "3") == [
        ("40000.00", "USD", "2016-03-01", "2016-03-01", member["name"], "22")]
    assert [b[:3] for b in budgets(activity)] == [("2016-01-01", "2016-12-31", "485000.50"),
                                                  ("2017-01-01", "2017-12-31", "485000.00")]
    assert grants.iati_many([]) == {}


def test_iati_portfolio_holds_every_grant_oldest_first(grants, member):
    closed, _ = hosted_allocation(grants, member["id"], "10")
    grants.close_grant(closed["id"])
    hosted_allocation(grants, member["id"], "10", approve=False, activate=False)
    root = valid_iati(grants.iati_portfolio())
    identifiers = [a.findtext("iati-identifier") for a in root.findall("iati-activity")]
    every = sorted(g["_id"] for g in grants.db.grants.find({}, {"_id": 1}))
    assert len(identifiers) == len(every) and all(
        identifier.endswith(f"-{grant_id}") for identifier, grant_id in zip(identifiers, every))
    statuses = {a.findtext("iati-identifier"): a.find("activity-status").get("code")
                for a in root.findall("iati-activity")}
    assert statuses[identifiers[every.index(closed["id"])]] == "3"
