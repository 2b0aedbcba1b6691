"""The erasure of a member's personal data across the services (DOMAIN.md
section 11), written once for the gateway's `eraseMemberData` and the
operator's `coalition erasures replay`.

    member, removed = erase(call, member_id, by)

`call(service, method, *args)` is the caller's way to send one RPC (and to
report its errors). members goes first: it refuses (NOT_FOUND, CONFLICT
unless the member is WITHDRAWN or REJECTED) before anything is removed
anywhere, and it keeps the erasure (`erased_at`, the history entry) that
`coalition erasures list` reads. Then each of ERASE_STEPS, with the member's
id.

Invariant: every step is idempotent (a second erasure removes what is left,
and answers [] for what is already gone), so an erasure that failed half-way
is repeated as a whole, by the same call or by `coalition erasures replay`.
"""
from collections.abc import Callable
from typing import Any, Final

Call = Callable[..., Any]  # call(service, method, *args) -> the RPC's answer

# after members' own erasure, in this order: (service, RPC taking member_id)
ERASE_STEPS: Final = (("notifications", "erase_member_data"),
                      ("accounts", "erase_member_data"))


def erase(call: Call, member_id: str, by: str) -> tuple[dict[str, Any], list[str]]:
    """(the member's view after the erasure, what was removed in words, the
    members service's first). `by`: who erases (a secretariat person's name,
    or "cli"). Any error of a call is raised as the call raised it."""
    answer = call("members", "erase_member_data", member_id, by)
    removed = list(answer["removed"])
    for service, method in ERASE_STEPS:
        removed += list(call(service, method, member_id) or [])
    return answer["member"], removed
