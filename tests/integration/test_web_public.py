"""The public pages of the web app (services/web/views/public.py, apply.py,
consultations.py) through the real stack over HTTP: each page for a visitor,
a member and the secretariat, the filters and pages of the lists, a grant's
allocations, applying with an error and then for real, and a page in Russian.
Voting through the form is tests/integration/test_web_member.py."""
import html
import re
import uuid

import pytest
from graphql import parse, validate

from services.gateway.limits import check_cost
from services.gateway.schema import schema
from services.web.views import documents as D
from tests.helpers.consultations import close, later, open_consultation
from tests.helpers.grants import approve, create_grant, disburse_body, propose
from tests.helpers.web import (founder, get, module_stack, post_form,  # noqa: F401 (stack)
                               text_of, web_session)
from tests.support import founders, member_input, wait_read_models

NEXT_ROUND = """mutation($id: ID!, $p: String!, $c: DateTime!) {
  startNextRound(id: $id, proposal: $p, closesAt: $c) { id round } }"""


@pytest.fixture(scope="module")
def coalition(stack):
    """Two founders, an open consultation and a closed one."""
    (a, data_a), (b, _) = founder(stack), founder(stack)
    for member_id in (a, b):
        wait_read_models(stack, member_id, can_vote=True)
    tag = uuid.uuid4().hex[:6]
    opened = open_consultation(stack, title=f"Open strategy {tag}",
                               proposal="Adopt the <b>2027</b> strategy")
    closed = open_consultation(stack, title=f"Closed budget {tag}", proposal="Adopt the budget")
    close(stack, closed["id"])
    return {"a": a, "b": b, "data_a": data_a, "open": opened, "closed": closed, "tag": tag}


def test_every_document_validates_and_stays_under_the_cost_limit():
    for name, text in {**D.QUERIES, **D.MUTATIONS}.items():
        document = parse(text)
        assert validate(schema.graphql_schema, document) == [], name
        assert check_cost(schema.graphql_schema, document, {"member": True}, None, 50,
                          20000) == [], name


@pytest.mark.parametrize("who", ["anonymous", "member", "admin"])
def test_the_home_page(stack, coalition, who):
    token = {"anonymous": None, "member": stack.member_token(coalition["a"]),
             "admin": stack.admin()}[who]
    page = get(web_session(stack, token), "/")
    assert page.status_code == 200, page.text
    text = text_of(page)
    assert "Open consultations" in text and coalition["open"]["title"] in text
    assert f'href="/consultations/{coalition["open"]["id"]}"' in page.text
    assert "Adopt the <b>" not in page.text  # nothing unescaped anywhere
    assert ("Waiting for your stance" in text) == (who == "member")


def test_members_filters_and_pages(stack):
    word = f"Zq{uuid.uuid4().hex[:6]}"
    with stack.rpc() as rpc:
        for i in range(D.PAGE_SIZE + 1):
            rpc.members.register_founding_member(member_input(
                name=f"{word} network {i:02d}", countries=["KZ"] if i == 0 else ["KG"],
                constituencies=["SEX_WORKERS"] if i == 0 else ["PEOPLE_LIVING_WITH_HIV"]))
    browser = web_session(stack)
    first = get(browser, f"/members?search={word}")
    assert first.status_code == 200
    assert f"{D.PAGE_SIZE + 1} members match." in text_of(first)
    assert first.text.count(f"{word} network") == D.PAGE_SIZE
    after = re.search(r'href="(/members\?[^"]*after=[^"]+)"', first.text)
    assert after and f"search={word}" in after.group(1), "the next page keeps the filter"
    second = get(browser, html.unescape(after.group(1)))
    assert second.status_code == 200 and second.text.count(f"{word} network") == 1
    assert "Back to the first page" in second.text

    by_country = get(browser, f"/members?search={word}&country=KZ")
    assert "1 member matches." in text_of(by_country)
    assert f"{word} network 00" in by_country.text
    by_constituency = get(browser, f"/members?search={word}&constituency=SEX_WORKERS")
    assert "1 member matches." in text_of(by_constituency)
    # a hand-edited address is a page, never an error
    odd = get(browser, "/members?constituency=NOPE&country=XX&status=<b>&after=%24%7B%7D")
    assert odd.status_code == 200 and "Choose a country from the list." in odd.text


@pytest.mark.parametrize("who", ["anonymous", "other member", "itself", "admin"])
def test_a_member_page_shows_the_focal_point_only_to_whom_the_api_gives_it(stack, coalition,
                                                                           who):
    a, data = coalition["a"], coalition["data_a"]
    token = {"anonymous": None, "other member": stack.member_token(coalition["b"]),
             "itself": stack.member_token(a), "admin": stack.admin()}[who]
    page = get(web_session(stack, token), f"/members/{a}")
    assert page.status_code == 200
    assert data["name"] in page.text and "Kyrgyzstan" in page.text
    privileged = who in ("itself", "admin")
    assert (data["focalPoint"]["email"] in page.text) == privileged
    assert ("History" in page.text) == privileged
    assert get(web_session(stack), "/members/no-such-member").status_code == 404


def test_consultations_list_and_its_status_filter(stack, coalition):
    browser = web_session(stack)
    opened, closed = coalition["open"]["title"], coalition["closed"]["title"]
    everything = get(browser, "/consultations")
    assert everything.status_code == 200
    only_open = text_of(get(browser, "/consultations?status=OPEN"))
    assert opened in only_open and closed not in only_open
    only_closed = text_of(get(browser, "/consultations?status=CLOSED"))
    assert closed in only_closed and opened not in only_closed


