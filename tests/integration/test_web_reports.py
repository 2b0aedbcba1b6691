"""The pages of issue 19 (services/web/views/reports.py,
secretariat_reports.py and the grant pages) through the real stack over
HTTP: a grant created with its sector and budget lines, its IATI download,
a report scheduled on the grant's page, written by the member through the
form (its errors beside the fields, a second submit refused), sent back
with a note and accepted on the review page, the member's and the
dashboard's lists, the CSVs, closing a grant, and who may see what."""
import csv
import io
import re
import uuid
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from graphql import parse, validate

from services.common import config as settings_module
from services.gateway.auth import Viewer
from services.gateway.limits import check_cost
from services.gateway.schema import schema
from services.web.page import Abort, Page
from services.web.views import documents, report_documents, secretariat_documents
from tests.helpers.reports import (approved_allocation, day, get_report, review, schedule, submit,
                                   valid_iati, voting_pair)
from tests.helpers.web import beside, get, post_form, summary, web_session

GRANT = """query($id: ID!) { grant(id: $id) {
  status sectorCode budgetLines { periodStart amount } } }"""


# ---- helpers --------------------------------------------------------------------------------

def redirected(r, prefix):
    """The rest of the path (and query) a 303 sends to, after `prefix`."""
    assert r.status_code == 303, (r.status_code, r.text[:3000])
    parts = urlsplit(r.headers["Location"])
    assert parts.path.startswith(prefix), parts.path
    return parts.path[len(prefix):] + (f"?{parts.query}" if parts.query else "")


def rows_shown(page, prefix="indicators"):
    return len(re.findall(r'name="%s-\d+-name"' % prefix, page)) or \
        len(re.findall(r'name="%s-\d+-amount"' % prefix, page))


def report_form(narrative="Trained 40 lawyers.", spent="2500.00", rows=()):
    data = {"narrative": narrative, "spent": spent}
    for n, (name, unit, target, actual) in enumerate(rows):
        data.update({f"indicators-{n}-name": name, f"indicators-{n}-unit": unit,
                     f"indicators-{n}-target": target, f"indicators-{n}-actual": actual})
    return data


ROWS = (("Lawyers trained", "people", "40", "40"), ("", "", "", ""),
        ("Campaign video views", "", "", "150000"))


@pytest.fixture(scope="module")
def team(stack):
    """(beneficiary, another member): only they vote in this module's rounds."""
    return voting_pair(stack)


@pytest.fixture(scope="module")
def admin(stack):
    return web_session(stack, stack.admin())


# ---- documents --------------------------------------------------------------------------------

def test_every_document_validates_and_fits_the_cost_limit(stack):
    settings = settings_module.load(stack.env)
    for module in (report_documents, secretariat_documents, documents):
        for name, document in {**module.QUERIES, **module.MUTATIONS}.items():
            tree = parse(document)
            assert not validate(schema.graphql_schema, tree), name
            assert not check_cost(schema.graphql_schema, tree, {}, None,
                                  settings["UNPAGED_LIST_ESTIMATE"],
                                  settings["MAX_QUERY_COST"]), name


# ---- the grant: sector, budget lines, IATI, close ----------------------------------------------

def grant_form(**overrides):
    data = {"title": f"RCNF {uuid.uuid4().hex[:6]}", "donor": "Robert Carr Fund",
            "currency": "usd", "amount": "1455000.00", "startDate": "2016-01-01",
            "endDate": "2018-12-31", "sectorCode": "13040",
            "budgetLines-0-periodStart": "2016-01-01", "budgetLines-0-periodEnd": "2016-12-31",
            "budgetLines-0-amount": "485000.00",
            "budgetLines-1-periodStart": "", "budgetLines-1-periodEnd": "",
            "budgetLines-1-amount": "",
            "budgetLines-2-periodStart": "2017-01-01", "budgetLines-2-periodEnd": "2017-12-31",
            "budgetLines-2-amount": "485000.00"}
    data.update(overrides)
    return data


