"""Member lifecycle rules (DOMAIN.md section 1) as pure functions.

No I/O here: the service loads a member, calls `transition`, saves the
result and emits the returned event.

Invariants:
- a member's status changes only through a row of MEMBER_LIFECYCLE, and each
  change adds one history entry and increases `revision` by one, so that a
  read model that keeps the highest revision holds the newest state;
- `can_vote` is ACTIVE with the MoU signed, and nothing else;
- a REJECTED member gives up its `name_key`, so the name may be used again;
- a member has a `focal_key` (its focal point's address, stripped and
  case-folded) while it is CANDIDATE, ACTIVE or SUSPENDED (FOCAL_STATUSES),
  and None otherwise: the store's unique index on it keeps one acting member
  per address (DOMAIN.md section 1), and it is what a sign-in looks up. Only
  registration sets it: no transition leads from WITHDRAWN or REJECTED back
  into FOCAL_STATUSES;
- a member has one language (DEFAULT_LANGUAGE when it was stored without
  one); changing it increases `revision` too (member_language_set) but adds
  no history entry: it is no change of status;
- a member has one visibility (DEFAULT_VISIBILITY when it was stored without
  one), in any status; changing it is like changing its language
  (member_visibility_set, revision + 1, no history entry);
- erasing a member's personal data (DOMAIN.md section 11) is allowed only in
  ERASABLE_STATUSES; it removes the focal point and nothing the coalition's
  decisions rest on (name, history, status). The first erasure sets
  `erased_at` and adds one history entry (ERASED_NOTE); an erasure with
  nothing left to remove changes nothing (no revision, no event).
"""
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.common.errors import BadUserInput, Conflict
from services.common.lifecycle import Lifecycle, either
from services.common.vocabulary import (DEFAULT_LANGUAGE, DEFAULT_VISIBILITY, ERASABLE_STATUSES,
                                        ConsultationKind, MemberStatus, Outcome)

Doc = dict[str, Any]

M = MemberStatus
MEMBER_LIFECYCLE = Lifecycle.table("member", [
    # action     from                            to           event                it cannot ...   history note
    ("admit",     {M.CANDIDATE},                  M.ACTIVE,    "member_admitted",   "be admitted",   "Admitted"),
    ("reject",    {M.CANDIDATE},                  M.REJECTED,  "member_rejected",   "be rejected",   "Rejected"),
    ("sign_mou",  {M.ACTIVE},                     M.ACTIVE,    "mou_signed",        "sign the MoU",  "MoU signed"),
    ("suspend",   {M.ACTIVE},                     M.SUSPENDED, "member_suspended",  "be suspended",  "Suspended"),
    ("reinstate", {M.SUSPENDED},                  M.ACTIVE,    "member_reinstated", "be reinstated", "Reinstated"),
    ("withdraw",  {M.ACTIVE, M.SUSPENDED, M.CANDIDATE}, M.WITHDRAWN, "member_withdrawn", "be withdrawn",
     "Withdrew membership"),
])

# the date an action records on the member, besides its status
DATED_BY = {"sign_mou": "mou_signed_at", "admit": "joined_at"}

# what an ADOPTED consultation about a member does to it
ADOPTED_ACTIONS = {ConsultationKind.MEMBERSHIP_ADMISSION: "admit",
                   ConsultationKind.MEMBER_SUSPENSION: "suspend"}

MAX_REASON_LENGTH = 2000

# the members that may still change their own settings (DOMAIN.md section 7:
# their focal point still signs in): the statuses a MEMBER token acts in
SETTINGS_STATUSES = frozenset({M.CANDIDATE, M.ACTIVE, M.SUSPENDED})

# the members whose focal point's address is theirs alone, and whose focal
# point signs in (DOMAIN.md sections 1 and 7)
FOCAL_STATUSES = SETTINGS_STATUSES

# the longest e-mail address (RFC 5321 path), as the input schema takes it
MAX_ADDRESS_LENGTH = 254

