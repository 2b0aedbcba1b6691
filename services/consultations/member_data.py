"""What the consultations service holds about one member, for its export
(DOMAIN.md section 11, `exportMemberData`; services/common/member_data.py).

Every collection of the service's database that names a member by id is a
Part here, the kit's own (TECHNICAL) excepted:

- `consultations` whose `beneficiary_id` is the member (its admission, its
  suspension, the allocations proposed to it);
- `stances` it cast, or that were cast for another member by it as that
  member's proxy holder (`cast_by`); and `stance_audit`, every cast of those
  (kept in the stances' `history`, exported as before as rows of its own);
- `eligibility`: the rounds whose snapshot held it (kept in `tally_shards`'
  `eligible`);
- `voters`: the service's read model of it (`_id` is the member's id);
- `proxies` and `proxy_audit` where it is the granter or the holder;
- `proxy_slots` whose key names it (its live proxy, or how many it holds).

Of `tally_shards` only the rounds whose snapshot held the member are
exported: their counters sum many members' stances, and their
`proxy_granters` repeat what the member's `proxies` say.

Invariant (DOMAIN.md section 9): no export reveals a stance value of a round
whose results are hidden and that is still open, whoever asks (the member
itself or ADMIN): `without_hidden_values` blanks value, reason and the value
replaced. It reads the consultations AFTER the stances were read, so a round
that opened in between is judged as it stands now.
"""
import re
from collections.abc import Callable
from typing import Any, Final

from services.common.member_data import Part
from services.consultations import domain

Doc = dict[str, Any]

# the stance parts, and what a hidden round's stance loses in them
STANCE_PARTS: Final = ("stances", "stance_audit")
HIDDEN_FIELDS: Final = ("value", "reason", "replaces")

_ROUND = {"consultation_id": "The consultation it belongs to.",
          "round": "The number of the consultation's round it belongs to."}
_STANCE = {
    **_ROUND,
    "member_id": "The member whose stance it is (this member, or the member it cast for as "
                 "that member's proxy holder).",
    "value": "The stance: AGREE, RESERVATIONS, STAND_ASIDE or BLOCK (null while the round's "
             "results are hidden and it is open).",
    "reason": "The reason given with the stance, if any (null while the round's results are "
              "hidden and it is open).",
    "cast_by": "The proxy holder that cast it for the member, or null when the member cast it "
               "itself.",
}
_PROXY = {
    **_ROUND,
    "granter_id": "The member that gave its proxy.",
    "holder_id": "The member the proxy was given to.",
    "status": "Where the proxy stands: OFFERED, ACCEPTED, DECLINED, REVOKED, USED or EXPIRED.",
}


def audit_rows(stance: Doc,
               wanted: Callable[[Doc], bool] = lambda entry: True) -> list[Doc]:
    """The casts of a stance's history (those `wanted`) as audit rows: the
    stance's round and member, the cast's value, reason, moment, caster and
    the value it replaced."""
    rows: list[Doc] = []
    before = None
    for entry in stance.get("history", []):
        if wanted(entry):
            rows.append({"consultation_id": stance["consultation_id"], "round": stance["round"],
                         "member_id": stance["member_id"], "value": entry["value"],
                         "reason": entry["reason"], "cast_at": entry["at"], "at": entry["at"],
                         "cast_by": entry["cast_by"], "replaces": before})
        before = entry["value"]
    return rows


def _party(member_id: str) -> Doc:
    return {"$or": [{"granter_id": member_id}, {"holder_id": member_id}]}


def _caster(member_id: str, field: str = "cast_by") -> Doc:
    """Its own stances, and those it cast as a proxy holder (`field`: now,
    or with "history.cast_by" at any time; the `$type` lets the store use
    the partial index of the field: dependencies.py)."""
    return {"$or": [{"member_id": member_id},
                    {field: {"$eq": member_id, "$type": "string"}}]}


def _its_casts(stance: Doc, member_id: str) -> list[Doc]:
    """The casts of a stance's history that the member made: all of its
    own stance's, and those it made as the stance's member's proxy holder."""
    return audit_rows(stance, lambda entry: member_id in (stance["member_id"],
                                                          entry["cast_by"]))


