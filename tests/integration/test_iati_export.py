"""IATI 2.03 exports (DOMAIN.md section 10) through the gateway and the
operator CLI: Grant.iatiXml of a PIPELINE, an ACTIVE and a CLOSED grant, with
and without allocations, disbursements and budget lines, each validated with
lxml against the official schema (../shared/iati/) and spot-checked for its
codes; the whole portfolio in one document; a grant's CSV exports."""
import csv
import io
import uuid

import pytest

from tests.helpers.grants import (
    CREATE, approve, create_grant, disburse_body, get_allocation, grant_input, propose,
    wait_allocation)
from tests.helpers.reports import (
    CLOSE_GRANT, IATI, activity_dates, approved_allocation, budgets, close_grant, day, grant_iati,
    narrative, ok, participants, refused, report_input, review, run_cli, schedule, schedule_body,
    submit, transactions, unique_title, valid_iati)
from tests.support import founders, isolate_voters, member_input, wait_read_models

REF = "XX-DEV-COALITION"  # COALITION_IATI_REF's development default: the test stack sets none
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GRANTS = """query($after: String) { grants(first: 5, after: $after) {
    edges { node { id iatiXml } } pageInfo { hasNextPage endCursor } } }"""
FORMULA = '=HYPERLINK("http://evil.example","click")'


def register(stack, org_type, name=None):
    """(id, name) of a new founding member of `org_type`, known to every read model."""
    with stack.rpc() as rpc:
        m = rpc.members.register_founding_member(member_input(name, orgType=org_type))
    wait_read_models(stack, m["id"], can_vote=True)
    return m["id"], m["name"]


@pytest.fixture(scope="module")
def orgs(stack):
    """Members of three IATI organisation types, and one voter of our own."""
    isolate_voters(stack)
    made = {t: register(stack, t) for t in ("REGIONAL_NETWORK", "NGO")}
    # a name the XML must escape, in Cyrillic: written as it is, never as markup
    made["COMMUNITY_ORGANISATION"] = register(
        stack, "COMMUNITY_ORGANISATION", f"Тайс Плюс & <Бишкек> {uuid.uuid4().hex[:6]}")
    founders(stack, 1)
    return made


@pytest.fixture(scope="module")
def active(stack, orgs):
    """An ACTIVE EUR grant with budget lines, two APPROVED allocations (one
    with two disbursements) and one PROPOSED."""
    lines = [{"periodStart": "2027-01-01", "periodEnd": "2027-12-31", "amount": "40000"},
             {"periodStart": "2026-01-01", "periodEnd": "2026-12-31", "amount": "60000.5"}]
    g, paid = approved_allocation(stack, orgs["REGIONAL_NETWORK"][0], "30000.50",
                                  title=unique_title("IATI active"), currency="EUR",
                                  amount="100000.50", sectorCode="15160", budgetLines=lines)
    kept = propose(stack, g["id"], orgs["COMMUNITY_ORGANISATION"][0], "2000")
    kept = approve(stack, g["id"], kept["id"])
    waiting = propose(stack, g["id"], orgs["NGO"][0], "1000")
    for amount, paid_on in (("10000", "2026-03-01"), ("5000.25", "2026-06-30")):
        ok(disburse_body(stack, paid["id"], amount, paid_on, reference="Q"), "recordDisbursement")
    return g, paid, kept, waiting


def closing(stack, grant_id, token=None):
    """The answer to a closeGrant (by the ADMIN unless `token`)."""
    return stack.post(CLOSE_GRANT, {"id": grant_id}, token or stack.admin()).json()


def common_checks(activity, grant, status_code):
    """What every export of `grant` says, whatever its state."""
    assert activity.get("default-currency") == grant["currency"]
    assert activity.get(XML_LANG) == "en" and activity.get("last-updated-datetime")
    assert activity.findtext("iati-identifier") == f"{REF}-{grant['id']}"
    reporting = activity.find("reporting-org")
    assert (reporting.get("ref"), reporting.get("type")) == (REF, "21")
    assert narrative(reporting) == "Coalition (development)"
    assert narrative(activity.find("title")) == grant["title"]
    assert activity.find("activity-status").get("code") == status_code
    assert activity_dates(activity) == {"2": grant["startDate"], "3": grant["endDate"]}
    assert [name for name, _ in participants(activity, "1")] == [grant["donor"]]


