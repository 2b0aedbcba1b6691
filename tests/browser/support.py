"""Browser-test support: Debian's Chromium driven by Playwright (sync API),
signing in as a person does (the e-mailed link), axe-core on a page, and the
weight of a page on a first visit.

    browser = launch(playwright)                   # /usr/bin/chromium, headless
    context = new_context(browser, stack.url, javascript=False, locale="ru-RU")
    page = context.new_page()
    sign_in_by_mail(page, stack, address)          # the whole flow, as a person
    assert_accessible(page, "the home page")       # axe: WCAG 2.2 AA tags
    page_weight(context, stack.url + "/members")   # bytes on the wire, first visit

Invariants:
- Nothing is downloaded: the browser is the system's Chromium (CHROMIUM, or
  the COALITION_CHROMIUM environment variable); Playwright's own browser
  download does not work here. A missing browser is an error that says how
  to install it (`BrowserMissing`), never a skip: the quality bars of issue
  17 are tested in a browser, so no browser means no pass.
- Elements are found by role and exact accessible name (`NAMES`), the names
  the spec fixes, so a renamed button fails a test.
- axe-core is injected by Playwright's evaluate (CDP, not a <script>
  element), so the pages' CSP (script-src 'self') does not stop it; it
  runs only where JavaScript is on.
- The weight counts what the network carried (Chromium's
  encodedDataLength: headers and the body as sent, gzip'd when the gateway
  compressed it) with the cache disabled, so every visit is a first one.
"""
import os
import re
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

CHROMIUM = os.environ.get("COALITION_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-quic",
               "--no-first-run"]
TIMEOUT_MS = 30_000          # the machine is shared and small: generous, never hit when it works
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
INSTALL = ("Chromium is needed for the browser tests (tests/browser) and `make screenshots`, "
           "at {path} (or set COALITION_CHROMIUM). On Debian: `sudo apt-get install chromium`. "
           "Playwright's own browser download (`playwright install`) is not used.")

# The accessible names the spec fixes (English; Russian pages translate them).
NAMES = {
    "email": "E-mail address",          # the sign-in page's field
    "send": "Send sign-in code",        # ... and its button
    "confirm": "Sign in",               # the confirm page's button
    "sign_out": "Sign out",             # the header's button when signed in
    "submit_stance": "Submit stance",
    "reason": "Reason",
    "english": "English",
    "russian": "Русский",
}
STANCES = {"AGREE": "Agree", "RESERVATIONS": "Agree with reservations",
           "STAND_ASIDE": "Stand aside", "BLOCK": "Block"}

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
LINK = re.compile(r"https?://[^\s<>\"']+/signin\?code=[^\s<>\"'&]+")
WEIGHED_TYPES = ("Document", "Stylesheet", "Font", "Script")  # what the budget counts
BUDGET_BYTES = 100 * 1024


# contexts made with JavaScript off: axe cannot run there (Playwright's
# evaluate then waits for ever), so axe_check refuses them at once
_NO_SCRIPT: "weakref.WeakSet" = weakref.WeakSet()


class BrowserMissing(RuntimeError):
    """The system's Chromium is not there: the message says how to install it."""


# ---- the browser -----------------------------------------------------------------

