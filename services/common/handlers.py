"""Reliable event consumers: idempotent, retried, dead-lettered.

    @consume("members", "membership_applied")
    def on_membership_applied(self, data, tx, envelope): ...

The handler runs inside one store transaction together with the record
"event X processed by consumer Y" (collection `processed_events`), so a
redelivered event changes nothing. A handler that raises is retried
HANDLER_MAX_ATTEMPTS times with exponential back-off (an outage is waited
out instead, without counting attempts: an unreachable store, or another
service that does not answer, `Unavailable`); then the message is
parked in the `dead_letters` collection with the error, where an operator can
list and replay it (services/common/dead_letters.py, `coalition dlq ...`). A
message that is not a valid envelope of the catalogue is parked at once: it
will never get better. Nothing is dropped: nameko acks the message only after
we returned, having either applied it, recognised it as a duplicate or parked
it (a park the store refuses is tried again, as an outage is).

Several `@consume` may stack on one method (one queue per event type).

    @consume("grants", "allocation_proposed", prepare=lambda self, data: ...)
    def on_allocation_proposed(self, data, tx, envelope, prepared): ...

`prepare(self, data)`, if given, runs before each attempt and outside the
transaction (for example an RPC to another service, which should not hold a
transaction open or be repeated by the store's transaction retries); its
result is the handler's `prepared` argument.
"""
import functools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, Final, ParamSpec, TypeVar

from nameko.timer import Timer
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from services.common import dead_letters as dlq
from services.common import outbox
from services.common.errors import DomainError, Unavailable
from services.common.events import Envelope, EventSchemaError, load_envelope
from services.common.entrypoints import dead_letter_consumer, event_handler
from services.common.entrypoints import rpc as nameko_rpc

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

# handler(self, data, tx, envelope[, prepared]) and prepare(self, data)
Handler = Callable[..., Any]
Prepare = Callable[[Any, dict[str, Any]], Any]

INFRA_BACKOFF_MAX_SECONDS: Final = 5.0
OUTAGES: Final = (ConnectionFailure, Unavailable)  # not the message's fault
# attributes @consume keeps on the method it wraps
RELIABLE: Final = "__reliable__"
SUBSCRIPTIONS: Final = "__subscriptions__"


