"""Sign-in rules (DOMAIN.md section 7, docs/accounts.md) as pure functions.

No I/O here: the service reads, calls these, and writes what they return.

Invariants:
- a code is CODE_LENGTH symbols of ALPHABET (no 0/O/1/I), shown as
  XXXX-XXXX-XXXX: the first LOCATOR_LENGTH are its *locator* (they find the
  pending code, and so its address, when the rest is wrong), the other
  SECRET_LENGTH its secret (40 bits). Only `code_hash` of it is stored;
- an address is stored with a code only as `address_key`, a keyed hash: a
  code document never holds an address, an audit entry never holds an
  address nor a code;
- a person is {"id", "role", "member_id"}: a secretariat person (ADMIN, its
  id its document's in `people`) or the focal point of a member that is
  CANDIDATE, ACTIVE or SUSPENDED (MEMBER, id "focal-point:<member id>");
- a code signs in once: PENDING -> USED (or VOID), never back;
- a session is live until its expiry or its revocation, whichever comes first.
"""
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from services.common.vocabulary import SECRETARIAT, AuditAction, MemberStatus, Role

Doc = dict[str, Any]
Person = dict[str, Any]  # {"id", "role", "member_id"}

ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LOCATOR_LENGTH: Final = 4
SECRET_LENGTH: Final = 8
CODE_LENGTH: Final = LOCATOR_LENGTH + SECRET_LENGTH
GROUP: Final = 4  # symbols between dashes when shown

FOCAL_POINT_PREFIX: Final = "focal-point:"
# the members whose focal point signs in (the statuses a MEMBER token acts in)
ACTING: Final = frozenset({MemberStatus.CANDIDATE, MemberStatus.ACTIVE, MemberStatus.SUSPENDED})
# a member entering one of these loses its sessions and pending codes
REVOKING: Final = frozenset({MemberStatus.WITHDRAWN, MemberStatus.REJECTED})

# the one answer to a code that does not sign in, whatever the reason (so
# that it tells nothing about which codes exist)
WRONG_CODE: Final = "This sign-in code is wrong, used or expired. Ask for a new one."
LAST_PERSON: Final = "The secretariat must keep at least one person."

# requests and wrong codes are counted per address over this sliding window
WINDOW: Final = timedelta(hours=1)


class CodeStatus(StrEnum):
    PENDING, USED, VOID = "PENDING", "USED", "VOID"


# ---- codes and keyed hashes -----------------------------------------------------------

