"""Who is asking: `Authorization: Bearer <JWT>` (HS256) -> a Viewer.

No header: ANONYMOUS. A bad, expired or wrongly signed token, and a header
that is present but empty, is UNAUTHENTICATED, never silently anonymous.
A MEMBER token also needs its member to still act (`MemberStatuses`).
"""
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import jwt

from services.common.errors import Forbidden, Unauthenticated
from services.common.vocabulary import SECRETARIAT, MemberStatus, Role

# The roles a token can carry; a request without one is ANONYMOUS.
TOKEN_ROLES = (Role.ADMIN, Role.MEMBER)  # a tuple: a claim need not be hashable



@dataclass(frozen=True)
class Viewer:
    role: str = Role.ANONYMOUS
    member_id: str | None = None
    sub: str | None = None

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


def viewer_from_header(header: str | None, secret: str) -> Viewer:
    if header is None:
        return Viewer()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=["HS256"],
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
    return Viewer(role=role, member_id=member_id if role == Role.MEMBER else None,
                  sub=str(claims["sub"]))


def issue_token(secret: str, role: str, sub: str, member_id: str | None = None,
                ttl: timedelta = timedelta(hours=12)) -> str:
    now = datetime.now(timezone.utc)
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    if member_id:
        claims["member_id"] = member_id
    return jwt.encode(claims, secret, algorithm="HS256")


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
    """

    ACTING = frozenset({MemberStatus.CANDIDATE, MemberStatus.ACTIVE, MemberStatus.SUSPENDED})

    def __init__(self, call: Callable[..., Any], ttl: float, size: int = 10000) -> None:
        self.call = call  # call(service, method, *args): an RPC
        self.ttl = ttl
        self.size = size
        # member id -> (when it was read, its status or None if there is none, can_vote)
        self._cache: OrderedDict[str | None, tuple[float, str | None, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, member: dict | None) -> None:
        """Keep what a service just answered about a member (a view dict)."""
        if not member or "status" not in member:
            return
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
