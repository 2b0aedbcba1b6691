"""Member lifecycle rules (DOMAIN.md section 1) as pure functions.

No I/O here: the service loads a member, calls `transition`, saves the
result and emits the returned event.
"""
from services.common.errors import Conflict

CANDIDATE, ACTIVE, SUSPENDED, WITHDRAWN, REJECTED = (
    "CANDIDATE", "ACTIVE", "SUSPENDED", "WITHDRAWN", "REJECTED")

# action -> (statuses it may start from, resulting status, event it announces)
TRANSITIONS = {
    "admit": ({CANDIDATE}, ACTIVE, "member_admitted"),
    "reject": ({CANDIDATE}, REJECTED, "member_rejected"),
    "sign_mou": ({ACTIVE}, ACTIVE, "mou_signed"),
    "suspend": ({ACTIVE}, SUSPENDED, "member_suspended"),
    "reinstate": ({SUSPENDED}, ACTIVE, "member_reinstated"),
    "withdraw": ({ACTIVE, SUSPENDED, CANDIDATE}, WITHDRAWN, "member_withdrawn"),
}

ACTION_WORDS = {
    "admit": "admitted", "reject": "rejected", "sign_mou": "sign the MoU",
    "suspend": "suspended", "reinstate": "reinstated", "withdraw": "withdrawn",
}


def can_vote(member):
    return member["status"] == ACTIVE and member.get("mou_signed_at") is not None


def search_terms(name, acronym):
    """Case-folded words of name and acronym: `search` matches word prefixes."""
    words = f"{name} {acronym or ''}".casefold().split()
    return sorted(set(words))


def new_member(data, now, founding):
    """A member from validated input: ACTIVE with MoU (founding) or CANDIDATE."""
    status = ACTIVE if founding else CANDIDATE
    note = "Registered as a founding member; MoU signed" if founding else "Applied for membership"
    return {
        **data,
        "name_key": data["name"].casefold(),
        "search_terms": search_terms(data["name"], data.get("acronym")),
        "status": status,
        "mou_signed_at": now if founding else None,
        "joined_at": now if founding else None,
        "history": [{"at": now, "status": status, "note": note}],
        "created_at": now,
        "revision": 1,
    }


def transition(member, action, now, note=None):
    """Return (changes to $set, history entry, event type) or raise Conflict."""
    sources, target, event = TRANSITIONS[action]
    status = member["status"]
    if status not in sources:
        raise Conflict(f"This member is {status}; it cannot be {ACTION_WORDS[action]} "
                       f"(only a member that is {' or '.join(sorted(sources))} can).")
    if action == "sign_mou" and member.get("mou_signed_at") is not None:
        raise Conflict(f"This member is {status} and has already signed the MoU.")
    changes = {"status": target, "revision": member["revision"] + 1}
    if action == "sign_mou":
        changes["mou_signed_at"] = now
        note = note or "MoU signed"
    if action == "admit":
        changes["joined_at"] = now
    if target == REJECTED:
        changes["name_key"] = None  # a rejected name may be used again
    entry = {"at": now, "status": target, "note": note}
    return changes, entry, event


def event_data(member, note=None):
    return {
        "member_id": member["_id"],
        "name": member["name"],
        "status": member["status"],
        "mou_signed": member.get("mou_signed_at") is not None,
        "can_vote": can_vote(member),
        "revision": member["revision"],
        "note": note,
    }