def launch(playwright, headless=True):
    """The system's Chromium, headless, with the arguments a root user in a
    container needs (--no-sandbox) and no calls home. BrowserMissing if absent."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        raise BrowserMissing(INSTALL.format(path=CHROMIUM))
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=headless,
                                      args=LAUNCH_ARGS)


def new_context(browser, base_url, javascript=True, locale="en-GB", viewport=None, **options):
    """A fresh context (no cookies, no cache) on `base_url`: a person's
    browser opened for the first time; `javascript=False` turns scripts off."""
    context = browser.new_context(base_url=base_url, java_script_enabled=javascript,
                                  locale=locale, viewport=viewport or DESKTOP,
                                  timezone_id="UTC", **options)
    context.set_default_timeout(TIMEOUT_MS)
    if not javascript:
        _NO_SCRIPT.add(context)
    return context


# ---- signing in ------------------------------------------------------------------

def link_of(message):
    """The sign-in link of a mail (its text part, else its HTML), or None."""
    for body in (message.text or "", message.html or ""):
        found = LINK.search(body)
        if found:
            return found.group(0).rstrip(".,;:)>")
    return None


def on_stack(link, stack_url):
    """The link with its origin made the stack's: in tests PUBLIC_URL
    (https://coalition.test) names no server; the path and query stay."""
    parts, base = urlsplit(link), urlsplit(stack_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


def _sign_in_mails(stack, address):
    return [m for m in stack.mail.messages_to(address) if link_of(m)]


def mailed_link(stack, address, before, timeout=30):
    """The link of the first sign-in mail to `address` after the `before`
    that were there already (waits for it), on the stack's origin."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _sign_in_mails(stack, address)
        if len(found) > before:
            return on_stack(link_of(found[before]), stack.url)
        time.sleep(0.1)
    raise AssertionError(f"no sign-in mail with a link reached {address} within {timeout}s")


def sign_in_by_mail(page, stack, address, names=None):
    """Sign `page`'s context in as `address` as a person does: the sign-in
    page, the address typed, `Send sign-in code`, the link read from the
    mail the test's SMTP server received, opened, `Sign in`. Checks that the
    page then offers `Sign out`; returns the link used. `names` overrides
    NAMES (a page with other labels)."""
    names = {**NAMES, **(names or {})}
    before = len(_sign_in_mails(stack, address))
    page.goto(stack.url + "/signin")
    page.get_by_label(names["email"], exact=True).fill(address)
    page.get_by_role("button", name=names["send"], exact=True).click()
    page.wait_for_load_state()
    link = mailed_link(stack, address, before)
    page.goto(link)
    page.get_by_role("button", name=names["confirm"], exact=True).click()
    page.wait_for_load_state()
    sign_out = page.get_by_role("button", name=names["sign_out"], exact=True)
    assert sign_out.count() >= 1, f"not signed in after the mailed link: {page.url}\n" + \
        page.inner_text("body")[:1500]
    return link


def session_token(stack, address):
    """A session token for `address`, signed in through the API (the mailed
    code, completeSignIn): what the gateway's cookie would hold."""
    from tests.helpers.sign_in import sign_in
    session, _ = sign_in(stack, address)
    return session["token"]


def signed_in_context(browser, stack, address, **options):
    """A new context signed in as `address` by its session cookie."""
    context = new_context(browser, stack.url, **options)
    add_session_cookie(context, stack, session_token(stack, address))
    return context


def add_session_cookie(context, stack, token):
    """Put a session token (completeSignIn's) in `context` as the gateway's
    cookie: a signed-in browser without going through the pages (for tests
    whose subject is not signing in)."""
    host = urlsplit(stack.url).hostname
    context.add_cookies([{"name": "coalition_session", "value": token, "domain": host,
                          "path": "/", "httpOnly": True, "secure": False, "sameSite": "Lax"}])


# ---- what the API says ------------------------------------------------------------

MY_STANCE = """query($id: ID!) { consultation(id: $id) {
  myStance { value reason } tally { responded agree reservations standAside block } } }"""


def stance_of(stack, consultation_id, member_id):
    """{myStance, tally} of a consultation as the member's own token sees it."""
    return stack.gql(MY_STANCE, {"id": consultation_id},
                     stack.member_token(member_id))["consultation"]


# ---- accessibility -----------------------------------------------------------------

def axe_check(page, tags=AXE_TAGS):
    """axe-core's violations on `page` as it is now, for the WCAG 2.2 AA tags:
    a list of axe's violation dicts (id, impact, help, nodes[].target ...)."""
    from axe_playwright_python.sync_playwright import Axe
    if page.context in _NO_SCRIPT:
        raise ValueError("axe needs JavaScript: check the page in a context with it on")
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    page.bring_to_front()  # a hidden page's timers are throttled: axe would never finish
    return Axe().run(page, options=options).response["violations"]


def describe(violations):
    """Violations as lines a person reads: rule, impact, help, the nodes."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v.get('help')} [{v.get('helpUrl', '')}]")
        for node in v.get("nodes", [])[:10]:
            target = " ".join(str(t) for t in node.get("target", []))
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {target}: {summary[:300]}")
        if len(v.get("nodes", [])) > 10:
            lines.append(f"    ... and {len(v['nodes']) - 10} more")
    return "\n".join(lines)


def assert_accessible(page, what=None):
    """No axe violation on `page`; else an AssertionError that lists them."""
    violations = axe_check(page)
    assert not violations, (f"axe found {len(violations)} violation(s) on {what or page.url}:\n"
                            + describe(violations))


# ---- the weight of a page ------------------------------------------------------------

@dataclass(frozen=True)
class Transfer:
    """One response of a visit as the network carried it."""
    url: str
    type: str       # CDP's resource type: Document, Stylesheet, Font, Script, Image ...
    status: int
    encoding: str   # its Content-Encoding ("" for none)
    bytes: int      # encodedDataLength: headers and body as sent (compressed)


def transfers(context, url):
    """Every response of one visit to `url` in a new page of `context`, with
    the browser cache off (a first visit), until the network is idle."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    seen, done = {}, {}
    cdp.on("Network.responseReceived", lambda e: seen.__setitem__(e["requestId"], e))
    cdp.on("Network.loadingFinished",
           lambda e: done.__setitem__(e["requestId"], e["encodedDataLength"]))
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        page.goto(url, wait_until="networkidle")
    finally:
        page.close()
    found = []
    for request_id, size in done.items():
        event = seen.get(request_id)
        if event is None:
            continue
        response = event["response"]
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        found.append(Transfer(response["url"], event.get("type", "Other"), response["status"],
                              headers.get("content-encoding", ""), int(size)))
    return found


def page_weight(context, url, types=WEIGHED_TYPES):
    """Bytes on the wire for `url` on a first visit: HTML, CSS, fonts and
    scripts together, as `transfers` saw them.

    The size is CDP's Network.loadingFinished `encodedDataLength`: what
    Chromium's network stack received for each response, its headers and
    its body as sent (gzip'd when the gateway compressed it), the
    "transferred" column of DevTools. Playwright's `request.sizes()`
    (responseBodySize + responseHeadersSize) gives the same numbers over
    HTTP/1.1 (checked on /members: 4147, 2565 and 1033 bytes both ways);
    CDP is used because it also tells the resource's type and sees every
    response without waiting on each request. The decoded size (what the
    page holds after gunzip) is not what a slow connection pays for."""
    return sum(t.bytes for t in transfers(context, url) if t.type in types)


def weight_report(found):
    """The transfers of a visit as lines: type, bytes, encoding, URL."""
    return "\n".join(f"  {t.type:10} {t.bytes:7d} B {t.encoding or 'identity':8} {t.status} {t.url}"
                     for t in found)


# Every page of the web app, by who looks at it; "{name}" is an id of the
# `world` fixture (tests/browser/conftest.py).
PAGES = {
    "anonymous": ["/", "/members", "/members?search=Network", "/members/{member}",
                  "/consultations", "/consultations/{open}", "/consultations/{rounds}",
                  "/grants", "/grants/{grant}", "/apply", "/signin",
                  "/signin?code=ABCD-EFGH-JKLM", "/no-such-page"],
    "member": ["/", "/consultations/{open}", "/consultations/{open}?change=1",
               "/consultations/{rounds}", "/members/{member}", "/grants/{grant}",
               "/organisation", "/organisation/withdraw", "/preferences", "/signin/done"],
    "secretariat": ["/", "/secretariat", "/secretariat/members", "/secretariat/members/new",
                    "/secretariat/members/{candidate}", "/secretariat/members/{member}",
                    "/secretariat/consultations/new", "/secretariat/consultations/{open}",
                    "/secretariat/consultations/{rounds}", "/secretariat/grants",
                    "/secretariat/grants/new", "/secretariat/grants/{grant}",
                    "/secretariat/allocations/new", "/secretariat/disbursements/new",
                    "/secretariat/people", "/consultations/{open}"],
}
ALL_PAGES = [(role, path) for role, paths in PAGES.items() for path in paths]


def screenshot(page, path, full_page=True):
    """Save `page` as a PNG at `path` (its folder made)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
