"""The safety of members in the web app (DOMAIN.md section 11;
services/web/views/safety.py, member.py, secretariat_members.py, public.py)
through the real stack over HTTP: applying as MEMBERS_ONLY, the member and
the secretariat changing the visibility, the focal-point reads listed newest
first on the member's own page and on the secretariat's, the JSON download
of all the data about a member (never anonymous, never another member's),
the erasure refused for an ACTIVE member and done for a WITHDRAWN one, and a
public grant page counting the allocations it does not name, in English and
in Russian."""
import html
import json
import re
import uuid

import pytest

from tests.helpers.grants import create_grant, propose
from tests.helpers.web import beside, founder, get, post_form, summary, text_of, web_session
from tests.support import wait_read_models

STATE = """query($id: ID!) { member(id: $id) { id status visibility focalPoint { email }
    history { status note } } }"""
FOCAL_POINT = "query($id: ID!) { member(id: $id) { focalPoint { email } } }"
FIND = """query($s: String!) { members(search: $s, first: 5) {
    edges { node { id name visibility status } } } }"""
WITHDRAW = "mutation($id: ID!) { withdrawMembership(memberId: $id, reason: null) { id status } }"


def state(stack, member_id):
    return stack.gql(STATE, {"id": member_id}, stack.admin())["member"]


def admin_web(stack):
    return web_session(stack, stack.admin())


def member_web(stack, member_id):
    """A browser whose session cookie holds the member's (CLI) token."""
    return web_session(stack, stack.member_token(member_id))


def section(page, section_id):
    """The HTML of the page's <section id=...>."""
    found = re.search(r'<section[^>]*id="%s".*?</section>' % re.escape(section_id), page.text,
                      re.S)
    assert found, f"no section {section_id}"
    return found.group(0)


# ---- visibility ---------------------------------------------------------------------------

def apply_form(**overrides):
    tag = uuid.uuid4().hex[:8]
    data = {"name": f"Quiet applicant {tag}", "acronym": "", "org_type": "COMMUNITY_ORGANISATION",
            "countries": "Kyrgyzstan", "region": "", "constituencies": ["SEX_WORKERS"],
            "focal_name": "Aida", "focal_email": f"quiet-{tag}@example.org", "focal_phone": "",
            "language": "EN"}
    data.update(overrides)
    return data


def test_applying_as_members_only(stack):
    browser = web_session(stack)
    form = get(browser, "/apply")
    assert re.search(r'value="PUBLIC" checked', form.text), "PUBLIC is the default"
    assert "Only members and the secretariat will see that your organisation is a member." \
        in text_of(form)
    data = apply_form(visibility="MEMBERS_ONLY")
    sent = post_form(browser, "/apply", data)
    assert sent.status_code == 303 and sent.headers["Location"] == "/apply/sent"
    [found] = [e["node"] for e in stack.gql(FIND, {"s": data["name"]}, stack.admin())[
        "members"]["edges"]]
    assert found["visibility"] == "MEMBERS_ONLY" and found["status"] == "CANDIDATE"
    listed = get(web_session(stack), f"/members?search={data['name']}")
    assert listed.status_code == 200 and f'href="/members/{found["id"]}"' not in listed.text
    assert f'href="/members/{found["id"]}"' in get(
        admin_web(stack), f"/members?search={data['name']}").text
    refused = post_form(web_session(stack), "/apply", apply_form(visibility="EVERYONE"))
    assert refused.status_code == 400 and beside(refused.text, "visibility")


def test_the_secretariat_registers_a_members_only_founder(stack):
    tag = uuid.uuid4().hex[:8]
    form = {"name": f"Quiet founder {tag}", "acronym": "", "orgType": "NGO", "countries": "KG",
            "region": "", "constituencies": ["LGBT"], "focalPoint.name": "Focal Point",
            "focalPoint.email": f"quiet-founder-{tag}@example.org", "focalPoint.phone": "",
            "language": "EN", "visibility": "MEMBERS_ONLY"}
    made = post_form(admin_web(stack), "/secretariat/members/new", form)
    assert made.status_code == 303, made.text[:2000]
    member_id = made.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    assert state(stack, member_id)["visibility"] == "MEMBERS_ONLY"
    page = get(admin_web(stack), f"/secretariat/members/{member_id}")
    assert "Who may see that it is a member Members only" in text_of(page)