def test_a_pipeline_grant_without_allocations(stack):
    g = create_grant(stack, title=unique_title('IATI <pipeline> & "R&D"'), currency="USD",
                     amount="1455000", startDate="2016-01-01", endDate="2018-12-31",
                     donor="Robert Carr civil society Networks Fund (RCNF)")
    root, activity = grant_iati(stack, g["id"])
    common_checks(activity, g, "1")
    assert participants(activity, "4") == [] and activity.findall("transaction") == []
    [sector] = activity.findall("sector")
    assert (sector.get("code"), sector.get("vocabulary")) == ("13040", "1")
    # no budget lines: one budget for the whole period, original and indicative
    assert budgets(activity) == [("2016-01-01", "2018-12-31", "1455000.00", "USD", "1", "1")]
    # a grant's page is public, and so is its IATI file
    _, seen = grant_iati(stack, g["id"], None)
    assert seen.findtext("iati-identifier") == f"{REF}-{g['id']}"


def test_an_active_grant_with_allocations_disbursements_and_budget_lines(stack, orgs, active):
    g, paid, kept, waiting = active
    g = {**g, "status": "ACTIVE"}
    _, activity = grant_iati(stack, g["id"])
    common_checks(activity, g, "2")
    assert activity.find("sector").get("code") == "15160"
    assert budgets(activity) == [
        ("2026-01-01", "2026-12-31", "60000.50", "EUR", "1", "1"),
        ("2027-01-01", "2027-12-31", "40000.00", "EUR", "1", "1")]
    regional, community = orgs["REGIONAL_NETWORK"][1], orgs["COMMUNITY_ORGANISATION"][1]
    # implementing: the members with an APPROVED allocation, never a PROPOSED one's
    assert sorted(participants(activity, "4")) == sorted([(regional, "23"), (community, "24")])
    assert orgs["NGO"][1] not in {name for name, _ in participants(activity, "4")}
    commitments = transactions(activity, "2")
    assert sorted((t[0], t[1], t[3], t[4], t[5]) for t in commitments) == sorted([
        ("30000.50", "EUR", day(0), regional, "23"), ("2000.00", "EUR", day(0), community, "24")])
    assert [(t[0], t[1], t[3], t[4], t[5]) for t in transactions(activity, "3")] == [
        ("10000.00", "EUR", "2026-03-01", regional, "23"),
        ("5000.25", "EUR", "2026-06-30", regional, "23")]
    assert all(len(t[2] or "") == 10 for t in commitments + transactions(activity, "3"))
    assert get_allocation(stack, g["id"], waiting["id"])["status"] == "PROPOSED"


def test_a_closed_grant_and_a_held_allocation_stay_committed(stack, orgs):
    held_member = founders(stack, 1)[0]
    g, a = approved_allocation(stack, held_member["id"], "1200.00",
                               title=unique_title("IATI closed"), amount="5000")
    refused(closing(stack, g["id"], stack.member_token(held_member["id"])), "FORBIDDEN")
    ok(disburse_body(stack, a["id"], "700", "2026-02-01"), "recordDisbursement")
    with stack.rpc() as rpc:
        rpc.members.withdraw_membership(held_member["id"], "a held allocation")
    wait_allocation(stack, g["id"], a["id"], "ON_HOLD")
    # no report is scheduled on a held allocation (its member can no longer write it)
    refused(schedule_body(stack, a["id"], day(5)), "CONFLICT")
    assert close_grant(stack, g["id"])["status"] == "CLOSED"
    refused(closing(stack, g["id"]), "CONFLICT")
    refused(disburse_body(stack, a["id"], "1", "2026-03-01"), "CONFLICT")
    _, activity = grant_iati(stack, g["id"])
    common_checks(activity, {**g, "status": "CLOSED"}, "3")
    assert [t[0] for t in transactions(activity, "2")] == ["1200.00"]
    assert [(t[0], t[3]) for t in transactions(activity, "3")] == [("700.00", "2026-02-01")]
    assert [name for name, _ in participants(activity, "4")] == [held_member["name"]]


def test_closing_a_pipeline_grant_is_a_conflict(stack):
    g = create_grant(stack, title=unique_title("IATI never active"))
    refused(closing(stack, g["id"]), "CONFLICT")
    _, activity = grant_iati(stack, g["id"])
    assert activity.find("activity-status").get("code") == "1"


def test_each_grant_of_a_page_has_its_own_activity(stack, active):
    after, seen = None, 0
    while seen < 15:
        page = stack.gql(GRANTS, {"after": after}, stack.admin())["grants"]
        for edge in page["edges"]:
            root = valid_iati(edge["node"]["iatiXml"])
            [identifier] = [a.findtext("iati-identifier") for a in root.findall("iati-activity")]
            assert identifier == f"{REF}-{edge['node']['id']}"
            seen += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen >= 3