def test_a_grant_with_its_sector_and_budget_lines_and_its_iati_file(stack, admin):
    page = get(admin, "/secretariat/grants/new").text
    assert rows_shown(page, "budgetLines") == 3 and 'value="13040"' in page
    r = post_form(admin, "/secretariat/grants/new", {**grant_form(), "action": "add-row"})
    assert r.status_code == 200 and rows_shown(r.text, "budgetLines") == 4  # 3 sent + 1
    assert 'name="budgetLines-1-amount" type="text" value="485000.00"' in r.text  # typed first
    r = post_form(admin, "/secretariat/grants/new",
                  grant_form(**{"budgetLines-2-amount": "1000000.00"}))
    assert r.status_code == 400 and beside(r.text, "budgetLines")
    assert 'value="1000000.00"' in r.text
    r = post_form(admin, "/secretariat/grants/new",
                  grant_form(**{"budgetLines-0-periodEnd": "31/12/2016"}))
    assert r.status_code == 400 and "Budget line 1" in beside(r.text, "budgetLines")
    r = post_form(admin, "/secretariat/grants/new", grant_form(sectorCode="1304"))
    assert r.status_code == 400 and beside(r.text, "sectorCode")
    grant_id = redirected(post_form(admin, "/secretariat/grants/new", grant_form()),
                          "/secretariat/grants/").split("?")[0]
    grant = stack.gql(GRANT, {"id": grant_id}, stack.admin())["grant"]
    assert grant["sectorCode"] == "13040"
    assert [(b["periodStart"], b["amount"]) for b in grant["budgetLines"]] == [
        ("2016-01-01", "485000.00"), ("2017-01-01", "485000.00")]
    for path in (f"/secretariat/grants/{grant_id}", f"/grants/{grant_id}"):
        shown = get(admin, path).text
        assert "13040" in shown and "485,000.00 USD" in shown, path
        assert f'href="/grants/{grant_id}/iati.xml"' in shown, path
    for browser in (admin, web_session(stack)):
        r = get(browser, f"/grants/{grant_id}/iati.xml")
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/xml; charset=utf-8"
        assert r.headers["Content-Disposition"] == \
            f'attachment; filename="iati-grant-{grant_id}.xml"'
        root = valid_iati(r.text)
        assert len(root.find("iati-activity").findall("budget")) == 2
    assert get(admin, "/grants/no-such-grant/iati.xml").status_code == 404


def test_closing_an_active_grant(stack, admin, team):
    _, a = approved_allocation(stack, team[0], "100.00")
    grant_id = a["grant"]["id"]
    page = f"/secretariat/grants/{grant_id}"
    assert "Close this grant" in get(admin, page).text
    r = post_form(admin, page + "/close", {}, page=page)  # the box not ticked
    assert r.status_code == 400 and "Tick the box" in r.text
    assert stack.gql(GRANT, {"id": grant_id}, stack.admin())["grant"]["status"] == "ACTIVE"
    r = post_form(admin, page + "/close", {"confirm": "yes"}, page=page)
    assert redirected(r, page) == "?done=grant-closed"
    shown = get(admin, page + "?done=grant-closed").text
    assert "The grant is closed." in shown and "Close this grant" not in shown
    assert stack.gql(GRANT, {"id": grant_id}, stack.admin())["grant"]["status"] == "CLOSED"
    r = post_form(admin, page + "/close", {"confirm": "yes"}, page=page)
    assert r.status_code == 409 and summary(r.text)
    assert "Schedule a report" in get(admin, page).text  # final reports after the end


# ---- a report from the schedule to its acceptance ----------------------------------------------

