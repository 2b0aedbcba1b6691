"""Signing in (DOMAIN.md section 7): what the GraphQL mutations and the web
app's sign-in pages (services/web/views/signin.py) share.

Invariants:
- requestSignIn answers at once for every address (`request_sign_in`): it
  counts the per-client limit, then hands `accounts.request_sign_in` to a
  few threads of this process (background.py). Known and unknown addresses
  cost the same; the lookup, the per-address limit and the mail are
  accounts'.
- A form's POST is served only from this site (`same_origin`): no other site
  can sign a browser in (login CSRF) or out.
- Nothing here logs an e-mail address or a code (a failed background call
  is logged by its error's class only).
"""
import logging
from datetime import datetime
from typing import Any, Callable, Final
from urllib.parse import urlsplit

from services.gateway.auth import Viewer, session_token, session_viewer

log = logging.getLogger("coalition.gateway")

SIGN_IN_LIMIT: Final = "sign_in"  # the per-client rate limit's name (store.RateLimits)
MAX_ADDRESS: Final = 254          # longer is no address: counted, never sent on

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
