"""Status-transition tables: which action may start from which statuses,
where it leads, which event announces it, and how people read it. Each
service's domain module declares its table with this; the check and its
refusal are written once.

    MEMBER = Lifecycle("member", {
        "admit": Transition({CANDIDATE}, ACTIVE, "member_admitted",
                            verb="be admitted", note="Admitted"),
        ...})
    step = MEMBER.step(member["status"], "admit")   # the Transition, or Conflict

Invariant: a status changes only through `step`, so every change is a row
of the table and is announced by that row's event.
"""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.errors import Conflict


def either(statuses: Iterable[str]) -> str:
    """'A or B', sorted: how a refusal names the statuses that would do."""
    return " or ".join(sorted(statuses))


def require_status(record: Mapping[str, Any], noun: str, allowed: Iterable[str],
                   only: str) -> None:
    """Conflict unless `record`'s status is one of `allowed`, saying so:
    "This grant is CLOSED; allocations can only be proposed on a grant that
    is ACTIVE or PIPELINE." (`only`: "allocations can only be proposed on")."""
    if record["status"] not in allowed:
        article = "an" if noun[:1] in "aeiou" else "a"
        raise Conflict(f"This {noun} is {record['status']}; {only} {article} {noun} that is "
                       f"{either(allowed)}.")


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    event: str
    verb: str   # what a refusal says cannot happen: "it cannot <verb>"
    note: str   # the history entry's note when the caller gives none

    @classmethod
    def of(cls, sources: Iterable[str], target: str, event: str, *, verb: str,
           note: str) -> "Transition":
        return cls(frozenset(sources), target, event, verb, note)


@dataclass(frozen=True)
class Lifecycle:
    """The transitions of one kind of record (`noun`: "member", "grant", ...)."""
    noun: str
    transitions: Mapping[str, Transition] = field(default_factory=dict)

    @classmethod
    def table(cls, noun: str,
              rows: Iterable[tuple[str, Iterable[str], str, str, str, str]]) -> "Lifecycle":
        """From rows (action, sources, target, event, verb, note)."""
        return cls(noun, {action: Transition.of(sources, target, event, verb=verb, note=note)
                          for action, sources, target, event, verb, note in rows})

    def __getitem__(self, action: str) -> Transition:
        return self.transitions[action]

    def step(self, status: str, action: str) -> Transition:
        """The transition `action` from `status`, or Conflict saying which
        statuses would allow it."""
        transition = self.transitions[action]
        if status not in transition.sources:
            raise Conflict(f"This {self.noun} is {status}; it cannot {transition.verb} "
                           f"(only a {self.noun} that is {either(transition.sources)} can).")
        return transition

    @staticmethod
    def entry(transition: Transition, now: datetime, note: str | None = None) -> dict[str, Any]:
        """The history entry a transition adds."""
        return {"at": now, "status": transition.target, "note": note or transition.note}