def test_a_report_scheduled_written_sent_back_and_accepted_through_the_pages(stack, admin, team):
    beneficiary, other = team
    _, a = approved_allocation(stack, beneficiary, "10000.00")
    grant_id = a["grant"]["id"]
    page = f"/secretariat/grants/{grant_id}"
    assert f'<option value="{a["id"]}">' in get(admin, page).text
    r = post_form(admin, page + "/reports", {"allocationId": a["id"], "dueOn": "soon"}, page=page)
    assert r.status_code == 400 and beside(r.text, "dueOn")
    assert f'<option value="{a["id"]}" selected>' in r.text
    r = post_form(admin, page + "/reports", {"allocationId": a["id"], "dueOn": day(20)},
                  page=page)
    assert "done=report-scheduled" in redirected(r, page)
    [report_id] = re.findall(r'href="/secretariat/reports/([^"]+)"', get(admin, page).text)

    member = web_session(stack, stack.member_token(beneficiary))
    organisation = get(member, "/organisation").text
    assert f'href="/reports/{report_id}"' in organisation and "Write the report" in organisation
    path = f"/reports/{report_id}"
    form = get(member, path).text
    assert rows_shown(form) == 5 and "Send the report" in form
    r = post_form(member, path, {**report_form(rows=ROWS), "action": "add-row"})
    assert r.status_code == 200 and rows_shown(r.text) == 5  # at least 5 (3 sent + 1)
    assert 'value="Campaign video views"' in r.text
    r = post_form(member, path, {**report_form(rows=ROWS), "action": "add-row",
                                 **{f"indicators-{n}-name": f"Row {n}" for n in range(3, 6)},
                                 **{f"indicators-{n}-actual": "1" for n in range(3, 6)}})
    assert rows_shown(r.text) == 7 and 'value="Row 5"' in r.text  # 6 sent + 1
    r = post_form(member, path, report_form(spent="10000.01", rows=ROWS))
    assert r.status_code == 400 and beside(r.text, "spent") and summary(r.text)
    r = post_form(member, path, report_form(narrative="  ", rows=ROWS))
    assert r.status_code == 400 and beside(r.text, "narrative")
    r = post_form(member, path, report_form(rows=(("Lawyers trained", "", "", "-1"),)))
    assert r.status_code == 400 and "Row 1" in beside(r.text, "indicators")
    assert 'value="-1"' in r.text
    assert post_form(web_session(stack, stack.member_token(other)), path,
                     report_form()).status_code in (403, 404)
    r = post_form(member, path, report_form(rows=ROWS))
    assert redirected(r, path) == "?done=report-submitted"
    sent = get(member, path + "?done=report-submitted").text
    assert "Your report is sent." in sent and "150,000" in sent and "Send the report" not in sent
    stale = post_form(member, path, report_form(rows=ROWS))
    assert stale.status_code == 409 and summary(stale.text)

    review_path = f"/secretariat/reports/{report_id}"
    shown = get(admin, review_path).text
    assert "Trained 40 lawyers." in shown and "Lawyers trained" in shown
    r = post_form(admin, review_path, {"decision": "changes", "note": ""})
    assert r.status_code == 400 and beside(r.text, "note")
    r = post_form(admin, review_path, {"decision": "changes", "note": "Add the Q3 figures."})
    assert redirected(r, review_path) == "?done=report-changes"
    again = get(member, path).text
    assert "Add the Q3 figures." in again and "Send the report again" in again
    assert 'value="Campaign video views"' in again and "Trained 40 lawyers.</textarea>" in again
    r = post_form(member, path, report_form(narrative="With Q3.", rows=ROWS[:1]))
    assert redirected(r, path) == "?done=report-submitted"
    r = post_form(admin, review_path, {"decision": "accept", "note": ""})
    assert redirected(r, review_path) == "?done=report-accepted"
    assert get_report(stack, report_id)["status"] == "ACCEPTED"
    assert post_form(admin, review_path, {"decision": "accept"}).status_code == 409
    assert "See the report" in get(member, "/organisation").text


