"""Proxies and hidden results in the web app (issue 18, DOMAIN.md section 9)
through the real stack over HTTP, with forms posted as a browser posts them
(CSRF token and form key, no script): a member offers its proxy on the
consultation's page, the holder accepts it on / and gives the granter's
stance through the stance form's "for" choice, a granter revokes; refusals
of the API are shown beside the field or the proxy they concern; a round
opened HIDDEN_UNTIL_CLOSED shows no counts to a member, the secretariat or
an anonymous visitor until it closes, and the secretariat chooses that in
its form; the dashboard names who has not responded."""
import html
import re
import uuid

import pytest

from tests.helpers.consultations import cast, close, later, open_consultation
from services.web.views import documents as D
from tests.helpers.web import (get, module_stack, post_form, text_of,  # noqa: F401 (stack)
                               web_session)
from tests.support import founders

STANCES = """query($id: ID!) { consultation(id: $id) {
  resultsVisibility stances { member { id } value castBy { id } } } }"""
PROXIES = "query($id: ID!) { consultation(id: $id) { proxies { id status granter { id } } } }"
GRANT = """mutation($c: ID!, $h: ID!) { grantProxy(consultationId: $c, holderId: $h) {
  id status } }"""
REVOKE = "mutation($id: ID!) { revokeProxy(id: $id) { id status } }"
PROXY_ID = re.compile(r'name="action" value="(?:accept|decline|revoke)">'
                      r'<input type="hidden" name="proxy" value="([^"]+)"')


def section(page, title):
    """The text of the page's <section> whose heading is `title`."""
    found = re.search(r'<section[^>]*>\s*<h2[^>]*>' + re.escape(title) + r'</h2>(.*?)</section>',
                      page.text, re.S)
    assert found, f"no section {title!r}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


@pytest.fixture(scope="module")
def members(stack):
    """Three founders (ACTIVE, MoU signed), each with a browser signed in by
    its member token: {"a": {"id", "name", "browser"}, "b": ..., "c": ...}."""
    made = founders(stack, 3)
    return {key: {**m, "browser": web_session(stack, stack.member_token(m["id"]))}
            for key, m in zip("abc", made)}


def consultation(stack, **input):
    return open_consultation(stack, title=f"Proxy {uuid.uuid4().hex[:6]}", **input)


def offer(browser, consultation_id, holder_id):
    path = f"/consultations/{consultation_id}"
    return post_form(browser, f"{path}/proxies", {"action": "offer", "holder": holder_id},
                     page=path)


def test_offer_accept_on_home_cast_for_the_granter(stack, members):
    a, b = members["a"], members["b"]
    c = consultation(stack)
    path = f"/consultations/{c['id']}"
    page = get(a["browser"], path)
    assert "Offer your proxy" in page.text
    assert re.search(rf'<option value="{b["id"]}">{re.escape(b["name"])}</option>', page.text)
    assert f'<option value="{a["id"]}"' not in page.text, "never to oneself"

    offered = offer(a["browser"], c["id"], b["id"])
    assert offered.status_code == 303, offered.text
    assert offered.headers["Location"] == f"{path}?done=proxy-offered"
    mine = get(a["browser"], offered.headers["Location"])
    proxies = section(mine, "Proxies")
    assert f"To {b['name']}: Offered, waiting for an answer" in proxies
    assert "Revoke my proxy" in proxies and "Offer your proxy" not in proxies

    home = get(b["browser"], "/")
    offers = section(home, "Proxies given to you")
    assert f"{a['name']} offers you its proxy in “{c['title']}”." in offers
    [proxy] = stack.gql(PROXIES, {"id": c["id"]}, stack.admin())["consultation"]["proxies"]
    proxy_id = proxy["id"]
    assert f'name="proxy" value="{proxy_id}"' in home.text
    accepted = post_form(b["browser"], "/", {"action": "accept", "proxy": proxy_id})
    assert accepted.status_code == 303 and accepted.headers["Location"] == "/?done=proxy-accepted"
    after = get(b["browser"], "/?done=proxy-accepted")
    assert "You accepted the proxy" in text_of(after)
    assert f"{c['title']} : for {a['name']}" in section(after, "Proxies given to you")

    form = get(b["browser"], path)
    assert "Give the stance of" in form.text
    assert f"My organisation ({b['name']})" in text_of(form)
    assert re.search(rf'value="{a["id"]}" checked', form.text) is None, "own stance first"
    given = post_form(b["browser"], path, {"for": a["id"], "value": "STAND_ASIDE", "reason": ""})
    assert given.status_code == 303 and given.headers["Location"] == f"{path}?done=stance-proxy"
    stances = stack.gql(STANCES, {"id": c["id"]}, stack.admin())["consultation"]["stances"]
    assert {"member": {"id": a["id"]}, "value": "STAND_ASIDE", "castBy": {"id": b["id"]}} in stances
    granter_page = text_of(get(a["browser"], path))
    assert ("Your stance: Stand aside , given" in granter_page
            and f"by {b['name']}, which held your proxy." in granter_page)
    assert f"by proxy: {b['name']}" in granter_page, "the stance list names the holder"
    assert "Used" in section(get(a["browser"], path), "Proxies")

    own = post_form(b["browser"], path, {"for": "", "value": "AGREE", "reason": ""})
    assert own.status_code == 303 and own.headers["Location"] == f"{path}?done=stance"
    assert "Give the stance of" not in get(b["browser"], path).text, "no proxy left to use"


