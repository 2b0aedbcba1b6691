"""Read your writes after a consultation ends (DOMAIN.md section 5): its
outcome is applied to its subject by another service (members, grants)
from the round_closed or consultation_cancelled event, a moment after the
mutation that ended it returned. `applied` makes closeConsultation and
cancelConsultation (services/gateway/mutations.py) answer once it has."""
import logging
import time
from typing import Any, Callable

from services.common.vocabulary import (AllocationStatus, ConsultationKind, ConsultationStatus,
                                        MemberStatus, Outcome)

log = logging.getLogger("coalition.gateway")

# Outcomes another service applies to the subject (DOMAIN.md section 4), and
# how the gateway sees that they were: (service, bulk RPC, applied(subject)).
# Keyed by (kind, outcome of a CLOSED consultation or its status otherwise).
Applies = tuple[str, str, Callable[[dict], bool]]
APPLIED_BY: dict[tuple[str, str | None], Applies] = {
    (ConsultationKind.MEMBERSHIP_ADMISSION, Outcome.ADOPTED):
        ("members", "get_many", lambda m: m["status"] != MemberStatus.CANDIDATE),
    (ConsultationKind.MEMBERSHIP_ADMISSION, ConsultationStatus.CANCELLED):
        ("members", "get_many", lambda m: m["status"] != MemberStatus.CANDIDATE),
    (ConsultationKind.MEMBER_SUSPENSION, Outcome.ADOPTED):
        ("members", "get_many", lambda m: m["status"] != MemberStatus.ACTIVE),
    (ConsultationKind.GRANT_ALLOCATION, Outcome.ADOPTED):
        ("grants", "get_allocations", lambda a: a["status"] != AllocationStatus.PROPOSED),
    (ConsultationKind.GRANT_ALLOCATION, ConsultationStatus.CANCELLED):
        ("grants", "get_allocations", lambda a: a["status"] != AllocationStatus.PROPOSED),
}
OUTCOME_WAIT_SECONDS = 5.0


def subject_applies(consultation: dict) -> Applies | None:
    """The APPLIED_BY rule of a consultation that ended, or None when no
    other service applies its outcome to a subject."""
    ended = (consultation.get("outcome") if consultation["status"] == ConsultationStatus.CLOSED
             else consultation["status"])
    rule = APPLIED_BY.get((consultation["kind"], ended))
    return rule if rule is not None and consultation.get("subject_id") else None


def reached(ctx: Any, rule: Applies, subject_id: str) -> bool:
    """Whether the subject shows the outcome (or is gone)."""
    service, method, done = rule
    found = ctx.call(service, method, [subject_id])
    if service == "members" and found:
        ctx.members.remember(found[0])
    return not found or done(found[0])


def applied(ctx: Any, consultation: dict) -> dict:
    """Return once the consultation's outcome has reached its subject.

    Read your writes (DOMAIN.md section 5): after closeConsultation returned
    an adopted admission, the new member's signMou must find it ACTIVE, but
    members applies the outcome from the round_closed event a moment later.
    So the mutation waits until it has, at most OUTCOME_WAIT_SECONDS
    (then it answers anyway: the outcome is decided and will be applied)."""
    rule = subject_applies(consultation)
    if rule is None:
        return consultation
    deadline = time.monotonic() + OUTCOME_WAIT_SECONDS
    while not reached(ctx, rule, consultation["subject_id"]):
        if time.monotonic() > deadline:
            log.warning("outcome of consultation %s not yet applied after %.0fs",
                        consultation["id"], OUTCOME_WAIT_SECONDS)
            break
        time.sleep(0.05)
    return consultation