def test_who_may_see_a_report_page(stack, admin, team):
    beneficiary, other = team
    _, a = approved_allocation(stack, beneficiary, "500.00")
    report = schedule(stack, a["id"], day(10))
    path = f"/reports/{report['id']}"
    r = get(web_session(stack), path, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/signin?next=")
    other_member = web_session(stack, stack.member_token(other))
    assert get(other_member, path).status_code == 404  # not ACCEPTED: not shown to others
    assert get(other_member, f"/secretariat/reports/{report['id']}").status_code == 403
    assert "Review this report" in get(admin, path).text
    assert "Waiting for the member" in get(admin, f"/secretariat/reports/{report['id']}").text
    assert get(admin, "/secretariat/reports/no-such-report").status_code == 404
    link = f'href="/reports/{report["id"]}"'
    grant_page = f"/grants/{a['grant']['id']}"
    assert link in get(web_session(stack, stack.member_token(beneficiary)), grant_page).text
    assert link not in get(other_member, grant_page).text  # DUE: its member and ADMIN only
    assert link not in get(web_session(stack), grant_page).text


def test_an_overdue_report_on_the_organisation_page_and_the_dashboard(stack, admin, team):
    beneficiary, _ = team
    _, a = approved_allocation(stack, beneficiary, "700.00")
    report = schedule(stack, a["id"], "2001-01-01")
    organisation = get(web_session(stack, stack.member_token(beneficiary)), "/organisation").text
    row = re.search(r'<tr>(?:(?!</tr>).)*href="/reports/%s".*?</tr>' % report["id"],
                    organisation, re.S).group(0)
    assert "Overdue" in row
    dashboard = get(admin, "/secretariat").text
    assert "Overdue reports" in dashboard
    assert f'href="/secretariat/reports/{report["id"]}"' in dashboard


# ---- CSV -----------------------------------------------------------------------------------

def test_the_grant_csvs_guard_formulas(stack, admin, team):
    beneficiary, other = team
    _, a = approved_allocation(stack, beneficiary, "900.00", title="=HYPERLINK(1) grant")
    report = schedule(stack, a["id"], day(5))
    submit(stack, report["id"], beneficiary,
           {"narrative": "=1+1 trained", "spent": "10.00",
            "indicators": [{"name": "@SUM people", "unit": None, "target": None,
                            "actual": "3"}]})
    review(stack, report["id"], True)
    grant_id = a["grant"]["id"]
    for kind, first_column in (("allocations", "grant_id"), ("disbursements", "grant_id"),
                               ("reports", "grant_id")):
        r = get(admin, f"/secretariat/grants/{grant_id}/{kind}.csv")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), kind
        assert "attachment" in r.headers["Content-Disposition"]
        text = r.content.decode("utf-8-sig")
        table = list(csv.DictReader(io.StringIO(text)))
        assert text.startswith(first_column), kind
        assert all(row["grant_title"] == "'=HYPERLINK(1) grant" for row in table), kind
    [row] = list(csv.DictReader(io.StringIO(get(
        admin, f"/secretariat/grants/{grant_id}/reports.csv").content.decode("utf-8-sig"))))
    assert row["narrative"] == "'=1+1 trained" and row["status"] == "ACCEPTED"
    assert row["indicators"].startswith("'@SUM people: 3")
    assert get(admin, f"/secretariat/grants/{grant_id}/other.csv").status_code == 404
    as_member = web_session(stack, stack.member_token(other))
    assert get(as_member, f"/secretariat/grants/{grant_id}/reports.csv").status_code == 403


# ---- the dashboard when grants does not answer (no stack needed) ------------------------------

def test_a_block_asked_apart_is_none_when_its_service_does_not_answer():
    """`Page.query_part`: SERVICE_UNAVAILABLE gives None (the dashboard says so
    and shows the rest); any other error still ends the page."""
    answers = []
    app = SimpleNamespace(run=lambda page, document, variables: answers.pop(0),
                          error_page=lambda page, status, message=None: SimpleNamespace(
                              status=status))
    page = Page.__new__(Page)
    page.app, page.viewer, page.request = app, Viewer(), SimpleNamespace(path="/secretariat",
                                                                          query_string=b"")
    down = {"message": "grants did not answer", "extensions": {"code": "SERVICE_UNAVAILABLE"}}
    answers.append({"data": None, "errors": [down]})
    assert page.query_part("{ x }") is None
    answers.append({"data": {"x": 1}})
    assert page.query_part("{ x }") == {"x": 1}
    answers.append({"data": None, "errors": [{"message": "no", "extensions": {
        "code": "FORBIDDEN"}}]})
    with pytest.raises(Abort):
        page.query_part("{ x }")
