"""Who is asking: `Authorization: Bearer <JWT>` (HS256) -> a Viewer.

No header: ANONYMOUS. A bad, expired or wrongly signed token is
UNAUTHENTICATED, never silently anonymous.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt

from services.common.errors import Forbidden, Unauthenticated

ADMIN, MEMBER, ANONYMOUS = "ADMIN", "MEMBER", "ANONYMOUS"


@dataclass(frozen=True)
class Viewer:
    role: str = ANONYMOUS
    member_id: str = None
    sub: str = None

    @property
    def actor(self):
        return {"role": self.role, "member_id": self.member_id, "sub": self.sub}

    def is_admin(self):
        return self.role == ADMIN

    def is_member(self, member_id):
        return self.role == MEMBER and self.member_id == member_id

    def require_token(self):
        if self.role == ANONYMOUS:
            raise Unauthenticated("Sign in: this needs a token (Authorization: Bearer ...).")

    def require_admin(self):
        self.require_token()
        if self.role != ADMIN:
            raise Forbidden("Only the secretariat (ADMIN) can do this.")

    def require_admin_or_member(self, member_id):
        self.require_token()
        if not (self.is_admin() or self.is_member(member_id)):
            raise Forbidden("Only the secretariat (ADMIN) or the member itself can do this.")


def viewer_from_header(header, secret):
    if not header:
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
    if role not in (ADMIN, MEMBER):
        raise Unauthenticated("The token's role is not ADMIN or MEMBER.")
    member_id = claims.get("member_id")
    if role == MEMBER and (not isinstance(member_id, str) or not member_id):
        raise Unauthenticated("A MEMBER token must name its member_id.")
    return Viewer(role=role, member_id=member_id if role == MEMBER else None, sub=str(claims["sub"]))


def issue_token(secret, role, sub, member_id=None, ttl=timedelta(hours=12)):
    now = datetime.now(timezone.utc)
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    if member_id:
        claims["member_id"] = member_id
    return jwt.encode(claims, secret, algorithm="HS256")
