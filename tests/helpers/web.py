"""The web app as tests reach it over HTTP with requests: a browser-like
session (its cookies kept, Secure ones too, since the test stack is plain
http on 127.0.0.1, which browsers treat as secure), the CSRF token of a
page, and a form posted the way a browser posts it."""
import contextlib
import copy
import html
import re
import pytest
import requests

from tests.support import StackHandle, member_input

COOKIE = "coalition_session"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebSession(requests.Session):
    """A browser-like session: its Secure cookies go back to
    http://127.0.0.1 too, as in browsers (requests would keep them back),
    on redirects as well."""

    def send(self, request, **kwargs):
        jar = requests.cookies.RequestsCookieJar()
        for cookie in [*getattr(request, "_cookies", []), *self.cookies]:
            kept = copy.copy(cookie)
            kept.secure = False
            jar.set_cookie(kept)
        request.headers.pop("Cookie", None)
        request.prepare_cookies(jar)
        return super().send(request, **kwargs)


def web_session(stack, token=None):
    """A requests.Session for the web app; `token`: a session JWT (or a CLI
    token) put in the session cookie."""
    session = WebSession()
    if token:
        session.cookies.set(COOKIE, token, domain="127.0.0.1", path="/")
    session.base = stack.url
    return session


def csrf_of(html):
    """The CSRF token of the first form of a page."""
    found = CSRF.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def get(session, path, **kwargs):
    return session.get(session.base + path, timeout=60, **kwargs)


def post_form(session, path, data, page=None, **kwargs):
    """POST `data` to `path` as a browser would: with the CSRF token of
    `page` (a path, default `path` itself) loaded first; redirects not
    followed, so a test sees the 303."""
    loaded = get(session, page or path.split("?")[0])
    token = csrf_of(loaded.text)
    return session.post(session.base + path, data={**data, "csrf_token": token}, timeout=60,
                        allow_redirects=False, **kwargs)


@contextlib.contextmanager
def stack_of_its_own(tmp):
    """A whole stack for one module (as tests/conftest.py's `stack`): for
    tests of pages that list the coalition's first consultations, grants or
    members, which the suite's shared stack fills with hundreds of others'."""
    handle = StackHandle(tmp)
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module", name="stack")
def module_stack(tmp_path_factory):
    """`stack` for a module that imports this: a stack of the module's own
    (its pages list a coalition's first consultations and grants, which the
    suite's shared stack has hundreds of)."""
    with stack_of_its_own(tmp_path_factory.mktemp("web-stack")) as handle:
        yield handle


def beside(page, field):
    """The error message shown beside `field` (unescaped), or None."""
    found = re.search(r'id="%s-error">(.*?)</p>' % re.escape(field), page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else None


def summary(page):
    found = re.search(r'<div class="alert" role="alert".*?</div>', page, re.S)
    return html.unescape(found.group(0)) if found else ""


REGISTER = "mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id name } }"


def text_of(page):
    """The page's text, tags left out and entities read (for `in` checks)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def founder(stack, **overrides):
    """(id, MemberInput) of a new founding member (ACTIVE, MoU signed), through the API."""
    data = member_input(**overrides)
    made = stack.gql(REGISTER, {"i": data}, stack.admin())["registerFoundingMember"]
    return made["id"], data
