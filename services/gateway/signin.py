"""Signing in (DOMAIN.md section 7): what the GraphQL mutations and the plain
pages share, and the plain pages themselves (HTML forms, English, no script,
no asset: they work without the web app).

    GET  /signin              a form to ask for a code (POST /signin/request)
                              and one to type a code (POST /signin)
    GET  /signin?code=X       "Confirm sign-in": the code in a hidden field and
                              one button (POST /signin); the GET uses nothing
    POST /signin              form field `code`: accounts.complete_sign_in; the
                              session cookie and 303 to /signin/done; a wrong,
                              used, void or expired code: the page again, 400
    POST /signin/request      form field `email`: as requestSignIn, then "If this
                              address is known, a code is on its way"
    GET  /signin/done         who is signed in (the cookie's session), a sign-out button
    POST /signout             revokes the cookie's session, clears the cookie, 303 to /signin

Invariants:
- A code is used only by a POST: mail scanners that open the link use nothing.
- Every POST is refused (403) when its `Origin` header is present and is
  neither PUBLIC_URL's origin nor the request's own (`same_origin`): no other
  site can sign a browser in (login CSRF) or out.
- The pages are never cached and run under PAGE_POLICY (no script; forms
  post only to this origin); every value shown is HTML-escaped (Jinja2
  autoescape). Referrer-Policy: no-referrer (responses.py) keeps the link's
  code out of any Referer.
- requestSignIn answers at once for every address (`request_sign_in`): it
  counts the per-client limit, then hands `accounts.request_sign_in` to a
  few threads of this process (background.py). Known and unknown addresses
  cost the same; the lookup, the per-address limit and the mail are
  accounts'.
- Nothing here logs an e-mail address or a code (a failed background call
  is logged by its error's class only).
"""
import logging
from datetime import datetime
from typing import Any, Callable, Final
from urllib.parse import urlsplit

from jinja2 import DictLoader, Environment, StrictUndefined
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from services.common.errors import BadUserInput, DomainError, Unavailable
from services.common.vocabulary import Role
from services.gateway.auth import (COOKIE, Viewer, cleared_cookie, focal_point_person,
                                   session_cookie, session_token, session_viewer,
                                   viewer_from_token)
from services.gateway.background import Background

log = logging.getLogger("coalition.gateway")

SIGN_IN_LIMIT: Final = "sign_in"  # the per-client rate limit's name (store.RateLimits)
MAX_ADDRESS: Final = 254          # longer is no address: counted, never sent on
FORM_BYTES: Final = 8 * 1024      # a sign-in form is a few dozen bytes

PAGE_POLICY: Final = ("default-src 'none'; form-action 'self'; base-uri 'none'; "
                      "frame-ancestors 'none'")
PAGE_HEADERS: Final = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store"}

OTHER_SITE: Final = ("This form was sent from another site. Open the sign-in page of the "
                     "coalition itself and try again.")
NO_ANSWER: Final = "The service did not answer. Try again in a moment."

Call = Callable[..., Any]  # call(service, method, *args): an RPC


# ---- what requestSignIn and the pages share ----------------------------------------------

def request_sign_in(ctx: Any, email: Any) -> bool:
    """requestSignIn (DOMAIN.md section 7): always True, at once. Within the
    per-client limit (SIGN_IN_PER_CLIENT_PER_HOUR, counted in the gateway's
    store that every worker shares) `accounts.request_sign_in(email, client)`
    is handed to the background (`ctx.call_later`); past it nothing is sent.
    `ctx`: limits, client, settings and call_later (context.Context)."""
    if not ctx.limits.take(SIGN_IN_LIMIT, ctx.client, ctx.settings["SIGN_IN_PER_CLIENT_PER_HOUR"]):
        log.warning("sign-in request over the per-client limit")
        return True
    if isinstance(email, str) and 0 < len(email) <= MAX_ADDRESS:
        ctx.call_later("accounts", "request_sign_in", email, ctx.client)
    return True


def complete_sign_in(call: Call, secret: str, code: Any,
                     client: str) -> tuple[str, datetime, Viewer]:
    """(the session's token, when it expires, its viewer) for a code:
    `accounts.complete_sign_in(code, client)`, whose BAD_USER_INPUT (a
    wrong, used, void or expired code) passes through as it is."""
    session = call("accounts", "complete_sign_in", code, client)
    token, expires_at = session_token(secret, session)
    return token, expires_at, session_viewer(session)


# ---- the Origin of a form's POST ------------------------------------------------------

DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL or an Origin header, lower case and
    without a default port, so equal origins compare equal; None if it
    names none ("null", garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


def same_origin(origin: str | None, public_url: str, own_url: str) -> bool:
    """Whether a POST may be served: no Origin header (an old browser, a
    script of the operator's), or one that is PUBLIC_URL's origin or the
    request's own (`own_url`: its scheme and Host)."""
    if origin is None:
        return True
    found = origin_of(origin)
    return found is not None and found in {origin_of(public_url), origin_of(own_url)}


# ---- the pages ----------------------------------------------------------------------

TEMPLATES: Final = {
    "base.html": """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }} - Coalition</title>
</head>
<body>
<main>
<h1>{{ title }}</h1>
{% if message %}<p role="alert"><strong>{{ message }}</strong></p>{% endif %}
{% block body %}{% endblock %}
</main>
</body>
</html>
""",
    "code_form.html": """<form method="post" action="/signin">
<p><label for="code">The code from the e-mail</label><br>
<input id="code" name="code" required maxlength="40" autocomplete="one-time-code"
 autocapitalize="characters" spellcheck="false" placeholder="XXXX-XXXX-XXXX"></p>
<p><button type="submit">Sign in</button></p>
</form>
""",
    "signin.html": """{% extends "base.html" %}{% block body %}
<h2>1. Ask for a code</h2>
<p>Type your e-mail address: the secretariat's, or your organisation's focal point's.
We e-mail you a code that is valid for {{ minutes }} minutes.</p>
<form method="post" action="/signin/request">
<p><label for="email">E-mail address</label><br>
<input id="email" name="email" type="email" required maxlength="254" autocomplete="email"></p>
<p><button type="submit">E-mail me a code</button></p>
</form>
<h2>2. Type the code</h2>
{% include "code_form.html" %}
{% endblock %}
""",
    "requested.html": """{% extends "base.html" %}{% block body %}
<p>If this address is known, a code is on its way. It is valid for {{ minutes }} minutes,
once. Open the link in the e-mail, or type the code here.</p>
{% include "code_form.html" %}
<p><a href="/signin">Ask for another code</a></p>
{% endblock %}
""",
    "confirm.html": """{% extends "base.html" %}{% block body %}
<p>Sign in to the coalition with the code from your e-mail?</p>
<form method="post" action="/signin">
<input type="hidden" name="code" value="{{ code }}">
<p><button type="submit">Confirm sign-in</button></p>
</form>
<p>If you did not ask to sign in, close this page: nothing happens.</p>
{% endblock %}
""",
    "done.html": """{% extends "base.html" %}{% block body %}
{% if who %}
<p>You are signed in as <strong>{{ who.name or who.email }}</strong>
{%- if who.name %} ({{ who.email }}){% endif %}, {{ who.acting }}.</p>
{% if who.expires %}<p>This session ends at {{ who.expires }} UTC at the latest.</p>{% endif %}
<form method="post" action="/signout"><p><button type="submit">Sign out</button></p></form>
{% else %}
<p>You are not signed in. <a href="/signin">Sign in</a></p>
{% endif %}
{% endblock %}
""",
    "refused.html": """{% extends "base.html" %}{% block body %}
<p><a href="/signin">Back to the sign-in page</a></p>
{% endblock %}
""",
}

ENVIRONMENT: Final = Environment(loader=DictLoader(TEMPLATES), autoescape=True,
                                 undefined=StrictUndefined)


def page(template: str, title: str, status: int = 200, message: str | None = None,
         **values: Any) -> Response:
    """A sign-in page (escaped values), never cached, under PAGE_POLICY."""
    text = ENVIRONMENT.get_template(template).render(title=title, message=message, **values)
    return Response(text, status=status, content_type="text/html; charset=utf-8",
                    headers=PAGE_HEADERS)


def see_other(location: str, cookie: str | None = None) -> Response:
    """303 to `location` (a path of ours), setting `cookie` if given."""
    response = Response("", status=303, headers={"Location": location, **PAGE_HEADERS})
    if cookie:
        response.headers["Set-Cookie"] = cookie
    return response


def rules() -> list[Rule]:
    """The routes to SignInPages (its endpoint: the Gateway's `sign_in`)."""
    return [Rule("/signin", endpoint="sign_in", methods=["GET", "POST"],
                 defaults={"action": "signin"}),
            Rule("/signin/request", endpoint="sign_in", methods=["POST"],
                 defaults={"action": "request"}),
            Rule("/signin/done", endpoint="sign_in", methods=["GET"],
                 defaults={"action": "done"}),
            Rule("/signout", endpoint="sign_in", methods=["POST"],
                 defaults={"action": "signout"})]


class PageContext:
    """What `request_sign_in` needs, for a page's request (context.Context's
    counterpart: no GraphQL, calls unnamed)."""

    def __init__(self, pages: "SignInPages", client: str) -> None:
        self.limits = pages.limits
        self.settings = pages.settings
        self.client = client
        self.background = pages.background

    def call_later(self, service: str, method: str, *args: Any) -> None:
        self.background.submit(service, method, *args)


class SignInPages:
    """The plain pages of one gateway (see the module docstring)."""

    def __init__(self, settings: dict, call: Call, limits: Any, background: Background,
                 client_address: Callable[[dict], str],
                 viewer_of: Callable[[Viewer], Viewer]) -> None:
        """`call`: an unnamed RPC; `limits`: store.RateLimits; `viewer_of`:
        the session check of a token's viewer (auth.Sessions.check and the
        member's status), raising a DomainError when it no longer acts."""
        self.settings = settings
        self.call = call
        self.limits = limits
        self.background = background
        self.client_address = client_address
        self.viewer_of = viewer_of

    def __call__(self, request: Request, action: str) -> Response:
        if request.method == "POST":
            request.max_content_length = FORM_BYTES
            request.max_form_memory_size = FORM_BYTES
            if not same_origin(request.headers.get("Origin"), self.settings["PUBLIC_URL"],
                               request.host_url):
                return page("refused.html", "Not sent from this site", 403, OTHER_SITE)
            if action == "signin":
                return self.complete(request)
            if action == "request":
                return self.requested(request)
            if action == "signout":
                return self.sign_out(request)
            raise MethodNotAllowed()
        if action == "signin":
            return self.form(request)
        if action == "done":
            return self.done(request)
        raise NotFound()

    @property
    def minutes(self) -> str:
        return f"{self.settings['SIGN_IN_CODE_MINUTES']:g}"

    def form(self, request: Request) -> Response:
        """The forms; with `?code=`, the page that confirms it (a GET never uses a code)."""
        code = request.args.get("code")
        if code:
            return page("confirm.html", "Confirm sign-in", code=code[:40])
        return page("signin.html", "Sign in", minutes=self.minutes)

    def complete(self, request: Request) -> Response:
        code = request.form.get("code", "")
        try:
            token, expires_at, _ = complete_sign_in(self.call, self.settings["COALITION_JWT_SECRET"],
                                                    code, self.client_address(request.environ))
        except Unavailable:
            return page("signin.html", "Sign in", 503, NO_ANSWER, minutes=self.minutes)
        except BadUserInput as exc:
            return page("signin.html", "Sign in", 400, str(exc), minutes=self.minutes)
        return see_other("/signin/done", session_cookie(self.settings, token, expires_at))

    def requested(self, request: Request) -> Response:
        try:
            request_sign_in(PageContext(self, self.client_address(request.environ)),
                            request.form.get("email", "").strip())
        except Unavailable:  # the gateway's store (the limits) did not answer
            return page("signin.html", "Sign in", 503, NO_ANSWER, minutes=self.minutes)
        return page("requested.html", "Check your e-mail", minutes=self.minutes)

    def session_of(self, request: Request) -> tuple[Viewer | None, bool]:
        """(the cookie's live session, whether the cookie must be cleared):
        (None, False) without a cookie; (None, True) for one that no longer
        signs in. Unavailable passes through (the session is then unknown)."""
        token = (request.cookies.get(COOKIE) or "").strip()
        if not token:
            return None, False
        try:
            viewer = viewer_from_token(token, self.settings["COALITION_JWT_SECRET"])
            if viewer.sid is None:
                return None, True  # a CLI token has no business in the cookie
            return self.viewer_of(viewer), False
        except Unavailable:
            raise
        except DomainError:
            return None, True

    def who(self, viewer: Viewer) -> dict | None:
        """What the done page says of a session: name, email, acting (words), expires."""
        if viewer.role == Role.ADMIN:
            name, email, acting = viewer.name, viewer.email, "for the secretariat"
        else:
            found = self.call("members", "get_many", [viewer.member_id])
            person = focal_point_person(found[0] if found else None)
            if person is None:
                return None
            name, email = person["name"], person["email"]
            acting = f"the focal point of {found[0].get('name') or 'your organisation'}"
        return {"name": name, "email": email, "acting": acting, "expires": ""}

    def done(self, request: Request) -> Response:
        try:
            viewer, clear = self.session_of(request)
            who = self.who(viewer) if viewer else None
        except Unavailable:
            return page("refused.html", "Signed in?", 503, NO_ANSWER)
        if who is not None and viewer is not None and viewer.expires_at is not None:
            who["expires"] = viewer.expires_at.strftime("%Y-%m-%d %H:%M")
        response = page("done.html", "Signed in" if who else "Not signed in", who=who)
        if clear:
            response.headers["Set-Cookie"] = cleared_cookie(self.settings)
        return response

    def sign_out(self, request: Request) -> Response:
        """Revoke the cookie's session (accounts.sign_out), clear the cookie,
        303 to /signin. If accounts does not answer, the cookie is kept and
        the page says so: the person can try again, the session is not left
        live behind a cleared cookie without their knowing."""
        token = (request.cookies.get(COOKIE) or "").strip()
        viewer = None
        if token:
            try:
                viewer = viewer_from_token(token, self.settings["COALITION_JWT_SECRET"])
            except DomainError:
                viewer = None  # expired or not ours: nothing to revoke
        if viewer is not None and viewer.sid:
            try:
                self.call("accounts", "sign_out", viewer.sid, self.client_address(request.environ))
            except Unavailable:
                return page("refused.html", "Not signed out", 503,
                            "The service did not answer, so you are still signed in. "
                            "Try again in a moment.")
        return see_other("/signin", cleared_cookie(self.settings))