# the history note of an erasure of personal data (DOMAIN.md section 11)
ERASED_NOTE = "Personal data erased"
# what an erasure says it removed from the member's record (`removed`)
FOCAL_POINT_REMOVED = "the focal point's name, e-mail address and phone from the member's record"


def can_vote(member: Mapping[str, Any]) -> bool:
    return member["status"] == MemberStatus.ACTIVE and member.get("mou_signed_at") is not None


def focal_key(address: str) -> str:
    """The key that makes a focal point's address unique: stripped and
    case-folded, so that "Focal@Example.org " and "focal@example.org" clash."""
    return address.strip().casefold()


def focal_key_of(member: Mapping[str, Any]) -> str | None:
    """The `focal_key` a member stored with `status` must have: its focal
    point's key while it is in FOCAL_STATUSES, else None."""
    if member["status"] not in FOCAL_STATUSES:
        return None
    return focal_key(member["focal_point"]["email"])


def lookup_key(address: object) -> str | None:
    """The focal_key to look `address` up by, or None for anything that is
    not a non-empty text of at most MAX_ADDRESS_LENGTH characters (never an
    error: the caller is told nothing about what it sent)."""
    if not isinstance(address, str) or len(address) > MAX_ADDRESS_LENGTH:
        return None
    return focal_key(address) or None


def search_terms(name: str, acronym: str | None) -> list[str]:
    """Case-folded words of name and acronym: `search` matches word prefixes."""
    words = f"{name} {acronym or ''}".casefold().split()
    return sorted(set(words))


def new_member(data: Mapping[str, Any], now: datetime, founding: bool) -> Doc:
    """A member from validated input: ACTIVE with MoU (founding) or CANDIDATE."""
    status = MemberStatus.ACTIVE if founding else MemberStatus.CANDIDATE
    note = "Registered as a founding member; MoU signed" if founding else "Applied for membership"
    return {
        **data,
        "name_key": data["name"].casefold(),
        "focal_key": focal_key(data["focal_point"]["email"]),
        "search_terms": search_terms(data["name"], data.get("acronym")),
        "status": status,
        "mou_signed_at": now if founding else None,
        "joined_at": now if founding else None,
        "history": [{"at": now, "status": status, "note": note}],
        "created_at": now,
        "revision": 1,
    }


def registration_event(founding: bool) -> str:
    """The event that announces a new member."""
    return "member_registered" if founding else "membership_applied"


def transition(member: Mapping[str, Any], action: str, now: datetime,
               note: str | None = None) -> tuple[Doc, Doc, str]:
    """Return (changes to $set, history entry, event type) or raise Conflict."""
    step = MEMBER_LIFECYCLE.step(member["status"], action)
    if action == "sign_mou" and member.get("mou_signed_at") is not None:
        raise Conflict(f"This member is {member['status']} and has already signed the MoU.")
    changes: Doc = {"status": step.target, "revision": member["revision"] + 1}
    if action in DATED_BY:
        changes[DATED_BY[action]] = now
    if step.target == MemberStatus.REJECTED:
        changes["name_key"] = None  # a rejected name may be used again
    if step.target not in FOCAL_STATUSES:
        changes["focal_key"] = None  # the address may be used again
    return changes, Lifecycle.entry(step, now, note), step.event


def withdrawal_note(reason: object) -> str | None:
    """The history note of a withdrawal: the reason given (None: the
    transition's own note), or BadUserInput if it is not a short text."""
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH):
        raise BadUserInput("The reason is not valid.",
                           {"reason": [f"At most {MAX_REASON_LENGTH} characters."]})
    return reason or None


def after_round_closed(closed: Mapping[str, Any]) -> tuple[str, str] | None:
    """(action, note) that a closed round causes on the member it is about:
    an ADOPTED admission admits, an ADOPTED suspension suspends; None for
    anything else."""
    action = ADOPTED_ACTIONS.get(closed["kind"])
    if closed["outcome"] != Outcome.ADOPTED or not closed["subject_id"] or action is None:
        return None
    return action, (f"Consultation {closed['consultation_id']} adopted in round "
                    f"{closed['round']}")


