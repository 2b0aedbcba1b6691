"""CSRF (issue 17, quality bars): every form carries a token; a POST without
it, with another browser's, or from another Origin is refused with 403 and
changes nothing. Over HTTP with requests (tests/helpers/web.py), which can
send what a browser would not, and once in the browser itself: a page of
another site whose form posts to the coalition."""
import re
import uuid

import pytest

from tests.browser.support import session_token, stance_of
from tests.helpers.consultations import open_consultation
from tests.helpers.sign_in import focal_point
from tests.helpers.web import csrf_of, get, web_session

pytestmark = pytest.mark.usefixtures("mail")
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
EVIL = "https://evil.example"
FIND = "query($s: String!) { members(search: $s, first: 5) { totalCount } }"


def hidden_fields(html):
    """The hidden fields of the first form of a page after the header's (csrf_token, form_key ...)."""
    return dict(HIDDEN.findall(html))


@pytest.fixture
def voter(stack):
    """(member id, a web session signed in as its focal point, an open consultation's id)."""
    member_id, address = focal_point(stack)
    consultation = open_consultation(stack, title=f"CSRF {uuid.uuid4().hex[:6]}")
    return member_id, web_session(stack, session_token(stack, address)), consultation["id"]


def test_a_stance_posted_without_the_token_with_another_s_or_from_another_site_is_403(
        stack, voter):
    member_id, session, consultation_id = voter
    path = f"/consultations/{consultation_id}"
    fields = hidden_fields(get(session, path).text)
    assert fields.get("csrf_token")
    stance = {"value": "AGREE", "reason": ""}
    url = session.base + path

    def send(data, **headers):
        return session.post(url, data=data, headers=headers, allow_redirects=False, timeout=60)

    without = {k: v for k, v in fields.items() if k != "csrf_token"}
    others = csrf_of(get(web_session(stack), "/signin").text)  # another browser's token
    refused = [send({**without, **stance}),
               send({**without, **stance, "csrf_token": ""}),
               send({**without, **stance, "csrf_token": others}),
               send({**fields, **stance}, Origin=EVIL),
               send({**fields, **stance}, Origin="null", **{"Sec-Fetch-Site": "cross-site"})]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert stance_of(stack, consultation_id, member_id)["myStance"] is None

    fields = hidden_fields(get(session, path).text)
    accepted = send({**fields, **stance}, Origin=stack.url)
    assert accepted.status_code == 303, accepted.text[:500]
    assert stance_of(stack, consultation_id, member_id)["myStance"]["value"] == "AGREE"


def test_an_application_posted_without_the_token_is_403_and_makes_no_member(stack):
    session = web_session(stack)
    name = f"Forged {uuid.uuid4().hex[:8]}"
    data = {"name": name, "org_type": "NGO", "countries": "KG",
            "constituencies": "PEOPLE_WHO_USE_DRUGS", "focal_name": "Forged Focal",
            "focal_email": f"forged-{uuid.uuid4().hex[:8]}@example.org", "language": "EN",
            "visibility": "PUBLIC"}
    fields = hidden_fields(get(session, "/apply").text)
    without = {k: v for k, v in fields.items() if k != "csrf_token"}
    for r in (session.post(session.base + "/apply", data={**without, **data},
                           allow_redirects=False, timeout=60),
              session.post(session.base + "/apply", data={**fields, **data},
                           headers={"Origin": EVIL}, allow_redirects=False, timeout=60)):
        assert r.status_code == 403, r.text[:300]
    assert stack.gql(FIND, {"s": name}, stack.admin())["members"]["totalCount"] == 0


def test_a_form_of_another_site_cannot_cast_a_stance_in_the_browser(stack, voter,
                                                                    browser_context):
    member_id, session, consultation_id = voter
    context = browser_context()
    context.add_cookies([{"name": c.name, "value": c.value, "domain": "127.0.0.1", "path": "/",
                          "httpOnly": True, "secure": False, "sameSite": "Lax"}
                         for c in session.cookies])
    own = context.new_page()
    own.goto(f"/consultations/{consultation_id}")  # this browser is signed in, with a token
    token = hidden_fields(own.content())["csrf_token"]
    forged = (f'<!doctype html><html lang="en"><title>Win</title><form method="post" '
              f'action="{stack.url}/consultations/{consultation_id}">'
              f'<input type="hidden" name="csrf_token" value="{token}">'
              '<input type="hidden" name="value" value="BLOCK">'
              '<input type="hidden" name="reason" value="forged">'
              '<button type="submit">Win a prize</button></form></html>')
    context.route(f"{EVIL}/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=forged))
    page = context.new_page()
    page.goto(EVIL + "/prize")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Win a prize").click()
    assert answer.value.status == 403
    assert stance_of(stack, consultation_id, member_id)["myStance"] is None