def test_a_granter_revokes_its_proxy(stack, members):
    a, c_member = members["a"], members["c"]
    c = consultation(stack)
    path = f"/consultations/{c['id']}"
    assert offer(a["browser"], c["id"], c_member["id"]).status_code == 303
    page = get(a["browser"], path)
    [proxy_id] = PROXY_ID.findall(page.text)
    revoked = post_form(a["browser"], f"{path}/proxies", {"action": "revoke", "proxy": proxy_id},
                        page=path)
    assert revoked.status_code == 303 and revoked.headers["Location"] == f"{path}?done=proxy-revoked"
    after = get(a["browser"], revoked.headers["Location"])
    assert "Your proxy is revoked." in text_of(after)
    proxies = section(after, "Proxies")
    assert f"To {c_member['name']}: Revoked" in proxies and "Offer your proxy" in proxies
    assert [p["status"] for p in stack.gql(PROXIES, {"id": c["id"]}, stack.admin())[
        "consultation"]["proxies"]] == ["REVOKED"]
    assert "Proxies given to you" not in get(c_member["browser"], "/").text

    # offered again, declined by the holder on the consultation's page
    assert offer(a["browser"], c["id"], c_member["id"]).status_code == 303
    held = get(c_member["browser"], path)
    assert f"From {a['name']}: Offered, waiting for an answer" in section(held, "Proxies")
    live = [p for p in stack.gql(PROXIES, {"id": c["id"]}, stack.admin())["consultation"][
        "proxies"] if p["status"] == "OFFERED"]
    declined = post_form(c_member["browser"], f"{path}/proxies",
                         {"action": "decline", "proxy": live[0]["id"]}, page=path)
    assert declined.status_code == 303
    assert declined.headers["Location"] == f"{path}?done=proxy-declined"
    assert f"From {a['name']}: Declined" in section(get(c_member["browser"], path), "Proxies")


def test_refusals_are_shown_beside_what_they_concern(stack, members):
    a, b, c_member = members["a"], members["b"], members["c"]
    c = consultation(stack)
    path = f"/consultations/{c['id']}"
    [late] = founders(stack, 1)  # not in the round's snapshot
    refused = offer(a["browser"], c["id"], late["id"])
    assert refused.status_code == 400
    beside = re.search(r'<p class="error-message" id="holder-error">(.*?)</p>', refused.text, re.S)
    assert beside and "snapshot" in beside.group(1)
    assert re.search(r'<select id="holder"[^>]*aria-invalid="true"', refused.text)

    # an offer revoked while its holder's page still shows it: CONFLICT beside it on /
    granted = stack.gql(GRANT, {"c": c["id"], "h": b["id"]}, stack.member_token(a["id"]))
    proxy_id = granted["grantProxy"]["id"]
    stack.gql(REVOKE, {"id": proxy_id}, stack.member_token(a["id"]))
    late_accept = post_form(b["browser"], "/", {"action": "accept", "proxy": proxy_id})
    assert late_accept.status_code == 409
    beside = re.search(rf'<p class="error-message" id="proxy-{proxy_id}-error">(.*?)</p>',
                       late_accept.text, re.S)
    assert beside and "REVOKED" in beside.group(1)

    # a stance for a member whose proxy one does not hold: FORBIDDEN beside "for"
    forbidden = post_form(c_member["browser"], path, {"for": a["id"], "value": "AGREE"})
    assert forbidden.status_code == 403
    assert re.search(r'<p class="error-message" id="for-error">', forbidden.text)
    assert re.search(r'value="AGREE" checked', forbidden.text), "what was typed is kept"
    assert not any(s["member"]["id"] == a["id"] for s in stack.gql(
        STANCES, {"id": c["id"]}, stack.admin())["consultation"]["stances"])


def counts_shown(page):
    return "Agreed: " in text_of(page)


def test_a_hidden_round_shows_no_counts_until_it_closes(stack, members):
    a, b = members["a"], members["b"]
    c = consultation(stack, resultsVisibility="HIDDEN_UNTIL_CLOSED")
    assert not cast(stack, c["id"], a["id"], "BLOCK", "Not this way").get("errors")
    path = f"/consultations/{c['id']}"
    pages = {"member": get(b["browser"], path), "granter": get(a["browser"], path),
             "anonymous": get(web_session(stack), path),
             "admin": get(web_session(stack, stack.admin()), f"/secretariat/consultations/{c['id']}")}
    for who, page in pages.items():
        assert page.status_code == 200, who
        text = text_of(page)
        assert not counts_shown(page) and "Blocked: " not in text, who
        assert "The stances are hidden until the round closes." in text, who
        assert "Responded: 1" in text or "1 of " in text, who
    assert "Not this way" not in pages["member"].text and "Not this way" in pages["granter"].text
    assert "Your organisation's stance" in pages["granter"].text
    assert "export.csv" not in pages["admin"].text
    assert "The CSV can be downloaded once the round closes" in text_of(pages["admin"])
    dashboard = get(web_session(stack, stack.admin()), "/secretariat")
    assert "Stances hidden until the round closes" in text_of(dashboard)

    close(stack, c["id"])
    for who, page in {"member": get(b["browser"], path), "anonymous": get(web_session(stack), path),
                      "admin": get(web_session(stack, stack.admin()),
                                   f"/secretariat/consultations/{c['id']}")}.items():
        text = text_of(page)
        assert "Blocked: 1" in text and "The stances are hidden" not in text, who
    assert "export.csv" in get(web_session(stack, stack.admin()),
                               f"/secretariat/consultations/{c['id']}").text