def after_cancelled(cancelled: Mapping[str, Any]) -> tuple[str, str] | None:
    """(action, note) that a cancelled consultation causes: a cancelled
    admission rejects the candidate; None for anything else."""
    if cancelled["kind"] != ConsultationKind.MEMBERSHIP_ADMISSION or not cancelled["subject_id"]:
        return None
    return "reject", (f"Admission consultation {cancelled['consultation_id']} cancelled: "
                      f"{cancelled['reason']}")


def language_of(member: Mapping[str, Any]) -> str:
    """The member's language; DEFAULT_LANGUAGE if it was stored without one."""
    return str(member.get("language") or DEFAULT_LANGUAGE)


def language_change(member: Mapping[str, Any], language: str) -> Doc | None:
    """The changes that give `member` the (valid) `language`, None if it has
    it already; Conflict naming its status unless it is CANDIDATE, ACTIVE or
    SUSPENDED."""
    if member["status"] not in SETTINGS_STATUSES:
        raise Conflict(f"This member is {member['status']}; it cannot change its language "
                       f"(only a member that is {either(SETTINGS_STATUSES)} can).")
    if language_of(member) == language:
        return None
    return {"language": language, "revision": member["revision"] + 1}


def visibility_of(member: Mapping[str, Any]) -> str:
    """The member's visibility; DEFAULT_VISIBILITY if stored without one."""
    return str(member.get("visibility") or DEFAULT_VISIBILITY)


def visibility_change(member: Mapping[str, Any], visibility: str) -> Doc | None:
    """The changes that give `member` the (valid) `visibility`, None if it
    has it already. Any status may change it: a member that left may still
    not want to be named."""
    if visibility_of(member) == visibility:
        return None
    return {"visibility": visibility, "revision": member["revision"] + 1}


def erasure(member: Mapping[str, Any], now: datetime,
            by: str) -> tuple[Doc | None, Doc | None]:
    """(changes to $set, history entry) that erase the member's personal
    data: the focal point; `erased_at`, `erased_by` (who asked: kept for
    accountability) and the entry the first time only.
    (None, None) when there is nothing left to erase. Conflict naming its
    status unless it is WITHDRAWN or REJECTED."""
    if member["status"] not in ERASABLE_STATUSES:
        raise Conflict(f"This member is {member['status']}; its personal data can be erased "
                       f"only once it is {either(ERASABLE_STATUSES)}.")
    changes: Doc = {}
    if member.get("focal_point") is not None:
        changes["focal_point"] = None
    if member.get("erased_at") is None:
        changes.update(erased_at=now, erased_by=by)
    if not changes:
        return None, None
    changes["revision"] = member["revision"] + 1
    entry = ({"at": now, "status": member["status"], "note": ERASED_NOTE}
             if "erased_at" in changes else None)
    return changes, entry


def removed_words(changes: Mapping[str, Any] | None, kept_answers: int) -> list[str]:
    """What an erasure removed, in plain words (its answer's `removed`)."""
    words = []
    if changes and "focal_point" in changes:
        words.append(FOCAL_POINT_REMOVED)
    if kept_answers == 1:
        words.append("1 kept answer of an earlier request")
    elif kept_answers > 1:
        words.append(f"{kept_answers} kept answers of earlier requests")
    return words


def event_data(member: Mapping[str, Any], note: str | None = None) -> Doc:
    """The member's state as every member event carries it (events.MemberState):
    never its focal point."""
    return {
        "member_id": member["_id"],
        "name": member["name"],
        "status": member["status"],
        "mou_signed": member.get("mou_signed_at") is not None,
        "can_vote": can_vote(member),
        "revision": member["revision"],
        "note": note,
        "language": language_of(member),
        "visibility": visibility_of(member),
    }
