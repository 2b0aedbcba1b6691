"""Consensus rules (DOMAIN.md sections 2, 5 and 6) as pure functions: what
a consultation is about, its rounds, tally -> outcome, the refusals, and the
payloads of the events it announces. No I/O here: the service loads, calls
these, saves and emits.

Invariants:
- arithmetic is exact (fractions), so a quorum of 0.7 over 10 members needs
  7 responses, not 8 as `ceil(0.7 * 10)` in floating point would say;
- a round's eligible members are fixed when it opens (`snapshot`), and the
  member a case is about is never among them (no one decides their own case);
- a consultation's status goes OPEN -> CLOSED (a round closed) -> OPEN (next
  round) or CANCELLED, and only from a round that was not ADOPTED;
- a consultation opened without saying otherwise decides by DEFAULT_RULE and
  DEFAULT_QUORUM (services/common/vocabulary.py), written nowhere else.
"""
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from services.common.errors import Conflict, Forbidden
from services.common.explanations import sentence
from services.common.vocabulary import (
    DEFAULT_QUORUM, DEFAULT_RULE, ConsultationKind, ConsultationStatus, DecisionRule,
    MemberStatus, Outcome, ResultsVisibility, Role, StanceValue)

Doc = dict[str, Any]

# The tally's counter of each stance value (StanceValue.STAND_ASIDE -> "stand_aside").
STANCE_COUNTERS: Final = {value: value.lower() for value in StanceValue}


@dataclass(frozen=True)
class Tally:
    eligible: int
    agree: int = 0
    reservations: int = 0
    stand_aside: int = 0
    block: int = 0

    @property
    def responded(self) -> int:
        return sum(self.counters().values())

    @classmethod
    def from_doc(cls, doc: Mapping[str, int]) -> "Tally":
        return cls(eligible=doc.get("eligible", 0),
                   **{name: doc.get(name, 0) for name in STANCE_COUNTERS.values()})

    @classmethod
    def from_counters(cls, eligible: int, counter_docs: Iterable[Mapping[str, Any]]) -> "Tally":
        """The round's tally from its counter shards (each holds part of the counts)."""
        shards = list(counter_docs)
        return cls(eligible=eligible, **{name: sum(d.get(name, 0) for d in shards)
                                         for name in STANCE_COUNTERS.values()})

    def counters(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in STANCE_COUNTERS.values()}

    def as_doc(self) -> dict[str, int]:
        return {"eligible": self.eligible, "responded": self.responded, **self.counters()}


# ---- hidden results (DOMAIN.md section 9) ---------------------------------------

# the tally's counts no one sees while a HIDDEN_UNTIL_CLOSED round is open
HIDDEN_COUNTS: Final = tuple(STANCE_COUNTERS.values())


def results_hidden(consultation: Mapping[str, Any]) -> bool:
    """Whether the current round's values are hidden: its consultation opened
    HIDDEN_UNTIL_CLOSED (never changed after) and the round is OPEN. A
    consultation stored before visibility existed is OPEN."""
    return (consultation.get("results_visibility") == ResultsVisibility.HIDDEN_UNTIL_CLOSED
            and consultation["status"] == ConsultationStatus.OPEN)


def shown_tally(tally: Mapping[str, Any], hidden: bool) -> Doc:
    """A tally view as it may leave the service: while hidden, the four counts
    are None (eligible, responded and quorum_reached stay)."""
    return {**tally, **{name: None for name in HIDDEN_COUNTS}} if hidden else dict(tally)


# ---- the consensus arithmetic -------------------------------------------------

def exact(x: float | str | Decimal) -> Fraction:
    """A float/str/Decimal ratio as an exact Fraction of its decimal text."""
    return Fraction(Decimal(str(x)))


def required_responses(quorum: float, eligible: int) -> int:
    return math.ceil(exact(quorum) * eligible)


def quorum_reached(tally: Tally, quorum: float) -> bool:
    return tally.responded >= required_responses(quorum, tally.eligible)


def tally_view(tally: Tally, quorum: float) -> Doc:
    """A tally as a consultation shows and a closed round keeps it."""
    return {**tally.as_doc(), "quorum_reached": quorum_reached(tally, quorum)}


