"""Casting a stance (DOMAIN.md sections 2 and 9), the busiest use case of the
consultations service, kept apart from service.py.

Invariants, on every path:
- a stance is counted only if its member is in the round's snapshot, the
  round is OPEN and its deadline has not passed, all three checked by the
  write that counts it (dependencies.count_stance); a cast racing a close
  writes a shard the close writes too, so one of them is retried and the
  cast then finds the round closed;
- one stance per member and round, whose `history` keeps every cast; the
  `stance_cast` event is written in the same transaction.

A call is done once: the gateway names each call (services/common/store.py),
and the cast keeps that name in the stance it writes (`calls`, and its
history entry) instead of in the kit's `requests` (which would cost a read
and a write more). A repeated call (a redelivery, a client's retry with its
Idempotency-Key) collides with it on the `call_once` index, and gets the
stance as the first call recorded it, even when the round has closed or
moved on since (`recorded`).

Four store round trips (issue 21): a member's first own cast in a round
this process has seen is the stance's insert, its shard's conditional
write, the outbox and the commit. What it needs of the consultation (its
current round; whether its results are hidden) comes from `ROUNDS`, this
process's memory of each consultation's current round, which is never
trusted: a round that closed or moved on, a deadline passed, a member not
in the snapshot or one with a proxy to end fail the shard's filter, a
stance already there fails the insert; the transaction is then abandoned
(nothing of it is kept) and the careful path runs. The careful path reads
the consultation, refuses exactly as it always did, replaces a stance,
uses or ends proxies, and remembers the round it found: seven round trips
(and the two of the abandoned quick attempt before it).
"""
from pymongo.errors import DuplicateKeyError

from services.common import paging, records
from services.common.errors import Conflict, DomainError
from services.common.vocabulary import ResultsVisibility
from services.consultations import dependencies, domain, proxies, proxy_service
from services.consultations.proxy_service import ATTEMPTS

RETRY = "Your stance could not be recorded; please try again."


class RoundMemory:
    """{consultation id: (its current round, whether that round's results
    are hidden while open)}, of at most `limit` consultations (forgotten all
    at once when full: the careful path fills it again)."""

    def __init__(self, limit=10_000):
        self.limit = limit
        self.rounds = {}

    def get(self, consultation_id):
        return self.rounds.get(consultation_id)

    def remember(self, doc):
        if len(self.rounds) >= self.limit:
            self.rounds.clear()
        hidden = doc.get("results_visibility") == ResultsVisibility.HIDDEN_UNTIL_CLOSED
        self.rounds[doc["_id"]] = (doc["round"], hidden)

    def forget(self, consultation_id):
        self.rounds.pop(consultation_id, None)


ROUNDS = RoundMemory()


class Stale(Exception):
    """The remembered round did not take the cast (closed, moved on, or the
    member is not in it): the careful path decides."""


def cast(store, consultation_id, caster, member_id, stance, now):
    """The stance recorded (see the module's invariants): by the quick path
    when the round is remembered and the caster casts its own stance, else
    (or when the quick one finds its memory stale, or a stance there
    already) by the careful path."""
    consultation_id = paging.clean_id(consultation_id)
    request = store.call_key()
    remembered = ROUNDS.get(consultation_id) if caster == member_id else None
    if remembered is not None:
        try:
            return store.transaction(lambda tx: quick(
                tx, consultation_id, remembered, member_id, stance, now(), request),
                keeps_own_record=True)
        except Stale:
            ROUNDS.forget(consultation_id)
        except DuplicateKeyError:  # a stance there already, or this very call done
            kept = dependencies.kept_cast(store.db, request)
            if kept is not None:
                return kept
    return recorded(store, request, lambda tx: careful(
        tx, consultation_id, caster, member_id, stance, now(), request))


def recorded(store, request, work):
    """Run `work` in a transaction that records the call `request` itself;
    the stance it recorded. A call recorded before gets its kept stance back
    (when `work` collides with it, or refuses what the round is now); one
    that collides with a concurrent twin on a stance's `_id` (two first
    casts of one member) runs again and then sees what the twin wrote."""
    for _ in range(ATTEMPTS):
        try:
            return store.transaction(work, keeps_own_record=True)
        except DuplicateKeyError:
            kept = dependencies.kept_cast(store.db, request)
        except DomainError:
            kept = dependencies.kept_cast(store.db, request)
            if kept is None:
                raise
        if kept is not None:
            return kept
    raise Conflict(RETRY)


def quick(tx, consultation_id, remembered, member_id, stance, now, request):
    """The member's first cast in the remembered round, four round trips:
    the stance inserted (DuplicateKeyError if the member has one), counted
    by the shard's conditional write (Stale if it refuses: see
    count_stance), the event, the commit."""
    round_number, hidden = remembered
    record = domain.new_stance(dependencies.round_key(consultation_id, round_number, member_id),
                               {"_id": consultation_id, "round": round_number}, member_id,
                               stance, now)
    dependencies.first_stance(tx, record, request)
    if not dependencies.count_stance(tx, record, domain.apply_stance(None, record["value"]),
                                     quick_at=now):
        raise Stale()
    tx.emit("stance_cast", domain.stance_cast_data(record, False, hidden))
    return record


def careful(tx, consultation_id, caster, member_id, stance, now, request):
    """Any cast, the consultation read first: the refusals of DOMAIN.md, a
    stance replaced, a proxy used (`caster` is not `member_id`) or the
    member's own ended, and the round remembered."""
    doc = records.load(tx, "consultations", "consultation", consultation_id)
    domain.check_can_cast(doc, now)
    ROUNDS.remember(doc)
    by_proxy = caster != member_id
    if by_proxy:
        proxy_service.use(tx, doc, caster, member_id)
    record = domain.new_stance(dependencies.round_key(doc["_id"], doc["round"], member_id),
                               doc, member_id, stance, now, caster if by_proxy else None)
    previous = dependencies.current_stance(tx, record["_id"])
    if by_proxy:
        proxies.check_not_own_stance(previous)
    dependencies.record_stance(tx, record, previous, request)
    counts = domain.apply_stance(previous and previous["value"], record["value"])
    if not dependencies.count_stance(tx, record, counts):
        if not dependencies.is_eligible(tx, doc["_id"], doc["round"], member_id):
            raise domain.not_eligible()
        raise Conflict("This round closed while your stance was being recorded.")
    if not by_proxy:
        proxy_service.end_by_own_cast(tx, doc, member_id)
    tx.emit("stance_cast", domain.stance_cast_data(record, previous is not None,
                                                   domain.results_hidden(doc)))
    return record
