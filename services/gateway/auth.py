"""Who is asking: a JWT (HS256) -> a Viewer (DOMAIN.md sections 5 and 7).

The token comes from `Authorization: Bearer <JWT>` (API clients) or, when
that header is absent, from the session cookie COOKIE (the web app and the
plain sign-in pages, services/gateway/signin.py): `request_token`. The header
wins whenever it is present, even empty.

No header and no cookie: ANONYMOUS. A bad, expired or wrongly signed token,
and a header that is present but empty, is UNAUTHENTICATED, never silently
anonymous. A token with `sid` is a session made by signing in: it is asked
of accounts on every request (`Sessions`, no cache, so a revocation holds
from the very next request in every worker). A token without `sid` (minted
by the CLI) works as before. A MEMBER token also needs its member to still
act (`MemberStatuses`).
"""
import copy
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Final

import jwt

from services.common.errors import Forbidden, Unauthenticated
from services.common.vocabulary import SECRETARIAT, MemberStatus, Role

# The roles a token can carry; a request without one is ANONYMOUS.
TOKEN_ROLES = (Role.ADMIN, Role.MEMBER)  # a tuple: a claim need not be hashable

# The session cookie (DOMAIN.md section 7): the JWT of a session, never read by script.
COOKIE: Final = "coalition_session"
SESSION_ENDED: Final = "This session has ended; sign in again."


@dataclass(frozen=True)
class Viewer:
    """Who asks. `sid` and `person_id` only for a session (a token made by
    signing in; `person_id` is then its `sub`); `name` and `email` are a
    secretariat person's, as accounts answered for the session (a focal
    point's are its member's focalPoint); `expires_at`: the token's expiry."""
    role: str = Role.ANONYMOUS
    member_id: str | None = None
    sub: str | None = None
    sid: str | None = None
    person_id: str | None = None
    name: str | None = None
    email: str | None = None
    expires_at: datetime | None = None

    @property
    def actor(self) -> dict:
        """Who acts, as the services take it (RPC argument `actor`)."""
        return {"role": self.role, "member_id": self.member_id, "sub": self.sub}

    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def is_member(self, member_id: str) -> bool:
        return self.role == Role.MEMBER and self.member_id == member_id

    def require_token(self) -> None:
        if self.role == Role.ANONYMOUS:
            raise Unauthenticated("Sign in: this needs a token (Authorization: Bearer ...).")

    def recipient(self) -> str:
        """Whose notifications and preferences this viewer's are: its member's
        (MEMBER) or the secretariat's (ADMIN); UNAUTHENTICATED without a token."""
        self.require_token()
        return self.member_id if self.role == Role.MEMBER and self.member_id else SECRETARIAT

    def require_admin(self) -> None:
        self.require_token()
        if self.role != Role.ADMIN:
            raise Forbidden("Only the secretariat (ADMIN) can do this.")

    def require_admin_or_member(self, member_id: str) -> None:
        self.require_token()
        if not (self.is_admin() or self.is_member(member_id)):
            raise Forbidden("Only the secretariat (ADMIN) or the member itself can do this.")


def request_token(header: str | None, cookie: str | None) -> tuple[str | None, bool]:
    """(the request's token, whether it came from the cookie). The
    Authorization header wins whenever it is present, even empty (then
    UNAUTHENTICATED, as a header that is not 'Bearer <token>'); else the
    cookie's value (None without either, or with an empty cookie: ANONYMOUS)."""
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        return token.strip(), False
    if not cookie or not cookie.strip():  # none, or one cleared: no token at all
        return None, False
    return cookie.strip(), True