def outcome(tally: Tally, rule: str = DEFAULT_RULE, quorum: float = DEFAULT_QUORUM,
            threshold: float | None = None) -> Outcome:
    """The outcome of a round, from the tally alone, in the order of DOMAIN.md."""
    if not quorum_reached(tally, quorum):
        return Outcome.NO_QUORUM
    consenting = tally.agree + tally.reservations
    if rule == DecisionRule.CONSENSUS:
        if tally.block > 0:
            return Outcome.BLOCKED
    elif rule == DecisionRule.MODIFIED_CONSENSUS:
        if threshold is None:
            raise ValueError("MODIFIED_CONSENSUS needs a threshold")
        deciding = tally.responded - tally.stand_aside
        if deciding == 0:
            return Outcome.NOT_ADOPTED
        if Fraction(consenting, deciding) < exact(threshold):
            return Outcome.BLOCKED
    else:
        raise ValueError(f"unknown rule {rule!r}")
    if consenting == 0:
        return Outcome.NOT_ADOPTED
    return Outcome.ADOPTED


Explanation = tuple[str, dict[str, Any]]  # (key of explanations.SENTENCES, its params)

# the round whose deadline had passed before it opened (`late_outcome`)
LATE: Final[Explanation] = ("late", {})


def explanation(tally: Tally, rule: str, quorum: float,
                threshold: float | None = None) -> Explanation:
    """Why this outcome, as a sentence's key and its numbers
    (services/common/explanations.py), so each reader says it in its own
    language; `explain` is its English sentence."""
    result = outcome(tally, rule, quorum, threshold)
    if result == Outcome.NO_QUORUM:
        return "no_quorum", {"responded": tally.responded, "eligible": tally.eligible,
                             "needed": required_responses(quorum, tally.eligible)}
    if result == Outcome.BLOCKED and rule == DecisionRule.CONSENSUS:
        return "blocked", {"block": tally.block}
    if result == Outcome.BLOCKED:
        return "below_threshold", {"consenting": tally.agree + tally.reservations,
                                   "deciding": tally.responded - tally.stand_aside,
                                   "threshold": threshold}
    if result == Outcome.NOT_ADOPTED:
        return "none_consented", {}
    return "adopted", {"agree": tally.agree, "reservations": tally.reservations}


def explain(tally: Tally, rule: str, quorum: float, threshold: float | None = None) -> str:
    """One sentence a facilitator can read out: why this outcome."""
    return sentence(*explanation(tally, rule, quorum, threshold))


def late_outcome() -> tuple[Outcome, Explanation]:
    """(outcome, explanation) of a round whose deadline had passed before it
    could open (an allocation proposed with a deadline that passed before the
    consultation was opened): no one could respond, so NO_QUORUM whatever the
    number of eligible members (DOMAIN.md section 6). Like any NO_QUORUM, a
    next round or a cancellation can follow."""
    return Outcome.NO_QUORUM, LATE


# ---- what a consultation is about, and opening it -------------------------------

@dataclass(frozen=True)
class Case:
    """What a consultation decides and how. `beneficiary_id`: the member the
    case is about, left out of every round's eligible members."""
    kind: ConsultationKind
    title: str
    proposal: str
    subject_id: str | None = None
    beneficiary_id: str | None = None
    rule: str = DEFAULT_RULE
    quorum: float = DEFAULT_QUORUM
    threshold: float | None = None
    results_visibility: str = ResultsVisibility.OPEN


def general_case(data: Mapping[str, Any]) -> Case:
    """A GENERAL consultation from validated ConsultationInput."""
    return Case(ConsultationKind.GENERAL, data["title"], data["proposal"], rule=data["rule"],
                quorum=data["quorum"], threshold=data["threshold"],
                results_visibility=data["results_visibility"])


def hidden_by_default(case: Case, hidden_kinds: Collection[str]) -> Case:
    """A case opened without a form (a suspension, an allocation) hides its
    results until close when its kind is in HIDDEN_KINDS (DOMAIN.md section 9)."""
    if case.kind in hidden_kinds:
        return replace(case, results_visibility=ResultsVisibility.HIDDEN_UNTIL_CLOSED)
    return case


def admission_case(applied: Mapping[str, Any]) -> Case:
    """The consultation a membership application (`membership_applied`) opens."""
    return Case(ConsultationKind.MEMBERSHIP_ADMISSION, f"Admission of {applied['name']}",
                f"Admit {applied['name']} as a member of the coalition.",
                subject_id=applied["member_id"], beneficiary_id=applied["member_id"])


