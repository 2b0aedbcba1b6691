"""Consensus rules (DOMAIN.md section 2) as pure functions: tally -> outcome.

Arithmetic is exact (fractions), so a quorum of 0.7 over 10 members needs 7
responses, not 8 as `ceil(0.7 * 10)` in floating point would say.
"""
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from services.common.errors import Conflict

ADOPTED, BLOCKED, NO_QUORUM, NOT_ADOPTED = "ADOPTED", "BLOCKED", "NO_QUORUM", "NOT_ADOPTED"
CONSENSUS, MODIFIED_CONSENSUS = "CONSENSUS", "MODIFIED_CONSENSUS"
OPEN, CLOSED, CANCELLED = "OPEN", "CLOSED", "CANCELLED"
STANCE_COUNTERS = {"AGREE": "agree", "RESERVATIONS": "reservations",
                   "STAND_ASIDE": "stand_aside", "BLOCK": "block"}


@dataclass(frozen=True)
class Tally:
    eligible: int
    agree: int = 0
    reservations: int = 0
    stand_aside: int = 0
    block: int = 0

    @property
    def responded(self):
        return self.agree + self.reservations + self.stand_aside + self.block

    @classmethod
    def from_doc(cls, doc):
        return cls(**{k: doc.get(k, 0) for k in ("eligible", "agree", "reservations",
                                                  "stand_aside", "block")})

    @classmethod
    def from_counters(cls, eligible, counter_docs):
        """The round's tally from its counter shards (each holds part of the counts)."""
        counts = {name: sum(d.get(name, 0) for d in counter_docs)
                  for name in STANCE_COUNTERS.values()}
        return cls(eligible=eligible, **counts)

    def counters(self):
        return {name: getattr(self, name) for name in STANCE_COUNTERS.values()}

    def as_doc(self):
        return {"eligible": self.eligible, "responded": self.responded, "agree": self.agree,
                "reservations": self.reservations, "stand_aside": self.stand_aside,
                "block": self.block}


def exact(x):
    """A float/str/Decimal ratio as an exact Fraction of its decimal text."""
    return Fraction(Decimal(str(x)))


def required_responses(quorum, eligible):
    return math.ceil(exact(quorum) * eligible)


def quorum_reached(tally, quorum):
    return tally.responded >= required_responses(quorum, tally.eligible)


def outcome(tally, rule=CONSENSUS, quorum=0.5, threshold=None):
    """The outcome of a round, from the tally alone, in the order of DOMAIN.md."""
    if not quorum_reached(tally, quorum):
        return NO_QUORUM
    consenting = tally.agree + tally.reservations
    if rule == CONSENSUS:
        if tally.block > 0:
            return BLOCKED
    elif rule == MODIFIED_CONSENSUS:
        deciding = tally.responded - tally.stand_aside
        if deciding == 0:
            return NOT_ADOPTED
        if Fraction(consenting, deciding) < exact(threshold):
            return BLOCKED
    else:
        raise ValueError(f"unknown rule {rule!r}")
    if consenting == 0:
        return NOT_ADOPTED
    return ADOPTED


def explain(tally, rule, quorum, threshold=None):
    """One sentence a facilitator can read out: why this outcome."""
    result = outcome(tally, rule, quorum, threshold)
    need = required_responses(quorum, tally.eligible)
    if result == NO_QUORUM:
        return f"{tally.responded} of {tally.eligible} responded; {need} were needed for quorum."
    if result == BLOCKED and rule == CONSENSUS:
        return f"{tally.block} member(s) blocked."
    if result == BLOCKED:
        return (f"{tally.agree + tally.reservations} of {tally.responded - tally.stand_aside} "
                f"consented, below the threshold of {threshold}.")
    if result == NOT_ADOPTED:
        return "No one consented: every response was a stand-aside."
    return f"Adopted with {tally.agree} agree and {tally.reservations} with reservations."


def snapshot(voter_ids, subject_member_id=None):
    """The eligible members of a new round: the members that may vote now,
    minus the member the case is about (no one decides their own case);
    sorted, each once."""
    return sorted(set(voter_ids) - {subject_member_id})


def deadline_passed(consultation, now):
    return consultation["closes_at"] <= now


def late_outcome():
    """(outcome, explanation) of a round whose deadline had passed before it
    could open (an allocation proposed with a deadline that passed before the
    consultation was opened): no one could respond, so NO_QUORUM whatever the
    number of eligible members (DOMAIN.md section 6). Like any NO_QUORUM, a
    next round or a cancellation can follow."""
    return NO_QUORUM, "The deadline had passed before the round opened; no one could respond."


def apply_stance(old_value, new_value):
    """The change to the round's counters when a member's stance goes old -> new
    (`responded` is derived from the four, so it is not a counter)."""
    inc = {STANCE_COUNTERS[new_value]: 1}
    if old_value is not None:
        key = STANCE_COUNTERS[old_value]
        inc[key] = inc.get(key, 0) - 1
    return {k: v for k, v in inc.items() if v}


def check_can_cast(consultation, now):
    if consultation["status"] != OPEN or consultation["closes_at"] <= now:
        raise Conflict(f"This consultation is {closed_word(consultation, now)}; "
                       "stances are no longer accepted.")


def closed_word(consultation, now):
    if consultation["status"] == OPEN and consultation["closes_at"] <= now:
        return "past its deadline"
    return consultation["status"]


def check_can_close(consultation):
    if consultation["status"] != OPEN:
        raise Conflict(f"This consultation is {consultation['status']}; only an OPEN round "
                       "can be closed.")


def check_can_start_next_round(consultation):
    if consultation["status"] != CLOSED or consultation.get("outcome") == ADOPTED:
        state = consultation["status"] if consultation["status"] != CLOSED else "ADOPTED"
        raise Conflict(f"This consultation is {state}; a next round can follow only a round "
                       "closed BLOCKED, NO_QUORUM or NOT_ADOPTED.")


def check_can_cancel(consultation):
    if consultation["status"] != CLOSED or consultation.get("outcome") == ADOPTED:
        state = consultation["status"] if consultation["status"] != CLOSED else "ADOPTED"
        raise Conflict(f"This consultation is {state}; it can be cancelled only after a round "
                       "closed BLOCKED, NO_QUORUM or NOT_ADOPTED.")
