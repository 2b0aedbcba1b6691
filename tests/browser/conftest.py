"""Fixtures of the browser tests: one Chromium for the session (Debian's, at
/usr/bin/chromium, headless; tests/browser/support.py), and a fresh context
per use on the session's stack (tests/conftest.py).

Every test here is marked `browser` (`pytest -m "not browser"` leaves them
out). Without Chromium, or without Playwright, every one of them fails with
a message saying what to install: they are not skipped, since the web app's
quality bars are checked only here."""
from pathlib import Path

import pytest

from tests.browser.support import BrowserMissing, launch, new_context

HERE = Path(__file__).resolve().parent
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }"
NEXT_ROUND = """mutation($id: ID!, $p: String!, $c: DateTime!) {
  startNextRound(id: $id, proposal: $p, closesAt: $c) { id round } }"""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def browser():
    """The system's Chromium, driven by Playwright's sync API, for the tests of
    this package. Not longer: Playwright's sync API keeps an event loop
    running in the main thread, and the in-process tests that run after
    these (the gateway under werkzeug's test client) call asyncio.run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing = f"Playwright is not installed ({exc}): `make install` installs the test extras"
    else:
        missing = None
    if missing:
        pytest.fail(missing, pytrace=False)
    playwright = sync_playwright().start()
    try:
        try:
            chromium, missing = launch(playwright), None
        except BrowserMissing as exc:
            chromium, missing = None, str(exc)
        if missing:  # outside the except: one message, no chained traceback
            pytest.fail(missing, pytrace=False)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def browser_context(browser, stack):
    """make(javascript=True, locale="en-GB", viewport=None, **options): a new
    context (no cookies, no cache) whose relative URLs are the stack's; each
    is closed after the test."""
    made = []

    def make(javascript=True, locale="en-GB", viewport=None, **options):
        context = new_context(browser, stack.url, javascript=javascript, locale=locale,
                              viewport=viewport, **options)
        made.append(context)
        return context

    yield make
    for context in made:
        try:
            context.close()
        except Exception:
            pass


@pytest.fixture
def page(browser_context):
    """A page in a fresh context with JavaScript on, in English."""
    return browser_context().new_page()


# ---- a small coalition to look at (axe, page weight) ---------------------------------

@pytest.fixture(scope="module")
def world(stack):
    """A coalition with something on every page, built once per module
    through the API: {"member": an ACTIVE member whose focal point signs in,
    "other": another, "candidate": an applicant, "open": an open GENERAL
    consultation the member has not answered (the other agreed), "rounds":
    one in its second round (the first blocked, the proposal amended),
    "grant": an ACTIVE grant with an allocation PROPOSED to the member,
    "allocation", and the addresses "member_address", "secretariat_address"}.
    Per module: a test elsewhere may withdraw every voter (isolate_voters)."""
    from tests.helpers.consultations import cast, close, later, open_consultation
    from tests.helpers.grants import create_grant, propose
    from tests.helpers.notifications import founders_with_addresses
    from tests.helpers.sign_in import add_secretariat, new_address
    from tests.support import member_input, wait_for
    [(member, member_address), (other, _)] = founders_with_addresses(stack, 2)
    tag = member_address.split("@")[0]
    applied = stack.gql(APPLY, {"i": member_input(f"Applicant {tag}")})["applyForMembership"]
    secretariat_address = new_address("sec")
    add_secretariat(stack, secretariat_address, "Browser Secretariat")
    opened = open_consultation(stack, title=f"Strategy {tag}",
                               proposal="Adopt the 2027 strategy of the coalition.")
    cast(stack, opened["id"], other, "AGREE")
    rounds = open_consultation(stack, title=f"Statement {tag}",
                               proposal="Endorse the statement on harm reduction.")
    cast(stack, rounds["id"], other, "BLOCK", "It says nothing about young people.")
    close(stack, rounds["id"])
    stack.gql(NEXT_ROUND, {"id": rounds["id"], "p": "Endorse the statement on harm reduction "
                           "and on young people who use drugs.", "c": later()}, stack.admin())
    grant = create_grant(stack, activate=True, currency="USD", amount="60000.00")
    allocation = propose(stack, grant["id"], member, "12500.50",
                         purpose="Community-led monitoring in Central Asia")
    wait_for(lambda: stack.db("consultations").consultations.find_one(
        {"subject_id": applied["id"], "kind": "MEMBERSHIP_ADMISSION"}), 20, 0.2, "admission")
    return {"member": member, "other": other, "candidate": applied["id"], "open": opened["id"],
            "rounds": rounds["id"], "grant": grant["id"], "allocation": allocation["id"],
            "member_address": member_address, "secretariat_address": secretariat_address}


@pytest.fixture(scope="module")
def role_contexts(browser, stack, world):
    """{"anonymous", "member", "secretariat"}: a context each (JavaScript on,
    English), the two signed in by their session cookie; closed after the module."""
    from tests.browser.support import signed_in_context
    made = {"anonymous": new_context(browser, stack.url),
            "member": signed_in_context(browser, stack, world["member_address"]),
            "secretariat": signed_in_context(browser, stack, world["secretariat_address"])}
    yield made
    for context in made.values():
        try:
            context.close()
        except Exception:
            pass