def suspension_case(member: Mapping[str, Any], reason: str) -> Case:
    """The consultation proposing to suspend `member` (as the members service
    has it now); Conflict unless it is ACTIVE."""
    if member["status"] != MemberStatus.ACTIVE:
        raise Conflict(f"This member is {member['status']}; only an ACTIVE member can be "
                       "proposed for suspension.")
    return Case(ConsultationKind.MEMBER_SUSPENSION, f"Suspension of {member['name']}",
                f"Suspend {member['name']} from the coalition. Reason: {reason}",
                subject_id=member["id"], beneficiary_id=member["id"])


def allocation_case(proposed: Mapping[str, Any]) -> Case:
    """The consultation an allocation (`allocation_proposed`) needs; the
    member it would pay does not vote on it."""
    return Case(ConsultationKind.GRANT_ALLOCATION,
                f"Allocation of {proposed['amount']} {proposed['currency']} "
                f"from {proposed['grant_title']}", proposed["purpose"],
                subject_id=proposed["allocation_id"], beneficiary_id=proposed["member_id"])


def snapshot(voter_ids: Iterable[str], subject_member_id: str | None = None) -> list[str]:
    """The eligible members of a new round: the members that may vote now,
    minus the member the case is about (no one decides their own case);
    sorted, each once."""
    return sorted(set(voter_ids) - {subject_member_id})


def new_consultation(consultation_id: str, case: Case, closes_at: datetime, now: datetime,
                     eligible: int, opened_by: str | None = None) -> Doc:
    """A consultation with its first round OPEN and `eligible` members in it."""
    return {"_id": consultation_id, **asdict(case), "status": ConsultationStatus.OPEN,
            "round": 1, "opened_at": now, "round_opened_at": now, "closes_at": closes_at,
            "closed_at": None, "outcome": None, "rounds": [], "opened_by": opened_by,
            "cancel_reason": None, "tally": Tally(eligible=eligible).as_doc()}


def next_round(consultation: Mapping[str, Any], proposal: str, closes_at: datetime,
               now: datetime, eligible: int) -> Doc:
    """The changes that open the round after `consultation`'s current one."""
    return {"status": ConsultationStatus.OPEN, "round": consultation["round"] + 1,
            "proposal": proposal, "closes_at": closes_at, "round_opened_at": now,
            "closed_at": None, "tally": Tally(eligible=eligible).as_doc()}


def deadline_passed(consultation: Mapping[str, Any], now: datetime) -> bool:
    return consultation["closes_at"] <= now


# ---- stances ------------------------------------------------------------------------

def voting_member(actor: object, doing: str = "cast a stance") -> str:
    """The id of the member organisation `doing` something with its own
    token (casting a stance by default); Forbidden for anyone else."""
    if not isinstance(actor, dict) or actor.get("role") != Role.MEMBER \
            or not actor.get("member_id"):
        raise Forbidden(f"Only a member organisation, with its own token, can {doing}.")
    return str(actor["member_id"])


def not_eligible() -> Forbidden:
    return Forbidden("Your organisation is not among the eligible members of this round "
                     "(members join from the next round; no one decides their own case).")


def new_stance(stance_id: str, consultation: Mapping[str, Any], member_id: str,
               stance: Mapping[str, Any], now: datetime, cast_by: str | None = None) -> Doc:
    """A member's current stance in the consultation's current round;
    `cast_by` the proxy holder that cast it for the member, if one did."""
    return {"_id": stance_id, "consultation_id": consultation["_id"],
            "round": consultation["round"], "member_id": member_id, "value": stance["value"],
            "reason": stance["reason"], "cast_at": now, "cast_by": cast_by}


def apply_stance(old_value: str | None, new_value: str) -> dict[str, int]:
    """The change to the round's counters when a member's stance goes old -> new
    (`responded` is derived from the four, so it is not a counter)."""
    inc = {STANCE_COUNTERS[StanceValue(new_value)]: 1}
    if old_value is not None:
        key = STANCE_COUNTERS[StanceValue(old_value)]
        inc[key] = inc.get(key, 0) - 1
    return {k: v for k, v in inc.items() if v}


def round_open(consultation: Mapping[str, Any], now: datetime) -> bool:
    """Whether the current round takes stances and proxies now (deadline not passed)."""
    return consultation["status"] == ConsultationStatus.OPEN and consultation["closes_at"] > now


def check_can_cast(consultation: Mapping[str, Any], now: datetime) -> None:
    if not round_open(consultation, now):
        raise Conflict(f"This consultation is {closed_word(consultation, now)}; "
                       "stances are no longer accepted.")


def closed_word(consultation: Mapping[str, Any], now: datetime) -> str:
    if consultation["status"] == ConsultationStatus.OPEN and consultation["closes_at"] <= now:
        return "past its deadline"
    return str(consultation["status"])