def test_the_member_changes_its_visibility_and_the_secretariat_changes_it_back(stack):
    member_id, _ = founder(stack)
    browser = member_web(stack, member_id)
    prefs = get(browser, "/preferences")
    assert prefs.status_code == 200
    form = section(prefs, "membership-visibility")
    assert re.search(r'value="PUBLIC" checked', form) and "Save the visibility" in form
    saved = post_form(browser, "/preferences/visibility", {"visibility": "MEMBERS_ONLY"},
                      page="/preferences")
    assert saved.status_code == 303
    assert saved.headers["Location"] == "/preferences?done=visibility"
    assert "Who may see the membership is saved." in text_of(get(browser, saved.headers[
        "Location"]))
    assert state(stack, member_id)["visibility"] == "MEMBERS_ONLY"
    assert get(web_session(stack), f"/members/{member_id}").status_code == 404
    assert "Members only" in text_of(get(browser, "/organisation"))

    wrong = post_form(browser, "/preferences/visibility", {"visibility": "NOBODY"},
                      page="/preferences")
    assert wrong.status_code == 400 and beside(wrong.text, "visibility")
    assert state(stack, member_id)["visibility"] == "MEMBERS_ONLY", "nothing was sent"

    back = post_form(admin_web(stack), f"/secretariat/members/{member_id}/visibility",
                     {"visibility": "PUBLIC"}, page=f"/secretariat/members/{member_id}")
    assert back.status_code == 303
    assert back.headers["Location"] == f"/secretariat/members/{member_id}?done=visibility"
    assert state(stack, member_id)["visibility"] == "PUBLIC"
    assert get(web_session(stack), f"/members/{member_id}").status_code == 200


def test_another_member_cannot_change_a_members_visibility(stack):
    member_id, _ = founder(stack)
    other, _ = founder(stack)
    # the form acts on the viewer's own member only: the other one is untouched
    post_form(member_web(stack, other), "/preferences/visibility", {"visibility": "MEMBERS_ONLY"},
              page="/preferences")
    assert state(stack, member_id)["visibility"] == "PUBLIC"
    refused = post_form(member_web(stack, other), f"/secretariat/members/{member_id}/visibility",
                        {"visibility": "MEMBERS_ONLY"}, page="/preferences")
    assert refused.status_code == 403
    assert state(stack, member_id)["visibility"] == "PUBLIC"


# ---- who has seen the focal point ----------------------------------------------------------

def test_the_reads_are_listed_newest_first_to_the_member_and_the_secretariat(stack):
    member_id, data = founder(stack)
    tag = uuid.uuid4().hex[:6]
    own = get(member_web(stack, member_id), "/organisation")
    assert "No one has been shown them yet." in text_of(own), "its own page is no read"
    for reader in (f"first-reader-{tag}", f"second-reader-{tag}"):
        seen = stack.gql(FOCAL_POINT, {"id": member_id}, stack.token("ADMIN", sub=reader))
        assert seen["member"]["focalPoint"]["email"] == data["focalPoint"]["email"]

    own = get(member_web(stack, member_id), "/organisation")
    reads = section(own, "focal-point-reads")
    assert "Who has seen your focal point's contact details" in reads
    assert reads.index(f"second-reader-{tag}") < reads.index(f"first-reader-{tag}")
    assert data["focalPoint"]["email"] not in reads, "who and when, never what"

    admin = get(admin_web(stack), f"/secretariat/members/{member_id}")
    assert admin.status_code == 200
    reads = section(admin, "focal-point-reads")
    assert "Who has seen the focal point's contact details" in reads
    assert reads.index(f"second-reader-{tag}") < reads.index(f"first-reader-{tag}")
    assert data["focalPoint"]["email"] not in admin.text, "the page asks for no focal point"


# ---- the download of all the data --------------------------------------------------------------

def test_the_download_is_the_members_json(stack):
    member_id, data = founder(stack)
    path = f"/members/{member_id}/data.json"
    assert "Download all data about this member (JSON)" in get(
        member_web(stack, member_id), "/organisation").text
    got = post_form(member_web(stack, member_id), path, {}, page="/organisation")
    assert got.status_code == 200, got.text[:2000]
    assert got.headers["Content-Type"].startswith("application/json")
    assert got.headers["Content-Disposition"] == f'attachment; filename="member-{member_id}.json"'
    document = json.loads(got.text)
    assert document["member_id"] == member_id
    assert data["focalPoint"]["email"] in got.text, "its own record, focal point included"

    by_admin = post_form(admin_web(stack), path, {}, page=f"/secretariat/members/{member_id}")
    assert by_admin.status_code == 200 and json.loads(by_admin.text)["member_id"] == member_id