def _slot(member_id: str) -> Doc:
    return {"_id": {"$regex": f":(granter|holder):{re.escape(member_id)}$"}}


MEMBER_DATA: Final[list[Part]] = [
    Part("consultations", lambda m: {"beneficiary_id": m}, {
        "id": "The consultation's id.",
        "kind": "What it decided about the member: MEMBERSHIP_ADMISSION, MEMBER_SUSPENSION or "
                "GRANT_ALLOCATION.",
        "subject_id": "What it decided on: the member itself, or the allocation proposed to it.",
        "beneficiary_id": "The member the case is about (this member), which took no part in "
                          "deciding it.",
        "title": "The consultation's title.",
        "proposal": "The proposal of its current (or last) round.",
        "status": "Where it stands: OPEN, CLOSED or CANCELLED.",
        "round": "The number of its current (or last) round.",
        "opened_at": "When its first round opened.",
        "closes_at": "The deadline of its current (or last) round.",
        "closed_at": "When its last round closed, or null while one is open.",
        "outcome": "The outcome of its last closed round, or null.",
        "cancel_reason": "Why it was cancelled, or null.",
    }, sort=(("opened_at", 1), ("_id", 1))),
    Part("stances", _caster, {**_STANCE, "cast_at": "When the stance was cast."},
         sort=(("cast_at", 1), ("_id", 1))),
    Part("stance_audit", lambda m: _caster(m, "history.cast_by"), {
        **_STANCE, "at": "When this cast was made.",
        "replaces": "The stance it replaced, or null for the member's first in the round (null "
                    "while the round's results are hidden and it is open)."},
         sort=(("at", 1), ("round", 1)), source="stances", rows=_its_casts),
    Part("eligibility", lambda m: {"eligible": m}, _ROUND, sort=(("consultation_id", 1),
                                                                   ("round", 1)),
         source="tally_shards", rows=lambda shard, m: [shard]),
    Part("voters", lambda m: {"_id": m}, {
        "name": "The member's name as the consultations service last heard it.",
        "status": "The member's status as last heard.",
        "can_vote": "Whether the member could vote as last heard.",
        "revision": "The revision of the member's record that this copy holds.",
    }),
    Part("proxies", _party, {**_PROXY, "id": "The proxy's id.",
                             "offered_at": "When the proxy was offered.",
                             "changed_at": "When its status last changed."},
         sort=(("offered_at", 1), ("_id", 1))),
    Part("proxy_audit", _party, {**_PROXY, "proxy_id": "The proxy that changed.",
                                 "actor": "The member that made the change, or \"system\" when "
                                          "the round's close expired it.",
                                 "at": "When the change was made."},
         sort=(("at", 1), ("_id", 1))),
    Part("proxy_slots", _slot, {
        "id": "The slot's key: consultation, round, then whether the member gives (granter) or "
              "holds (holder) proxies in it, and the member.",
        "proxy_id": "The granter's live proxy in the round (granter slots).",
        "held": "How many proxies the holder holds in the round (holder slots).",
    }),
]


def hidden_rounds(db: Any, exported: dict[str, list[Doc]]) -> set[tuple[str, int]]:
    """(consultation id, round) of the exported stances' rounds that are open
    with their results hidden now (one read of the consultations)."""
    ids = sorted({d["consultation_id"] for part in STANCE_PARTS for d in exported.get(part, [])})
    if not ids:
        return set()
    docs = db.consultations.find({"_id": {"$in": ids}},
                                 {"round": 1, "status": 1, "results_visibility": 1})
    return {(d["_id"], d["round"]) for d in docs if domain.results_hidden(d)}


def without_hidden_values(exported: dict[str, list[Doc]],
                          hidden: set[tuple[str, int]]) -> dict[str, list[Doc]]:
    """`exported` with the values of stances of `hidden` rounds blanked (see
    the module's invariant)."""
    for part in STANCE_PARTS:
        for doc in exported.get(part, []):
            if (doc["consultation_id"], doc["round"]) in hidden:
                doc.update({name: None for name in HIDDEN_FIELDS if name in doc})
    return exported