def test_the_whole_portfolio_through_the_cli(stack, active, tmp_path):
    result = run_cli(stack, "export", "iati")
    assert result.exit_code == 0, result.output
    root = valid_iati(result.stdout)
    identifiers = [a.findtext("iati-identifier") for a in root.findall("iati-activity")]
    stored = stack.db("grants").grants.find({}, {"_id": 1}).sort([("created_at", 1), ("_id", 1)])
    assert identifiers == [f"{REF}-{g['_id']}" for g in stored]  # every grant, oldest first
    assert f"{REF}-{active[0]['id']}" in identifiers
    out = tmp_path / "activities.xml"
    result = run_cli(stack, "export", "iati", "--out", str(out))
    assert result.exit_code == 0, result.output
    again = valid_iati(out.read_text(encoding="utf-8"))
    assert len(again.findall("iati-activity")) >= len(identifiers)


def csv_rows(stack, *args):
    result = run_cli(stack, "export", "grant", *args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_a_grants_csv_exports(stack, orgs, active):
    g, paid, kept, _ = active
    r = schedule(stack, paid["id"], day(10))
    submit(stack, r["id"], orgs["REGIONAL_NETWORK"][0], report_input(narrative=FORMULA))
    sent_back = schedule(stack, paid["id"], day(20))
    indicators = [{"name": "@SUM(A1:A9)", "unit": None, "target": None, "actual": "7"}]
    submit(stack, sent_back["id"], orgs["REGIONAL_NETWORK"][0],
           report_input(indicators=indicators))
    review(stack, sent_back["id"], False, "+cmd|' /C calc'!A0")
    rows = csv_rows(stack, g["id"], "reports")
    [mine] = [row for row in rows if r["id"] in row.values()]
    assert "SUBMITTED" in mine.values() and "2500.00" in mine.values()
    assert "'" + FORMULA in mine.values()  # a formula is data, never run
    [back] = [row for row in rows if sent_back["id"] in row.values()]
    assert "'+cmd|' /C calc'!A0" in back.values() and "'@SUM(A1:A9): 7" in back.values()
    assert not any(v[:1] in "=+-@\t\r" for row in rows for v in row.values() if v)
    allocations = csv_rows(stack, g["id"], "allocations")
    assert {paid["id"], kept["id"]} <= {v for row in allocations for v in row.values()}
    assert "30000.50" in {v for row in allocations for v in row.values()}
    paid_rows = csv_rows(stack, g["id"], "disbursements")
    assert {"10000.00", "5000.25"} <= {v for row in paid_rows for v in row.values()}
    unknown = run_cli(stack, "export", "grant", "no-such-grant", "reports")
    assert unknown.exit_code == 1 and unknown.stderr.strip().count("\n") == 0, unknown.output
    assert run_cli(stack, "export", "grant", g["id"], "secrets").exit_code != 0


@pytest.mark.parametrize("text", ["Harm\x01Reduction", "Harm\x00Reduction", "Harm\x1bReduction",
                                  "Harm\ufffeReduction"])
def test_text_that_xml_cannot_hold_is_refused_or_exported_validly(stack, text):
    """A character XML 1.0 cannot hold (a control character, NUL, U+FFFE) in
    a grant's title or donor: refused when the grant is made, or written so
    that the export still validates; never an export that fails."""
    title = f"{text} {uuid.uuid4().hex[:6]}"
    body = stack.post(CREATE, {"i": grant_input(title=title, donor=text)}, stack.admin()).json()
    if body.get("errors"):
        refused(body, "BAD_USER_INPUT")
        return
    grant_id = body["data"]["createGrant"]["id"]
    try:
        answer = stack.post(IATI, {"id": grant_id}, stack.admin()).json()
        assert not answer.get("errors"), answer
        valid_iati(answer["data"]["grant"]["iatiXml"])
        portfolio = run_cli(stack, "export", "iati")  # one such grant must not stop every export
        assert portfolio.exit_code == 0, portfolio.output
        valid_iati(portfolio.stdout)
    except AssertionError:
        # the shared stack's later portfolio exports must not fail for this test's grant
        stack.db("grants").grants.delete_one({"_id": grant_id})
        raise


def test_a_member_name_that_xml_cannot_hold_is_refused_or_exported_validly(stack, orgs):
    with stack.rpc() as rpc:
        try:
            m = rpc.members.register_founding_member(
                member_input(f"Net\x01work {uuid.uuid4().hex[:6]}"))
        except Exception as error:  # refused when registered: nothing to export
            assert type(error).__name__ in ("BadUserInput", "RemoteError"), error
            return
    wait_read_models(stack, m["id"], can_vote=True)
    g, _ = approved_allocation(stack, m["id"], "10.00", title=unique_title("IATI odd name"))
    try:
        answer = stack.post(IATI, {"id": g["id"]}, stack.admin()).json()
        assert not answer.get("errors"), answer
        valid_iati(answer["data"]["grant"]["iatiXml"])
    except AssertionError:
        stack.db("grants").grants.delete_one({"_id": g["id"]})  # spare later portfolio exports
        raise