def test_a_consultation_page_for_a_visitor(stack, coalition):
    c = coalition["open"]
    page = get(web_session(stack), f"/consultations/{c['id']}")
    assert page.status_code == 200
    text = text_of(page)
    assert "Adopt the <b>2027</b> strategy" in text and "&lt;b&gt;" in page.text
    assert "<svg" in page.text and "Quorum:" in text and "Responded:" in text
    assert f'<time class="countdown" datetime="{c["closesAt"]}"' in page.text
    assert "Submit stance" not in text and "Not yet responded" not in text
    assert get(web_session(stack), "/consultations/nothing-here").status_code == 404


def test_earlier_rounds_and_the_changes_between_them(stack):
    founders(stack, 1)  # someone to wait for
    c = open_consultation(stack, title="Rounds", proposal="Meet in Almaty in May",
                          closesAt=later(), quorum=1.0)
    assert close(stack, c["id"])["outcome"] == "NO_QUORUM"
    stack.gql(NEXT_ROUND, {"id": c["id"], "p": "Meet in Bishkek in May", "c": later()},
              stack.admin())
    page = get(web_session(stack, stack.admin()), f"/consultations/{c['id']}")
    text = text_of(page)
    assert "Earlier rounds" in text and "Round 1: No quorum" in text
    assert "Changes since round 1" in text
    assert re.search(r"<del>.*Almaty.*</del>", page.text) and \
        re.search(r"<ins>.*Bishkek.*</ins>", page.text)
    assert "Not yet responded" in text  # the secretariat sees who has not responded


def test_grants_and_a_grants_allocations(stack):
    [m] = founders(stack, 1)
    g = create_grant(stack, activate=True, title=f"Fund <{uuid.uuid4().hex[:6]}>",
                     currency="EUR", amount="100000.00")
    allocation = propose(stack, g["id"], m["id"], "2500.50", purpose="Community monitoring")
    approve(stack, g["id"], allocation["id"])
    assert not disburse_body(stack, allocation["id"], "1000.00", reference="PAY-77").get("errors")
    browser = web_session(stack)
    listed = get(browser, "/grants")
    assert listed.status_code == 200 and html.escape(g["title"]) in listed.text
    page = get(browser, f"/grants/{g['id']}")
    assert page.status_code == 200
    assert f'id="allocation-{allocation["id"]}"' in page.text
    text = text_of(page)
    assert "Community monitoring" in text and "PAY-77" in text and "1,000.00 EUR" in text
    assert "2,500.50 EUR" in text and "<svg" in page.text and "Available:" in text
    member_page = get(browser, f"/members/{m['id']}")
    assert f'/grants/{g["id"]}#allocation-{allocation["id"]}' in member_page.text
    assert "Allocations over time" in text_of(member_page)
    assert get(browser, "/grants/none").status_code == 404


def apply_form(**overrides):
    tag = uuid.uuid4().hex[:8]
    data = {"name": f"Applicant {tag}", "acronym": "APP", "org_type": "NGO",
            "countries": "Kyrgyzstan, kz", "region": "Central Asia",
            "constituencies": ["YOUNG_PEOPLE", "MIGRANTS"], "focal_name": "Aida",
            "focal_email": f"apply-{tag}@example.org", "focal_phone": "+996 555 123 456",
            "language": "RU"}
    data.update(overrides)
    return data


def test_applying_shows_an_error_beside_its_field_and_keeps_what_was_typed(stack):
    browser = web_session(stack)
    data = apply_form(focal_email="not-an-address", countries="Kyrgyzstan, Narnia")
    page = post_form(browser, "/apply", data)
    assert page.status_code == 400
    assert re.search(r'id="focal_email-error"[^>]*>.*?(e-mail|email)', page.text, re.S | re.I)
    assert 'id="countries-error"' in page.text and "Narnia" in page.text
    assert f'value="{data["name"]}"' in page.text and 'value="not-an-address"' in page.text
    assert re.search(r'value="MIGRANTS" checked', page.text)
    assert 'name="focal_email" type="email" value="not-an-address"' in page.text
    # the API's own refusal, beside the field it names
    page = post_form(browser, "/apply", apply_form(focal_email="still-bad@"))
    assert page.status_code == 400 and 'id="focal_email-error"' in page.text


def test_applying_for_membership(stack):
    browser = web_session(stack)
    data = apply_form()
    sent = post_form(browser, "/apply", data)
    assert sent.status_code == 303 and sent.headers["Location"] == "/apply/sent"
    done = get(browser, "/apply/sent")
    assert done.status_code == 200 and "sign in" in done.text.lower()
    listed = get(browser, f"/members?search={data['name'].split()[1]}")
    assert data["name"] in listed.text and "Candidate" in listed.text


def test_a_page_in_russian(stack, coalition):
    browser = web_session(stack)
    # not followed by requests: a redirect's own jar drops Secure cookies on http
    switched = get(browser, "/language/ru?next=/members", allow_redirects=False)
    assert switched.status_code == 303 and switched.headers["Location"] == "/members"
    assert '<html lang="ru">' in get(browser, "/members").text
    page = get(browser, f"/consultations/{coalition['open']['id']}")
    assert '<html lang="ru">' in page.text and "Предложение" in page.text


@pytest.mark.skipif(not D.HAS_VISIBILITY, reason="the API has no member visibility yet")
def test_a_members_only_member_is_invisible_to_visitors(stack):
    member_id, data = founder(stack, visibility="MEMBERS_ONLY")
    assert get(web_session(stack), f"/members/{member_id}").status_code == 404
    listed = get(web_session(stack), f"/members?search={data['name'].split()[1]}")
    assert data["name"] not in listed.text
    seen = get(web_session(stack, stack.admin()), f"/members/{member_id}")
    assert seen.status_code == 200 and data["name"] in seen.text