def test_the_secretariat_opens_a_hidden_round_and_sees_who_has_not_responded(stack, members):
    admin = web_session(stack, stack.admin())
    form = get(admin, "/secretariat/consultations/new")
    assert re.search(r'value="OPEN" checked', form.text) and "HIDDEN_UNTIL_CLOSED" in form.text
    title = f"Hidden {uuid.uuid4().hex[:6]}"
    day, time = later(7 * 86400)[:10], "12:00"
    opened = post_form(admin, "/secretariat/consultations/new", {
        "title": title, "proposal": "Suspend nobody", "closesAt": day, "closesAtTime": time,
        "rule": "CONSENSUS", "quorum": "0.5", "resultsVisibility": "HIDDEN_UNTIL_CLOSED"})
    assert opened.status_code == 303, opened.text
    consultation_id = opened.headers["Location"].split("/")[-1].split("?")[0]
    assert stack.gql(STANCES, {"id": consultation_id}, stack.admin())["consultation"][
        "resultsVisibility"] == "HIDDEN_UNTIL_CLOSED"
    page = get(admin, f"/secretariat/consultations/{consultation_id}")
    assert "Hidden until the round closes" in text_of(page)

    dashboard = get(admin, "/secretariat")
    row = re.search(rf'<tr>\s*<td><a href="/secretariat/consultations/{consultation_id}">.*?</tr>',
                    dashboard.text, re.S)
    assert row, "the round is on the dashboard"
    assert members["a"]["name"] in row.group(0) or "more" in row.group(0)
    wrong = post_form(admin, "/secretariat/consultations/new", {
        "title": title, "proposal": "x", "closesAt": day, "closesAtTime": time,
        "resultsVisibility": "SOMETIMES"})
    assert wrong.status_code == 400 and 'id="resultsVisibility-error"' in wrong.text


def test_the_proxy_pages_in_russian(stack, members):
    a, b = members["a"], members["b"]
    c = consultation(stack)
    assert offer(a["browser"], c["id"], b["id"]).status_code == 303
    for browser, path in ((a["browser"], f"/consultations/{c['id']}"), (b["browser"], "/")):
        browser.cookies.set("coalition_lang", "ru", domain="127.0.0.1", path="/")
        try:
            page = get(browser, path)
            assert page.status_code == 200 and '<html lang="ru">' in page.text
            for english in ("Proxies", "Revoke my proxy", "Accept", "Decline",
                            "Offered, waiting for an answer", "offers you its proxy"):
                assert english not in text_of(page), (path, english)
        finally:
            browser.cookies.set("coalition_lang", "en", domain="127.0.0.1", path="/")


LIVE = "{ viewer { liveProxies { id status granter { id } holder { id } consultation { id } } } }"


def test_an_offer_waits_on_home_whatever_the_number_of_open_rounds(stack, members):
    """/ lists HOME_ROUNDS open rounds, the oldest first; an offer in a newer
    one still waits there (Viewer.liveProxies), and leaves once answered."""
    a, b = members["a"], members["b"]
    for _ in range(D.HOME_ROUNDS):
        consultation(stack)  # older open rounds than the one with the offer
    c = open_consultation(stack, title=f"Newest {uuid.uuid4().hex[:6]}")
    proxy = stack.gql(GRANT, {"c": c["id"], "h": b["id"]}, stack.member_token(a["id"]))
    proxy_id = proxy["grantProxy"]["id"]
    home = get(b["browser"], "/")
    assert f'id="proxy-{proxy_id}"' in home.text and c["title"] in home.text
    # the API: the holder and the granter see it live; ADMIN and ANONYMOUS have none
    for member in (a, b):
        live = stack.gql(LIVE, None, stack.member_token(member["id"]))["viewer"]["liveProxies"]
        assert [p["id"] for p in live if p["consultation"]["id"] == c["id"]] == [proxy_id]
    assert stack.gql(LIVE, None, stack.admin())["viewer"]["liveProxies"] == []
    assert stack.gql(LIVE)["viewer"]["liveProxies"] == []
    declined = post_form(b["browser"], "/", {"action": "decline", "proxy": proxy_id})
    assert declined.status_code == 303
    assert f'id="proxy-{proxy_id}"' not in get(b["browser"], "/").text
