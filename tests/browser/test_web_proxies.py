"""Proxies and hidden results in a real browser (issue 18, DOMAIN.md section
9), on a stack of the module's own (its home page lists the first open
rounds, which the suite's shared stack has hundreds of): a member offers its
proxy, the holder accepts it on its home page and gives the granter's stance
through the stance form's "for" choice, with JavaScript on and off; axe-core
finds no violation on the pages and forms of proxies and hidden results, in
English and Russian, for a member, the secretariat and an anonymous visitor."""
import uuid

import pytest

from tests.browser.support import NAMES, STANCES, add_session_cookie, assert_accessible
from tests.helpers.consultations import cast, open_consultation
from tests.helpers.web import module_stack  # noqa: F401 (stack: the module's own)
from tests.support import founders

SCRIPT = [pytest.param(True, id="javascript"), pytest.param(False, id="no-javascript")]
STANCES_OF = """query($id: ID!) { consultation(id: $id) {
  stances { member { id } value castBy { id } } } }"""
GRANT = "mutation($c: ID!, $h: ID!) { grantProxy(consultationId: $c, holderId: $h) { id } }"
ACCEPT = "mutation($id: ID!) { acceptProxy(id: $id) { id } }"


@pytest.fixture(scope="module")
def trio(stack):
    """Three founders (ACTIVE, MoU signed) of the module's stack."""
    return founders(stack, 3)


def signed_in(browser_context, stack, token, javascript=True):
    """A new page in a context whose session cookie holds `token`."""
    context = browser_context(javascript=javascript)
    add_session_cookie(context, stack, token)
    return context.new_page()


def status_of(page):
    return page.get_by_role("status").inner_text().strip()


@pytest.mark.parametrize("javascript", SCRIPT)
def test_offer_accept_on_home_and_give_the_stance_by_proxy(stack, browser_context, trio,
                                                           javascript):
    granter, holder, _ = trio
    c = open_consultation(stack, title=f"Proxy {uuid.uuid4().hex[:6]}")
    mine = signed_in(browser_context, stack, stack.member_token(granter["id"]), javascript)
    mine.goto(f"/consultations/{c['id']}")
    mine.get_by_role("combobox", name="Give my proxy to", exact=True).select_option(holder["id"])
    mine.get_by_role("button", name="Offer my proxy", exact=True).click()
    mine.wait_for_load_state()
    assert status_of(mine).startswith("Your proxy is offered.")
    proxies = mine.get_by_role("region", name="Proxies", exact=True).inner_text()
    assert f"To {holder['name']}: Offered, waiting for an answer" in proxies

    theirs = signed_in(browser_context, stack, stack.member_token(holder["id"]), javascript)
    theirs.goto("/")
    offer = theirs.get_by_role("region", name="Proxies given to you", exact=True).locator(
        "li", has_text=c["title"])
    assert f"{granter['name']} offers you its proxy" in offer.inner_text()
    offer.get_by_role("button", name="Accept", exact=True).click()
    theirs.wait_for_load_state()
    assert status_of(theirs).startswith("You accepted the proxy")

    theirs.goto(f"/consultations/{c['id']}")
    theirs.get_by_role("radio", name=f"{granter['name']}, by its proxy", exact=True).check()
    theirs.get_by_role("radio", name=STANCES["RESERVATIONS"], exact=True).check()
    theirs.get_by_role("textbox", name=NAMES["reason"], exact=True).fill("Costs are unclear.")
    theirs.get_by_role("button", name=NAMES["submit_stance"], exact=True).click()
    theirs.wait_for_load_state()
    assert status_of(theirs) == "The stance is recorded for the member whose proxy you hold."
    stances = stack.gql(STANCES_OF, {"id": c["id"]}, stack.admin())["consultation"]["stances"]
    assert {"member": {"id": granter["id"]}, "value": "RESERVATIONS",
            "castBy": {"id": holder["id"]}} in stances

    mine.goto(f"/consultations/{c['id']}")
    assert f"by {holder['name']}, which held your proxy." in mine.get_by_role(
        "region", name="Your stance", exact=True).inner_text()


@pytest.fixture(scope="module")
def scene(stack, trio):
    """An open round where the first founder offered its proxy to the second,
    which accepted it; a hidden round the first answered."""
    granter, holder, _ = trio
    shown = open_consultation(stack, title=f"Shown {uuid.uuid4().hex[:6]}")
    proxy = stack.gql(GRANT, {"c": shown["id"], "h": holder["id"]},
                      stack.member_token(granter["id"]))["grantProxy"]
    stack.gql(ACCEPT, {"id": proxy["id"]}, stack.member_token(holder["id"]))
    offered = open_consultation(stack, title=f"Offered {uuid.uuid4().hex[:6]}")
    stack.gql(GRANT, {"c": offered["id"], "h": holder["id"]}, stack.member_token(granter["id"]))
    hidden = open_consultation(stack, title=f"Hidden {uuid.uuid4().hex[:6]}",
                               resultsVisibility="HIDDEN_UNTIL_CLOSED")
    assert not cast(stack, hidden["id"], granter["id"], "AGREE").get("errors")
    return {"shown": shown["id"], "hidden": hidden["id"]}


PAGES = [("granter", "/consultations/{shown}"), ("holder", "/consultations/{shown}"),
         ("holder", "/"), ("third", "/consultations/{shown}?find=Network"),
         ("holder", "/consultations/{hidden}"), ("granter", "/consultations/{hidden}"),
         ("anonymous", "/consultations/{hidden}"), ("secretariat", "/secretariat"),
         ("secretariat", "/secretariat/consultations/{shown}"),
         ("secretariat", "/secretariat/consultations/{hidden}"),
         ("secretariat", "/secretariat/consultations/new")]


def token_of(stack, trio, who):
    granter, holder, third = trio
    return {"granter": stack.member_token(granter["id"]),
            "holder": stack.member_token(holder["id"]),
            "third": stack.member_token(third["id"]), "secretariat": stack.admin(),
            "anonymous": None}[who]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_axe_finds_no_violation_on_the_pages_of_proxies_and_hidden_results(
        stack, browser_context, trio, scene, language):
    for who, path in PAGES:
        token = token_of(stack, trio, who)
        page = signed_in(browser_context, stack, token) if token else browser_context().new_page()
        address = path.format(**scene)
        page.goto(f"/language/{language}?next={address}" if language == "ru" else address)
        assert page.locator("html").get_attribute("lang") == language
        assert_accessible(page, f"{address} for {who} in {language}")
        page.context.close()


def test_axe_finds_no_violation_on_proxy_forms_showing_their_errors(stack, browser_context,
                                                                    trio, scene):
    third = trio[2]
    page = signed_in(browser_context, stack, stack.member_token(third["id"]))
    page.goto(f"/consultations/{scene['shown']}")
    page.get_by_role("button", name="Offer my proxy", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#holder-error").is_visible()
    combobox = page.get_by_role("combobox", name="Give my proxy to", exact=True)
    assert combobox.get_attribute("aria-invalid") == "true"
    assert_accessible(page, "the offer form with an error")

    page.get_by_role("radio", name=STANCES["AGREE"], exact=True).check()
    page.evaluate("""() => {  // a stance "for" a member whose proxy it does not hold
        const form = document.getElementById('stance-form');
        const field = document.createElement('input');
        field.type = 'hidden'; field.name = 'for'; field.value = '%s';
        form.appendChild(field); }""" % trio[0]["id"])
    page.get_by_role("button", name=NAMES["submit_stance"], exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#for-error").is_visible()
    assert_accessible(page, "the stance form with a refused proxy")
