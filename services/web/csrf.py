"""The token every form of the web app carries (CSRF), as OWASP's "signed
double-submit cookie" describes it.

A browser gets a random value in the cookie CSRF_COOKIE (HttpOnly,
SameSite=Lax) on its first page. Each form holds `token(secret, value,
sid)`: an HMAC of that value and of the session the page was made for. A
POST is served only if its `csrf_token` field equals the token of its own
cookie and session (`valid`), and if its Origin, when present, is ours
(services/gateway/signin.same_origin).

Invariants:
- another site can neither read the cookie nor compute the token (it needs
  COALITION_JWT_SECRET), so it cannot make a form that passes;
- a token is bound to one session: after signing in or out, forms made
  before no longer pass (the page is simply loaded again);
- a refused POST changes nothing: the check runs before any view.
"""
import hashlib
import hmac
import secrets
from typing import Final

CSRF_COOKIE: Final = "coalition_csrf"
FIELD: Final = "csrf_token"


def new_value() -> str:
    """A new random cookie value (256 bits)."""
    return secrets.token_urlsafe(32)


def token(secret: str, value: str, sid: str | None) -> str:
    """The token of forms made for cookie `value` and session `sid` (None: no session)."""
    message = f"csrf|{value}|{sid or ''}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def valid(secret: str, value: str | None, sid: str | None, sent: str | None) -> bool:
    """Whether a POST's `sent` token is the one of its cookie `value` and session."""
    if not value or not sent:
        return False
    return hmac.compare_digest(token(secret, value, sid), sent)