def rpc(fn: Callable[P, R]) -> Callable[P, R]:
    """nameko's @rpc, with our typed errors marked as expected (a refusal is
    not a failure of the service), and an unreachable store reported as
    SERVICE_UNAVAILABLE instead of an internal error."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConnectionFailure:
            log.warning("%s: the store did not answer", fn.__name__)
            raise Unavailable("The store did not answer; the change may not have been saved. "
                              "Try again in a moment.") from None
    entrypoint: Callable[P, R] = nameko_rpc(expected_exceptions=DomainError)(wrapper)
    return entrypoint


class _AlreadyProcessed(Exception):
    """This consumer applied the event before (it is in processed_events)."""


class _Delivery:
    """One message delivered to one reliable consumer (see the module
    docstring): applied once, recognised as a duplicate, or parked."""

    def __init__(self, service: Any, handler: Handler, prepare: Prepare | None) -> None:
        self.service = service
        self.store = service.store
        self.handler = handler
        self.prepare = prepare
        self.consumer = f"{self.store.service_name}.{handler.__name__}"
        self.max_attempts: int = self.store.config.get("HANDLER_MAX_ATTEMPTS", 5)
        self.retry_base: float = self.store.config.get("HANDLER_RETRY_BASE_SECONDS", 0.2)

    def handle(self, payload: Any) -> None:
        try:
            envelope = load_envelope(payload)
        except EventSchemaError as exc:  # will never get better: park at once
            self._park(payload, exc, attempts=0)
            return
        failure = self._apply_with_retries(envelope)
        if failure is not None:
            self._park(payload, failure, attempts=self.max_attempts)

    def _apply_with_retries(self, envelope: Envelope) -> Exception | None:
        """None once applied (or found applied before); else the failure of
        the last of max_attempts attempts. Outages are waited out, uncounted."""
        attempt = 1
        while True:
            try:
                self._through_outages(lambda: self._apply(envelope))
                return None
            except _AlreadyProcessed:
                return None
            except Exception as exc:
                if attempt >= self.max_attempts:
                    return exc
                delay = self.retry_base * (2 ** (attempt - 1))
                log.warning("%s failed on %s (attempt %d/%d), retrying in %.2fs: %s",
                            self.consumer, envelope["event_type"], attempt, self.max_attempts,
                            delay, type(exc).__name__)
                time.sleep(delay)
                attempt += 1

    def _apply(self, envelope: Envelope) -> None:
        """One attempt: `prepare` outside the transaction (a redelivery already
        applied needs none), then the marker and the handler in one transaction."""
        marker = f"{self.consumer}:{envelope['event_id']}"
        prepared = None
        if self.prepare is not None:
            if self.store.db.processed_events.find_one({"_id": marker}, {"_id": 1}):
                raise _AlreadyProcessed()
            prepared = self.prepare(self.service, envelope["data"])
        self.store.transaction(lambda tx: self._apply_once(tx, marker, envelope, prepared))

    def _apply_once(self, tx: Any, marker: str, envelope: Envelope, prepared: Any) -> None:
        """The marker insert makes a second copy's transaction fail (two copies
        in flight at once), which rolls back whatever its handler wrote."""
        try:
            tx.db.processed_events.insert_one(
                {"_id": marker, "consumer": self.consumer, "event_type": envelope["event_type"],
                 "at": datetime.now(timezone.utc)}, session=tx.session)
        except DuplicateKeyError:
            raise _AlreadyProcessed() from None
        if self.prepare is None:
            self.handler(self.service, envelope["data"], tx, envelope)
        else:
            self.handler(self.service, envelope["data"], tx, envelope, prepared)

    def _park(self, payload: Any, failure: Exception, attempts: int) -> None:
        self._through_outages(
            lambda: dlq.park(self.store, self.consumer, self.handler.__name__, payload, failure,
                             attempts),
            outages=(Exception,))

    def _through_outages(self, step: Callable[[], T],
                         outages: tuple[type[Exception], ...] = OUTAGES) -> T:
        """step(), tried again while an outage stops it: the store is away, or
        a service we asked did not answer. That is not the message's fault, so
        it is no attempt and never parks the message; we wait (the message
        stays unacked, and a crash meanwhile means redelivery) and try again."""
        return through_outages(step, self.consumer, self.retry_base, outages)


def through_outages(step: Callable[[], T], who: str, retry_base: float,
                    outages: tuple[type[Exception], ...] = OUTAGES) -> T:
    """step(), tried again with growing pauses (at most
    INFRA_BACKOFF_MAX_SECONDS) for as long as it fails with one of `outages`."""
    failures = 0
    while True:
        try:
            return step()
        except outages as exc:
            failures += 1
            delay = min(INFRA_BACKOFF_MAX_SECONDS, retry_base * (2 ** min(failures, 10)))
            what = "store unreachable" if isinstance(exc, ConnectionFailure) else str(exc)
            log.warning("%s: %s, retrying in %.2fs", who, what, delay)
            time.sleep(delay)


def reliable(handler: Handler, prepare: Prepare | None = None) -> Handler:
    """`handler` as a reliable consumer method: consumer(self, payload)."""
    @functools.wraps(handler)
    def consumer(self: Any, payload: Any) -> None:
        _Delivery(self, handler, prepare).handle(payload)

    setattr(consumer, RELIABLE, True)
    return consumer


def consume(source_service: str, event_type: str,
            prepare: Prepare | None = None) -> Callable[[Handler], Handler]:
    """nameko event_handler + idempotency + retries + dead-letter queue.
    `prepare`: see the module docstring (give it to the innermost @consume)."""
    def decorator(fn: Handler) -> Handler:
        wrapped = fn if getattr(fn, RELIABLE, False) else reliable(fn, prepare)
        subscriptions = getattr(wrapped, SUBSCRIPTIONS, [])
        setattr(wrapped, SUBSCRIPTIONS, subscriptions + [(source_service, event_type)])
        entrypoint: Handler = event_handler(source_service, event_type)(wrapped)
        return entrypoint
    return decorator


def consume_all(source_service: str,
                event_types: Iterable[str]) -> Callable[[Handler], Handler]:
    """@consume for each of several event types of one source (one queue each)."""
    def decorator(fn: Handler) -> Handler:
        for event_type in reversed(list(event_types)):
            fn = consume(source_service, event_type)(fn)
        return fn
    return decorator


class SettingTimer(Timer):  # type: ignore[misc]  # nameko has no type information
    """nameko's timer, its interval read from the service's settings when the
    container starts (never at import)."""

    def __init__(self, setting: str, **kwargs: Any) -> None:
        super().__init__(interval=None, **kwargs)
        self.setting = setting

    def setup(self) -> None:
        self.interval = self.container.config[self.setting]
        super().setup()


every = SettingTimer.decorator  # @every("DEADLINE_CHECK_SECONDS")


class OperatorRpc:
    """Mixin of operator RPCs every service offers: dead letters and outbox
    lag; and `dead_letter_count`, which the gateway may call too (a number)."""

    store: Any

    @rpc
    def dead_letters(self, status: str | None = dlq.PARKED) -> list[dict[str, Any]]:
        return dlq.listing(self.store.db, status)

    @rpc
    def dead_letter_count(self) -> int:
        """How many dead letters are parked: a number only, for the gateway's
        ADMIN `operations` (the letters themselves are the operator's)."""
        return dlq.parked_count(self.store.db)

    @rpc
    def replay_dead_letters(self, ids: Iterable[str] | None = None) -> list[str]:
        """Re-send parked messages to their consumer's own queue (and only it)."""
        return dlq.replay(self.store, ids)

    @dead_letter_consumer()
    def on_dead_lettered(self, payload: Any, headers: dict[str, Any]) -> None:
        """A message the broker dead-lettered (a consumer of ours never
        answered it DELIVERY_LIMIT times: services/common/queues.py) is parked
        like one a handler gave up on; acked only once kept (an outage is
        waited out). One the store refuses as it is (too big, not storable)
        is kept as a truncated text, so an error never loops forever."""
        def keep(what: Any) -> None:
            through_outages(lambda: dlq.park_dead_lettered(self.store, what, headers),
                            f"{self.store.service_name}.on_dead_lettered",
                            self.store.config.get("HANDLER_RETRY_BASE_SECONDS", 0.2))
        try:
            keep(payload)
        except Exception as exc:
            log.error("a dead letter could not be kept as it came (%s): keeping it as text",
                      type(exc).__name__)
            keep({"unstorable": repr(payload)[:10000], "error": type(exc).__name__})

    @rpc
    def outbox_status(self) -> dict[str, Any]:
        return outbox.status(self.store.db)

    @rpc
    def ping(self) -> dict[str, Any]:
        self.store.db.command("ping")
        return {"service": self.store.service_name, "ok": True}