def viewer_from_token(token: str | None, secret: str) -> Viewer:
    """The Viewer a token's claims make (ANONYMOUS for None); UNAUTHENTICATED
    if it is not a valid token of ours. A session is not checked here
    (`Sessions.check`)."""
    if token is None:
        return Viewer()
    if not token:
        raise Unauthenticated("The token is not valid.")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired; ask for a new one.")
    except jwt.InvalidTokenError:
        raise Unauthenticated("The token is not valid.")
    role = claims.get("role")
    if role not in TOKEN_ROLES:
        raise Unauthenticated("The token's role is not ADMIN or MEMBER.")
    member_id = claims.get("member_id")
    if role == Role.MEMBER and (not isinstance(member_id, str) or not member_id):
        raise Unauthenticated("A MEMBER token must name its member_id.")
    sid = claims.get("sid")
    if sid is not None and (not isinstance(sid, str) or not sid):
        raise Unauthenticated("The token is not valid.")
    sub = str(claims["sub"])
    return Viewer(role=role, member_id=member_id if role == Role.MEMBER else None, sub=sub,
                  sid=sid, person_id=sub if sid else None,
                  expires_at=datetime.fromtimestamp(int(claims["exp"]), timezone.utc))


def viewer_from_header(header: str | None, secret: str) -> Viewer:
    """The Viewer of an Authorization header alone (no cookie, no session check)."""
    return viewer_from_token(request_token(header, None)[0], secret)


def issue_token(secret: str, role: str, sub: str, member_id: str | None = None,
                ttl: timedelta = timedelta(hours=12)) -> str:
    now = datetime.now(timezone.utc)
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    if member_id:
        claims["member_id"] = member_id
    return jwt.encode(claims, secret, algorithm="HS256")


# ---- sessions (DOMAIN.md section 7) ----------------------------------------------------

# A Person view (the API's Person): {name, email, role, member_id}.

def secretariat_person(name: str | None, email: str) -> dict:
    """A Person view of a secretariat person (role ADMIN, no member)."""
    return {"name": name, "email": email, "role": Role.ADMIN, "member_id": None}


def focal_point_person(member: dict | None) -> dict | None:
    """A Person view of a member's focal point (role MEMBER), from the member
    as the members service answers it; None without a member or an address."""
    focal = (member or {}).get("focal_point") or {}
    if member is None or not focal.get("email"):
        return None
    return {"name": focal.get("name"), "email": focal["email"], "role": Role.MEMBER,
            "member_id": member["id"]}


