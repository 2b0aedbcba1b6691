"""The secretariat's pages (services/web/views/secretariat*.py) through the
real stack over HTTP: who may see them, each form's success and its errors
beside the fields, the CSV exports, and the admission and the allocation
from start to end through the forms (members vote through the API)."""
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from graphql import parse, validate

from services.common import config as settings_module
from services.gateway.limits import check_cost
from services.gateway.schema import schema
from services.web.views import secretariat_documents
from tests.helpers.consultations import cast
from tests.helpers.sign_in import add_secretariat, new_address, sign_in
from tests.helpers.web import beside, get, post_form, summary, web_session
from tests.support import founders, isolate_voters, member_input, wait_for

STATE = """query($id: ID!) { member(id: $id) { id status canVote mouSignedAt } }"""
CONSULTATION = """query($id: ID!) { consultation(id: $id) { id status round outcome proposal } }"""
GRANT = """query($id: ID!) { grant(id: $id) { id status allocated disbursed
    allocations { id status disbursed } } }"""
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }"
OPERATIONS = "{ operations { failedMails deadLetters } }"
GET_PAGES = ("/secretariat", "/secretariat/members", "/secretariat/members.csv",
             "/secretariat/members/new", "/secretariat/consultations/new", "/secretariat/grants",
             "/secretariat/grants/new", "/secretariat/allocations/new",
             "/secretariat/disbursements/new", "/secretariat/people")


# ---- helpers --------------------------------------------------------------------------------

def admin_web(stack):
    """A browser whose session cookie holds a CLI ADMIN token."""
    return web_session(stack, stack.admin())


def secretariat_web(stack):
    """A browser signed in as a new secretariat person, with the e-mailed code."""
    address = new_address("sec")
    add_secretariat(stack, address, "Aigerim Secretariat")
    session, _ = sign_in(stack, address)
    return web_session(stack, session["token"]), address


def later(days=1):
    moment = datetime.now(timezone.utc) + timedelta(days=days)
    return {"closesAt": moment.date().isoformat(), "closesAtTime": moment.strftime("%H:%M")}


def redirected(r, prefix):
    """The rest of the path a 303 sends to, after `prefix` (an id)."""
    assert r.status_code == 303, (r.status_code, r.text[:3000])
    path = urlsplit(r.headers["Location"]).path
    assert path.startswith(prefix), path
    return path[len(prefix):]


def member_form(**overrides):
    data = {"name": f"Network {uuid.uuid4().hex[:8]}", "acronym": "", "orgType": "NGO",
            "countries": "KG, Kazakhstan", "region": "Central Asia",
            "constituencies": ["PEOPLE_WHO_USE_DRUGS", "YOUNG_PEOPLE"],
            "focalPoint.name": "Focal Point", "focalPoint.email": new_address("fp"),
            "focalPoint.phone": "", "language": "RU"}
    data.update(overrides)
    return data


def register(stack, web, **overrides):
    """A founding member registered through the form: its id."""
    r = post_form(web, "/secretariat/members/new", member_form(**overrides))
    return redirected(r, "/secretariat/members/")


def state(stack, query, **variables):
    return stack.gql(query, variables, stack.admin())


def close_through_page(web, consultation_id):
    page = f"/secretariat/consultations/{consultation_id}"
    r = post_form(web, page + "/close", {}, page=page)
    assert redirected(r, page) == ""


# ---- who may see the pages ------------------------------------------------------------------