def test_the_download_is_never_anonymous_nor_another_members(stack):
    member_id, _ = founder(stack)
    other, _ = founder(stack)
    path = f"/members/{member_id}/data.json"
    anonymous = get(web_session(stack), path, allow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"].startswith("/signin?next=")
    posted = post_form(web_session(stack), path, {}, page="/apply")
    assert posted.status_code == 303 and posted.headers["Location"].startswith("/signin?next=")
    refused = post_form(member_web(stack, other), path, {}, page="/organisation")
    assert refused.status_code == 403 and "Content-Disposition" not in refused.headers
    assert refused.headers["Content-Type"].startswith("text/html")
    back = get(member_web(stack, member_id), path, allow_redirects=False)
    assert back.status_code == 303 and back.headers["Location"] == "/organisation"


# ---- erasure ---------------------------------------------------------------------------------

def test_erasing_is_refused_for_an_active_member(stack):
    member_id, data = founder(stack)
    page = get(admin_web(stack), f"/secretariat/members/{member_id}")
    assert 'action="/secretariat/members/%s/erase"' % member_id not in page.text
    refused = post_form(admin_web(stack), f"/secretariat/members/{member_id}/erase",
                        {"confirm": "yes"}, page=f"/secretariat/members/{member_id}")
    assert refused.status_code == 409, refused.text[:2000]
    assert "ACTIVE" in summary(refused.text)
    assert state(stack, member_id)["focalPoint"]["email"] == data["focalPoint"]["email"]


def test_erasing_a_withdrawn_members_personal_data(stack):
    member_id, data = founder(stack)
    stack.gql(WITHDRAW, {"id": member_id}, stack.admin())
    path = f"/secretariat/members/{member_id}"
    page = get(admin_web(stack), path)
    form = section(page, "erase")
    assert "Erase personal data" in form and 'name="confirm" value="yes"' in form

    unconfirmed = post_form(admin_web(stack), f"{path}/erase", {}, page=path)
    assert unconfirmed.status_code == 400 and beside(unconfirmed.text, "confirm")
    assert state(stack, member_id)["focalPoint"] is not None, "nothing was sent"

    erased = post_form(admin_web(stack), f"{path}/erase", {"confirm": "yes"}, page=path)
    assert erased.status_code == 200, erased.text[:2000]
    banner = re.search(r'<div class="banner" role="status" id="erased">.*?</div>', erased.text,
                       re.S)
    assert banner and "The member's personal data is erased" in html.unescape(banner.group(0))
    assert len(re.findall(r"<li>", banner.group(0))) >= 1, "what was removed, in words"
    after = state(stack, member_id)
    assert after["focalPoint"] is None and after["status"] == "WITHDRAWN"
    assert any(h["note"] == "Personal data erased" for h in after["history"])
    assert data["focalPoint"]["email"] not in erased.text


# ---- a public grant page ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_grant(stack):
    """A grant with one allocation to a PUBLIC member and two to a MEMBERS_ONLY one."""
    shown, _ = founder(stack)
    hidden, hidden_data = founder(stack, visibility="MEMBERS_ONLY")
    for member_id in (shown, hidden):
        wait_read_models(stack, member_id, can_vote=True)
    grant = create_grant(stack, activate=True, currency="USD", amount="90000.00")
    propose(stack, grant["id"], shown, "1000.00", purpose="Shown work")
    propose(stack, grant["id"], hidden, "250.50", purpose="Quiet work")
    propose(stack, grant["id"], hidden, "100.00", purpose="More quiet work")
    return {"id": grant["id"], "hidden_name": hidden_data["name"]}


def test_the_public_grant_page_counts_undisclosed_allocations(stack, shared_grant):
    path = f"/grants/{shared_grant['id']}"
    visitor = get(web_session(stack), path)
    assert visitor.status_code == 200
    text = text_of(visitor)
    assert "And 2 undisclosed allocations totalling 350.50 USD." in text
    assert shared_grant["hidden_name"] not in text and "Quiet work" not in text
    assert "Shown work" in text
    admin = text_of(get(admin_web(stack), path))
    assert "undisclosed allocation" not in admin and shared_grant["hidden_name"] in admin


def test_the_undisclosed_allocations_in_russian(stack, shared_grant):
    browser = web_session(stack)
    get(browser, f"/language/ru?next=/grants/{shared_grant['id']}", allow_redirects=False)
    text = text_of(get(browser, f"/grants/{shared_grant['id']}"))
    assert "И ещё 2 нераскрытых выделения средств на общую сумму 350,50 USD." in text