def aware(moment: Any) -> datetime:
    """An aware UTC datetime from what accounts answers over RPC: ISO text or
    a datetime (naive taken as UTC). ValueError for anything else."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if not isinstance(moment, datetime):
        raise ValueError("not a moment")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def session_token(secret: str, session: dict, now: datetime | None = None) -> tuple[str, datetime]:
    """(the JWT of a session, when it expires) from what
    `accounts.complete_sign_in` answered: {sid, expires_at, person_id, role,
    member_id}. Claims: sub (the person id), role, member_id (MEMBER), sid,
    iat, exp (the session's own expiry, so the token never outlives it)."""
    now = now or datetime.now(timezone.utc)
    expires_at = aware(session["expires_at"])
    claims: dict[str, Any] = {"sub": str(session["person_id"]), "role": session["role"],
                              "sid": session["sid"], "iat": now, "exp": expires_at}
    if session["role"] == Role.MEMBER:
        claims["member_id"] = session["member_id"]
    return jwt.encode(claims, secret, algorithm="HS256"), expires_at


def session_viewer(session: dict) -> Viewer:
    """The Viewer of a session as accounts describes it (complete_sign_in's
    or session's answer; name and email are a secretariat person's)."""
    role = session["role"]
    return Viewer(role=role, member_id=session.get("member_id") if role == Role.MEMBER else None,
                  sub=str(session["person_id"]), sid=session["sid"],
                  person_id=str(session["person_id"]),
                  name=session.get("name"), email=session.get("email"),
                  expires_at=aware(session["expires_at"]))


class Sessions:
    """Whether a session token's session is still live: asked of
    `accounts.session(sid)` on every request that carries one (no cache,
    so signOut and every revocation hold from the next request on, in every
    worker: one RPC per request of a signed-in person)."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call  # call(service, method, *args): an RPC

    def check(self, viewer: Viewer) -> Viewer:
        """The viewer, with its person's name and email when it is a live
        session; UNAUTHENTICATED if the session has ended (signed out,
        revoked, expired) or no longer matches the token. A viewer without
        `sid` is returned as it is."""
        if viewer.sid is None:
            return viewer
        found = self.call("accounts", "session", viewer.sid)
        if not found or found.get("sid") != viewer.sid \
                or str(found.get("person_id")) != viewer.person_id \
                or found.get("role") != viewer.role \
                or (viewer.role == Role.MEMBER and found.get("member_id") != viewer.member_id):
            raise Unauthenticated(SESSION_ENDED)
        return replace(viewer, name=found.get("name"), email=found.get("email"))


def cookie_header(token: str, seconds: int, secure: bool) -> str:
    """The Set-Cookie value that keeps a session's token for `seconds`
    (HttpOnly, SameSite=Lax, and Secure unless in development)."""
    value = (f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max(0, int(seconds))}")
    return value + ("; Secure" if secure else "")


def clear_cookie_header(secure: bool) -> str:
    """The Set-Cookie value that removes the session cookie."""
    return cookie_header("", 0, secure)


def seconds_left(expires_at: datetime, now: datetime | None = None) -> int:
    """Whole seconds until `expires_at` (0 if it has passed)."""
    now = now or datetime.now(timezone.utc)
    return max(0, int((expires_at - now).total_seconds()))


class MemberStatuses:
    """Whether a MEMBER token still acts for its member (DOMAIN.md section 5):
    only while the member exists and is CANDIDATE, ACTIVE or SUSPENDED.

    Checked on every request with a MEMBER token, from a small cache of the
    members service's answers (status and canVote only, no personal data)
    kept MEMBER_STATUS_TTL_SECONDS, so a busy member costs one `get_many`
    RPC per worker per TTL, not one per request. We chose a TTL over feeding
    the cache from member events: a gateway worker then needs no consumer of
    its own, and a change reaches every worker within the TTL. A change made
    through this worker (its mutation returns the member) is remembered at
    once. Casting a stance reads the status fresh (`fresh=True`): canVote
    must hold at the moment of the cast.

    Each request sees them through `for_request()`: the same cache, and
    what the request itself read from the members service is fresh for
    the rest of that request, so a request never asks twice about one
    member (a cast whose token check just read its member does not read
    it again). The gateway's shared instance keeps no such reads.
    """

    ACTING = frozenset({MemberStatus.CANDIDATE, MemberStatus.ACTIVE, MemberStatus.SUSPENDED})

    def __init__(self, call: Callable[..., Any], ttl: float, size: int = 10000) -> None:
        self.call = call  # call(service, method, *args): an RPC
        self.ttl = ttl
        self.size = size
        # member id -> (when it was read, its status or None if there is none, can_vote)
        self._cache: OrderedDict[str | None, tuple[float, str | None, bool]] = OrderedDict()
        self._lock = threading.Lock()
        # member id -> the member (None: there is none), as read during one
        # request; None on the shared instance (see for_request)
        self._read_now: dict[str | None, dict | None] | None = None

    def for_request(self) -> "MemberStatuses":
        """These statuses as one request sees them: the shared cache, and
        its own reads, fresh for the rest of the request."""
        view = copy.copy(self)  # shares the cache and its lock
        view._read_now = {}
        return view

    def remember(self, member: dict | None) -> None:
        """Keep what a service just answered about a member (a view dict)."""
        if not member or "status" not in member:
            return
        if self._read_now is not None:  # what the request changed is fresh for it
            self._read_now[member["id"]] = member
        with self._lock:
            self._cache[member["id"]] = (time.monotonic(), member["status"],
                                         bool(member.get("can_vote")))
            self._cache.move_to_end(member["id"])
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)

    def _known(self, member_id: str | None) -> tuple[str | None, bool] | None:
        with self._lock:
            entry = self._cache.get(member_id)
        if entry and time.monotonic() - entry[0] < self.ttl:
            return entry[1], entry[2]
        return None

    def read(self, member_id: str | None) -> dict | None:
        """The member as the members service has it now (its status
        remembered), or None if there is none."""
        found = self.call("members", "get_many", [member_id])
        if self._read_now is not None:
            self._read_now[member_id] = found[0] if found else None
        if not found:
            with self._lock:
                self._cache[member_id] = (time.monotonic(), None, False)
            return None
        self.remember(found[0])
        return found[0]

    def status(self, member_id: str | None, fresh: bool = False) -> tuple[str | None, bool]:
        """(status, can_vote) of a member, or (None, False) if there is none."""
        known = None if fresh else self._known(member_id)
        if known:
            return known
        if self._read_now is not None and member_id in self._read_now:
            member = self._read_now[member_id]  # read by this very request: fresh
        else:
            member = self.read(member_id)
        return (member["status"], bool(member.get("can_vote"))) if member else (None, False)

    def check(self, viewer: Viewer) -> None:
        """UNAUTHENTICATED unless the viewer's member may still act (a
        MEMBER's; other roles have no member to check)."""
        if viewer.role == Role.MEMBER:
            self.acting(viewer.member_id)

    def acting(self, member_id: str | None, fresh: bool = False) -> tuple[str, bool]:
        """(status, can_vote) of a member that may still act; UNAUTHENTICATED
        if it does not exist or its status is not ACTING."""
        status, can_vote = self.status(member_id, fresh)
        return self.require_acting(status), can_vote

    def acting_member(self, member_id: str | None) -> dict:
        """The member as the members service has it now, if it may still act
        (and so change its own settings); UNAUTHENTICATED otherwise."""
        member = self.read(member_id)
        self.require_acting(member["status"] if member else None)
        assert member is not None
        return member

    def require_acting(self, status: str | None) -> str:
        """`status`, if a member in it may still act; UNAUTHENTICATED otherwise
        (None: there is no such member)."""
        if status is None or status not in self.ACTING:
            raise Unauthenticated(
                "This token's member organisation "
                + ("does not exist." if status is None else f"is {status}; its tokens no longer work."))
        return status

    def require_can_vote(self, viewer: Viewer) -> None:
        """FORBIDDEN unless the viewer's member can vote right now (read fresh)."""
        status, can_vote = self.acting(viewer.member_id, fresh=True)
        if not can_vote:
            raise Forbidden(f"Your organisation cannot vote now: it is {status}"
                            + ("" if status != MemberStatus.ACTIVE else " and has not signed the MoU") + ".")

    def require_granter_can_vote(self, member_id: str) -> None:
        """FORBIDDEN unless the member a proxy holder responds for can vote
        right now (read fresh): a member suspended or withdrawn mid-round
        casts no more, by proxy either (DOMAIN.md sections 5 and 9)."""
        status, can_vote = self.status(member_id, fresh=True)
        if not can_vote:
            raise Forbidden("The member you would respond for cannot vote now"
                            + (f": it is {status}." if status else "."))


def cookie_is_secure(settings: dict) -> bool:
    """The session cookie is Secure unless COALITION_ENV is development."""
    return settings["COALITION_ENV"] != "development"


def session_cookie(settings: dict, token: str, expires_at: datetime) -> str:
    """The Set-Cookie value that keeps a session until it expires."""
    return cookie_header(token, seconds_left(expires_at), cookie_is_secure(settings))


def cleared_cookie(settings: dict) -> str:
    """The Set-Cookie value that removes the session cookie."""
    return clear_cookie_header(cookie_is_secure(settings))