# ---- closing, next round, cancelling ------------------------------------------------

def check_can_close(consultation: Mapping[str, Any]) -> None:
    if consultation["status"] != ConsultationStatus.OPEN:
        raise Conflict(f"This consultation is {consultation['status']}; only an OPEN round "
                       "can be closed.")


def closed_round(consultation: Mapping[str, Any], tally: Tally, now: datetime,
                 late: bool = False) -> Doc:
    """The record of the consultation's current round as it closes with
    `tally`, kept in its `rounds`: why it closed so both as the English
    sentence (`explanation`, what the API shows) and as `reason` {key,
    params} (what notifications translate). `late`: the deadline had passed
    before the round opened, so no one could respond (`late_outcome`)."""
    decision = (consultation["rule"], consultation["quorum"], consultation["threshold"])
    result, (key, params) = (late_outcome() if late
                             else (outcome(tally, *decision), explanation(tally, *decision)))
    return {"number": consultation["round"], "proposal": consultation["proposal"],
            "outcome": result, "tally": tally_view(tally, consultation["quorum"]),
            "opened_at": consultation["round_opened_at"], "closed_at": now,
            "explanation": sentence(key, params), "reason": {"key": key, "params": params}}


def closing(closed: Mapping[str, Any], tally: Tally) -> Doc:
    """The changes to a consultation whose round closed as `closed` says."""
    return {"status": ConsultationStatus.CLOSED, "outcome": closed["outcome"],
            "closed_at": closed["closed_at"], "tally": tally.as_doc()}


def _check_after_unadopted_round(consultation: Mapping[str, Any], what: str) -> None:
    """Conflict unless the consultation's last round closed and was not ADOPTED
    (ADOPTED is final); `what` is what the refusal says may happen only then."""
    if consultation["status"] != ConsultationStatus.CLOSED \
            or consultation.get("outcome") == Outcome.ADOPTED:
        state = (consultation["status"] if consultation["status"] != ConsultationStatus.CLOSED
                 else Outcome.ADOPTED)
        raise Conflict(f"This consultation is {state}; {what} closed BLOCKED, NO_QUORUM or "
                       "NOT_ADOPTED.")


def check_can_start_next_round(consultation: Mapping[str, Any]) -> None:
    _check_after_unadopted_round(consultation, "a next round can follow only a round")


def check_can_cancel(consultation: Mapping[str, Any]) -> None:
    _check_after_unadopted_round(consultation, "it can be cancelled only after a round")


def cancelling(reason: str) -> Doc:
    return {"status": ConsultationStatus.CANCELLED, "cancel_reason": reason}


# ---- event payloads (services/common/events.py) --------------------------------------

def _about(consultation: Mapping[str, Any]) -> Doc:
    return {"consultation_id": consultation["_id"], "kind": consultation["kind"],
            "subject_id": consultation["subject_id"]}


def consultation_opened_data(consultation: Mapping[str, Any]) -> Doc:
    """`consultation_opened`, for the first round and every next one, with
    what its notifications say: the title and the round's proposal."""
    return {**_about(consultation), "round": consultation["round"],
            "eligible": consultation["tally"]["eligible"],
            "closes_at": consultation["closes_at"].isoformat(),
            "title": consultation["title"], "proposal": consultation["proposal"],
            "results_visibility": consultation.get("results_visibility",
                                                   ResultsVisibility.OPEN)}


def stance_cast_data(stance: Mapping[str, Any], replaced: bool, hidden: bool) -> Doc:
    """`stance_cast`: who responded; the value only if the round's results are
    not hidden (consumers that need values then wait for round_closed)."""
    return {"consultation_id": stance["consultation_id"], "round": stance["round"],
            "member_id": stance["member_id"], "value": None if hidden else stance["value"],
            "replaced": replaced, "cast_by": stance.get("cast_by")}


def round_closed_data(consultation: Mapping[str, Any]) -> Doc:
    """`round_closed` of a consultation after `closing` applied to it (the
    closed round last in its `rounds`): with its title, and why the round
    closed so as {key, params} (never a stance of anyone)."""
    closed = consultation["rounds"][-1] if consultation["rounds"] else {}
    return {**_about(consultation), "round": consultation["round"],
            "outcome": consultation["outcome"], "tally": consultation["tally"],
            "title": consultation["title"], "explanation": closed.get("reason")}


def consultation_cancelled_data(consultation: Mapping[str, Any]) -> Doc:
    return {**_about(consultation), "reason": consultation["cancel_reason"]}