def new_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh code, normalised (CODE_LENGTH symbols, no dashes)."""
    return "".join(choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    """A normalised code as people read it: XXXX-XXXX-XXXX."""
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def normalise_code(text: object) -> str | None:
    """The code typed: upper-cased, without spaces and dashes; None unless it
    is then CODE_LENGTH symbols of ALPHABET (such input is simply wrong)."""
    if not isinstance(text, str) or len(text) > 100:
        return None
    code = "".join(text.upper().split()).replace("-", "")
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def locator_of(code: str) -> str:
    return code[:LOCATOR_LENGTH]


def keyed(secret: str, purpose: str, text: str) -> str:
    """hmac_sha256(secret, "<purpose>:<text>") as hex."""
    return hmac.new(secret.encode(), f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()


def code_hash(secret: str, code: str) -> str:
    """What is stored of a (normalised) code."""
    return keyed(secret, "code", code)


def email_key(address: str) -> str:
    """An address compared case-insensitively: stripped and case-folded."""
    return address.strip().casefold()


def address_key(secret: str, address: str) -> str:
    """What is stored of an address with its codes and counters."""
    return keyed(secret, "address", email_key(address))


# ---- people --------------------------------------------------------------------------

def secretariat_person(person_id: str) -> Person:
    return {"id": person_id, "role": str(Role.ADMIN), "member_id": None}


def focal_point_id(member_id: str) -> str:
    return FOCAL_POINT_PREFIX + member_id


def focal_point_person(member: Mapping[str, Any] | None) -> Person | None:
    """The person who signs in for the member members.find_by_focal_point
    found, or None if it found none or the member does not act."""
    if not member or member.get("status") not in ACTING or not isinstance(member.get("id"), str):
        return None
    return {"id": focal_point_id(member["id"]), "role": str(Role.MEMBER),
            "member_id": member["id"]}


def recipient_of(person: Person) -> str:
    """Whose language the sign-in mail speaks (notifications' recipient):
    the member's, or the secretariat's."""
    return str(person["member_id"]) if person["role"] == Role.MEMBER else SECRETARIAT


def member_acts(members: Sequence[Mapping[str, Any]], member_id: str) -> bool:
    """Whether members.get_many's answer shows `member_id` CANDIDATE, ACTIVE or SUSPENDED."""
    return any(m.get("id") == member_id and m.get("status") in ACTING for m in members)


def new_person(person_id: str, email: str, name: str, by: str, now: datetime) -> Doc:
    return {"_id": person_id, "email": email.strip(), "email_key": email_key(email),
            "name": name, "added_at": now, "added_by": by}


# ---- codes -----------------------------------------------------------------------------

def new_code_doc(code_id: str, code: str, secret: str, address: str, person: Person,
                 now: datetime, minutes: float) -> Doc:
    """The stored code: its hash, its locator, its address's key, never the
    code nor the address."""
    return {"_id": code_id, "locator": locator_of(code), "hash": code_hash(secret, code),
            "address_key": address_key(secret, address), "person": dict(person),
            "recipient": recipient_of(person), "created_at": now,
            "expires_at": now + timedelta(minutes=minutes), "status": str(CodeStatus.PENDING)}


def usable(code_doc: Mapping[str, Any] | None, now: datetime) -> bool:
    """A code that signs in: PENDING and not expired."""
    return (code_doc is not None and code_doc["status"] == CodeStatus.PENDING
            and code_doc["expires_at"] > now)


def within_window(times: Sequence[datetime], now: datetime) -> list[datetime]:
    """The moments of `times` in the sliding WINDOW that ends now."""
    return [t for t in times if t > now - WINDOW]


def take(times: Sequence[datetime], now: datetime, limit: int) -> tuple[list[datetime], bool]:
    """(the window's moments after this request, whether it is within the
    limit). A request over the limit is not counted, so the window empties
    an hour after the requests it holds."""
    kept = within_window(times, now)
    if len(kept) >= limit:
        return kept, False
    return kept + [now], True


def tally(times: Sequence[datetime], now: datetime, keep: int) -> list[datetime]:
    """The window's moments with one more (at most the newest `keep`)."""
    return (within_window(times, now) + [now])[-keep:]


# ---- sessions and audit ------------------------------------------------------------------

def new_session(sid: str, person: Person, now: datetime, hours: float,
                client: str | None) -> Doc:
    return {"_id": sid, "person_id": person["id"], "role": person["role"],
            "member_id": person.get("member_id"), "created_at": now,
            "expires_at": now + timedelta(hours=hours), "revoked_at": None, "client": client}


def live(session: Mapping[str, Any] | None, now: datetime) -> bool:
    return (session is not None and session.get("revoked_at") is None
            and session["expires_at"] > now)


def revokes(member_status: object) -> bool:
    """Whether a member now in this status loses its sessions and codes."""
    return member_status in REVOKING


def audit_entry(entry_id: str, action: AuditAction, person_id: str | None,
                client: str | None, now: datetime) -> Doc:
    """One line of the audit: when, what, who (a person id) and from where
    (the client's address). Never an e-mail address, never a code."""
    return {"_id": entry_id, "at": now, "action": str(action), "person_id": person_id,
            "client": client}


def counted(number: int, noun: str) -> str:
    """"1 sign-in code", "2 sign-in codes"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def erasure_words(codes: int, sessions: int) -> list[str]:
    """What a member's erasure removed here, in plain English ([] for nothing)."""
    return [counted(number, noun) for number, noun in ((codes, "sign-in code"),
                                                       (sessions, "sign-in session")) if number]