def test_the_dashboard_shows_the_counts_to_the_secretariat_only(stack):
    web = admin_web(stack)
    r = get(web, "/secretariat")
    assert r.status_code == 200 and "no-store" in r.headers["Cache-Control"]
    counts = stack.gql(OPERATIONS, token=stack.admin())["operations"]
    assert f"<strong>{counts['failedMails']}</strong>" in r.text
    assert f"<strong>{counts['deadLetters']}</strong>" in r.text
    assert "coalition mail retry" in r.text and "coalition dlq replay" in r.text
    for path in GET_PAGES:
        assert get(web, path).status_code == 200, path
    [member] = founders(stack, 1)
    as_member = web_session(stack, stack.member_token(member["id"]))
    anonymous = web_session(stack)
    for path in GET_PAGES:
        assert get(as_member, path).status_code == 403, path
        r = get(anonymous, path, allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"].startswith("/signin?next="), path


def test_every_document_of_the_pages_validates_and_fits_the_cost_limit(stack):
    """Checked as the gateway checks them (its schema and its default limits),
    without running them."""
    settings = settings_module.load(stack.env)
    for name, document in {**secretariat_documents.QUERIES,
                           **secretariat_documents.MUTATIONS}.items():
        tree = parse(document)
        assert not validate(schema.graphql_schema, tree), name
        assert not check_cost(schema.graphql_schema, tree, {}, None,
                              settings["UNPAGED_LIST_ESTIMATE"], settings["MAX_QUERY_COST"]), name


# ---- forms: success and errors --------------------------------------------------------------

def test_registering_a_founding_member_and_its_errors_beside_the_fields(stack):
    web = admin_web(stack)
    member_id = register(stack, web)
    member = state(stack, STATE, id=member_id)["member"]
    assert member["status"] == "ACTIVE" and member["canVote"]
    r = post_form(web, "/secretariat/members/new",
                  member_form(name="Typed Name", **{"focalPoint.email": "not-an-address"}))
    assert r.status_code == 400
    assert "e-mail" in beside(r.text, "focalPoint.email").lower()
    assert 'value="Typed Name"' in r.text and 'value="not-an-address"' in r.text
    assert 'value="PEOPLE_WHO_USE_DRUGS" checked' in r.text
    r = post_form(web, "/secretariat/members/new", member_form(countries="KG, Atlantis"))
    assert r.status_code == 400 and "Atlantis" in beside(r.text, "countries")


def test_opening_a_consultation_and_its_errors_beside_the_fields(stack):
    web = admin_web(stack)
    data = {"title": "Strategy 2027", "proposal": "Adopt the strategy", "rule": "CONSENSUS",
            "quorum": "0.5", "threshold": "", "closesAt": "2020-01-01", "closesAtTime": "10:00"}
    r = post_form(web, "/secretariat/consultations/new", data)
    assert r.status_code == 400 and beside(r.text, "closesAt") == "Error: Must be in the future."
    assert 'value="Strategy 2027"' in r.text and ">Adopt the strategy</textarea>" in r.text
    r = post_form(web, "/secretariat/consultations/new", {**data, "closesAtTime": "25:99"})
    assert r.status_code == 400 and beside(r.text, "closesAtTime")
    r = post_form(web, "/secretariat/consultations/new",
                  {**data, **later(), "rule": "MODIFIED_CONSENSUS", "threshold": "0.4"})
    assert r.status_code == 400 and "0.5" in beside(r.text, "threshold")
    r = post_form(web, "/secretariat/consultations/new", {**data, **later()})
    consultation_id = redirected(r, "/secretariat/consultations/")
    c = state(stack, CONSULTATION, id=consultation_id)["consultation"]
    assert c["status"] == "OPEN" and c["proposal"] == "Adopt the strategy"


def test_creating_a_grant_keeps_money_exact_and_refuses_a_third_decimal(stack):
    web = admin_web(stack)
    data = {"title": f"RCF {uuid.uuid4().hex[:6]}", "donor": "Robert Carr Fund",
            "currency": "eur", "amount": "12.345", "startDate": "2026-01-01",
            "endDate": "2027-12-31"}
    r = post_form(web, "/secretariat/grants/new", data)
    assert r.status_code == 400 and beside(r.text, "amount")
    assert 'value="12.345"' in r.text and f'value="{data["title"]}"' in r.text
    r = post_form(web, "/secretariat/grants/new", {**data, "amount": "1455000.10"})
    grant_id = redirected(r, "/secretariat/grants/")
    page = get(web, f"/secretariat/grants/{grant_id}").text
    assert "1,455,000.10" in page and "Activate this grant" in page
    r = post_form(web, f"/secretariat/grants/{grant_id}/activate", {},
                  page=f"/secretariat/grants/{grant_id}")
    assert redirected(r, f"/secretariat/grants/{grant_id}") == ""
    assert state(stack, GRANT, id=grant_id)["grant"]["status"] == "ACTIVE"


def test_inviting_and_removing_a_secretariat_person(stack, mail):
    web, me = secretariat_web(stack)
    assert get(web, "/secretariat").status_code == 200
    invited = new_address("inv")
    r = post_form(web, "/secretariat/people", {"name": "Nodira", "email": invited})
    assert redirected(r, "/secretariat/people") == ""
    page = get(web, "/secretariat/people").text
    assert invited in page and "Nodira" in page and f"{me}</td>" in page
    r = post_form(web, "/secretariat/people", {"name": "Again", "email": invited})
    assert r.status_code == 400 and "already" in summary(r.text)
    assert f'value="{invited}"' in r.text
    r = post_form(web, "/secretariat/people/remove", {"email": invited},
                  page="/secretariat/people")
    assert redirected(r, "/secretariat/people") == ""
    assert invited not in get(web, "/secretariat/people").text


def test_the_csv_exports_guard_formulas_and_hold_no_focal_point(stack):
    web = admin_web(stack)
    address = new_address("csv")
    name = f"=HYPERLINK(\"x\") {uuid.uuid4().hex[:6]}"
    register(stack, web, name=name, **{"focalPoint.email": address})
    r = get(web, "/secretariat/members.csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    text = r.content.decode("utf-8-sig")
    assert text.startswith("id,name,acronym,orgType,countries")
    assert "'=HYPERLINK" in text and address not in text and "Focal Point" not in text
    data = {"title": "=1+1 strategy", "proposal": "@SUM(A1) plan", "rule": "CONSENSUS",
            "quorum": "0.5", "threshold": "", **later()}
    consultation_id = redirected(post_form(web, "/secretariat/consultations/new", data),
                                 "/secretariat/consultations/")
    r = get(web, f"/secretariat/consultations/{consultation_id}/export.csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    assert text.startswith("record,consultation_id,kind,title")
    assert "'=1+1 strategy" in text and "'@SUM(A1) plan" in text
    assert text.count("\nconsultation,") == 1 and "\nround," in text


# ---- whole tasks through the forms ------------------------------------------------------------

@pytest.fixture
def voters(stack):
    """Only the members a test makes can vote (tests share one stack)."""
    isolate_voters(stack)


def test_an_admission_from_application_to_active_with_a_real_secretariat_session(
        stack, mail, voters):
    web, _ = secretariat_web(stack)
    first, second = register(stack, web), register(stack, web)
    candidate = stack.gql(APPLY, {"i": member_input()})["applyForMembership"]["id"]

    def admission_link():
        page = get(web, f"/secretariat/members/{candidate}").text
        found = re.search(r'href="/secretariat/consultations/([^"]+)"', page)
        return found.group(1) if found else None
    consultation_id = wait_for(admission_link, 20, 0.3, "the admission consultation")
    dashboard = get(web, "/secretariat").text
    assert f'/secretariat/members/{candidate}"' in dashboard
    assert f'/secretariat/consultations/{consultation_id}"' in dashboard
    page = get(web, f"/secretariat/consultations/{consultation_id}").text
    assert "Not responded yet" in page and "0%" in page
    for voter in (first, second):
        assert not cast(stack, consultation_id, voter).get("errors")
    assert "100%" in get(web, f"/secretariat/consultations/{consultation_id}").text
    close_through_page(web, consultation_id)
    member = state(stack, STATE, id=candidate)["member"]
    assert member["status"] == "ACTIVE" and not member["canVote"]
    page = get(web, f"/secretariat/members/{candidate}").text
    assert "Sign the MoU for this member" in page
    r = post_form(web, f"/secretariat/members/{candidate}/sign-mou", {},
                  page=f"/secretariat/members/{candidate}")
    assert redirected(r, f"/secretariat/members/{candidate}") == ""
    assert state(stack, STATE, id=candidate)["member"]["canVote"] is True


def test_an_allocation_from_proposal_to_disbursement(stack, voters):
    web = admin_web(stack)
    beneficiary, *others = [register(stack, web) for _ in range(3)]
    data = {"title": f"Harm reduction {uuid.uuid4().hex[:6]}", "donor": "Global Fund",
            "currency": "USD", "amount": "100000.00", "startDate": "2026-01-01",
            "endDate": "2027-12-31"}
    grant_id = redirected(post_form(web, "/secretariat/grants/new", data), "/secretariat/grants/")
    post_form(web, f"/secretariat/grants/{grant_id}/activate", {},
              page=f"/secretariat/grants/{grant_id}")
    form = f"/secretariat/allocations/new?grant={grant_id}"
    assert f'value="{grant_id}" selected' in get(web, form).text
    allocation = {"grantId": grant_id, "memberId": beneficiary, "amount": "250000.00",
                  "purpose": "Community-led monitoring", "closesAt": "", "closesAtTime": ""}
    r = post_form(web, "/secretariat/allocations/new", allocation, page=form)
    assert r.status_code == 400 and "available" in summary(r.text)
    assert ">Community-led monitoring</textarea>" in r.text
    r = post_form(web, "/secretariat/allocations/new", {**allocation, "amount": "30000.50"},
                  page=form)
    assert r.status_code == 303
    allocation_id = r.headers["Location"].rsplit("#allocation-", 1)[1]
    assert r.headers["Location"].startswith(f"/secretariat/grants/{grant_id}")

    def consultation_link():
        page = get(web, f"/secretariat/grants/{grant_id}").text
        found = re.search(r'href="/secretariat/consultations/([^"]+)">Its consultation', page)
        return found.group(1) if found else None
    consultation_id = wait_for(consultation_link, 20, 0.3, "the allocation's consultation")
    for voter in others:
        assert not cast(stack, consultation_id, voter).get("errors")
    close_through_page(web, consultation_id)
    [approved] = state(stack, GRANT, id=grant_id)["grant"]["allocations"]
    assert approved["status"] == "APPROVED"
    form = f"/secretariat/disbursements/new?allocation={allocation_id}"
    assert f'value="{allocation_id}" selected' in get(web, form).text
    payment = {"allocationId": allocation_id, "amount": "40000.00", "paidOn": "2026-03-01",
               "reference": "WIRE-1"}
    r = post_form(web, "/secretariat/disbursements/new", payment, page=form)
    assert r.status_code == 400 and summary(r.text) and 'value="WIRE-1"' in r.text
    r = post_form(web, "/secretariat/disbursements/new", {**payment, "amount": "10000.25"},
                  page=form)
    assert r.status_code == 303
    assert r.headers["Location"].startswith(f"/secretariat/grants/{grant_id}")
    grant = state(stack, GRANT, id=grant_id)["grant"]
    assert grant["disbursed"] == "10000.25" and grant["allocated"] == "30000.50"
    page = get(web, f"/secretariat/grants/{grant_id}").text
    assert "10,000.25" in page and "WIRE-1" in page


def test_a_suspension_a_reinstatement_and_a_withdrawal(stack, voters):
    web = admin_web(stack)
    subject, *others = [register(stack, web) for _ in range(3)]
    page = f"/secretariat/members/{subject}"
    r = post_form(web, page + "/suspend", {"reason": "", "closesAt": "", "closesAtTime": ""},
                  page=page)
    assert r.status_code == 400 and beside(r.text, "reason")
    r = post_form(web, page + "/suspend", {"reason": "No report for two years", **later()},
                  page=page)
    consultation_id = redirected(r, "/secretariat/consultations/")
    for voter in others:
        assert not cast(stack, consultation_id, voter).get("errors")
    close_through_page(web, consultation_id)
    assert state(stack, STATE, id=subject)["member"]["status"] == "SUSPENDED"
    assert "Reinstate this member" in get(web, page).text
    assert redirected(post_form(web, page + "/reinstate", {}, page=page), page) == ""
    assert state(stack, STATE, id=subject)["member"]["status"] == "ACTIVE"
    r = post_form(web, page + "/withdraw", {"withdrawReason": "Merged with another network"},
                  page=page)
    assert redirected(r, page) == ""
    assert state(stack, STATE, id=subject)["member"]["status"] == "WITHDRAWN"
    r = web.post(web.base + page + "/sign-mou", allow_redirects=False,
                 data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                               get(web, "/secretariat").text).group(1)})
    assert r.status_code == 400 and "WITHDRAWN" in summary(r.text)


def test_a_blocked_round_continues_with_an_amended_proposal_then_is_cancelled(stack, voters):
    web = admin_web(stack)
    blocker, other = [register(stack, web) for _ in range(2)]
    data = {"title": "Charter change", "proposal": "Meet twice a year", "rule": "CONSENSUS",
            "quorum": "0.5", "threshold": "", **later()}
    consultation_id = redirected(post_form(web, "/secretariat/consultations/new", data),
                                 "/secretariat/consultations/")
    page = f"/secretariat/consultations/{consultation_id}"
    assert not cast(stack, consultation_id, blocker, "BLOCK", "Too costly").get("errors")
    assert not cast(stack, consultation_id, other).get("errors")
    close_through_page(web, consultation_id)
    assert state(stack, CONSULTATION, id=consultation_id)["consultation"]["outcome"] == "BLOCKED"
    shown = get(web, page).text
    assert ">Meet twice a year</textarea>" in shown and "Start the next round" in shown
    r = post_form(web, page + "/next-round", {"proposal": "", **later()}, page=page)
    assert r.status_code == 400 and beside(r.text, "proposal")
    r = post_form(web, page + "/next-round", {"proposal": "Meet once a year", **later(2)},
                  page=page)
    assert redirected(r, page) == ""
    c = state(stack, CONSULTATION, id=consultation_id)["consultation"]
    assert (c["round"], c["status"], c["proposal"]) == (2, "OPEN", "Meet once a year")
    assert "Cancel the consultation" not in get(web, page).text  # only after a round closed
    close_through_page(web, consultation_id)  # no one responded: NO_QUORUM
    r = post_form(web, page + "/cancel", {"reason": ""}, page=page)
    assert r.status_code == 400 and beside(r.text, "reason")
    assert redirected(post_form(web, page + "/cancel", {"reason": "Overtaken by events"},
                                page=page), page) == ""
    assert state(stack, CONSULTATION, id=consultation_id)["consultation"]["status"] == "CANCELLED"
