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
list and replay it (DeadLetterRpc, `coalition dlq ...`). Nothing is dropped:
nameko acks the message only after we returned, having either applied it,
recognised it as a duplicate or parked it.

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
import traceback
import uuid
from datetime import datetime, timezone

from nameko.events import event_handler
from nameko.rpc import rpc as nameko_rpc
from nameko.timer import Timer
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from services.common import outbox
from services.common.broker import replay_to_own_queue
from services.common.errors import DomainError, Unavailable
from services.common.events import EventSchemaError, load_envelope, queue_name

log = logging.getLogger(__name__)


def rpc(fn):
    """nameko's @rpc, with our typed errors marked as expected (a refusal is
    not a failure of the service), and an unreachable store reported as
    SERVICE_UNAVAILABLE instead of an internal error."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConnectionFailure:
            log.warning("%s: the store did not answer", fn.__name__)
            raise Unavailable("The store did not answer; the change may not have been saved. "
                              "Try again in a moment.") from None
    return nameko_rpc(expected_exceptions=DomainError)(wrapper)


INFRA_BACKOFF_MAX_SECONDS = 5.0


class _AlreadyProcessed(Exception):
    pass


def _reliable(fn, prepare=None):
    @functools.wraps(fn)
    def wrapper(self, payload):
        store = self.store
        config = store.config
        consumer = f"{store.service_name}.{fn.__name__}"
        attempts = config.get("HANDLER_MAX_ATTEMPTS", 5)
        base = config.get("HANDLER_RETRY_BASE_SECONDS", 0.2)
        attempt, outage, failure = 0, 0, None
        try:
            envelope = load_envelope(payload)
            marker = f"{consumer}:{envelope['event_id']}"
        except EventSchemaError as exc:  # will never get better: park at once
            envelope, attempt, failure = None, attempts, exc

        def work(tx, prepared):
            try:
                tx.db.processed_events.insert_one(
                    {"_id": marker, "consumer": consumer, "event_type": envelope["event_type"],
                     "at": datetime.now(timezone.utc)}, session=tx.session)
            except DuplicateKeyError:
                raise _AlreadyProcessed()
            if prepare is None:
                fn(self, envelope["data"], tx, envelope)
            else:
                fn(self, envelope["data"], tx, envelope, prepared)

        while True:
            try:
                if attempt < attempts:
                    prepared = None
                    if prepare is not None:
                        # a redelivery already applied needs no preparation
                        if store.db.processed_events.find_one({"_id": marker}, {"_id": 1}):
                            raise _AlreadyProcessed()
                        prepared = prepare(self, envelope["data"])
                    store.transaction(lambda tx: work(tx, prepared))
                    return "applied"
                return park(store, consumer, fn.__name__, payload, failure,
                            attempts if envelope else 0)
            except _AlreadyProcessed:
                return "duplicate"
            except (ConnectionFailure, Unavailable) as exc:
                # the store is away, or a service we asked did not answer: not
                # the message's fault, so it does not count as an attempt and
                # the message is never parked for it; wait (the message stays
                # unacked, and a crash meanwhile means redelivery) and try again
                outage += 1
                delay = min(INFRA_BACKOFF_MAX_SECONDS, base * (2 ** min(outage, 10)))
                what = "store unreachable" if isinstance(exc, ConnectionFailure) else str(exc)
                log.warning("%s: %s, retrying in %.2fs", consumer, what, delay)
                time.sleep(delay)
            except Exception as exc:
                attempt += 1
                failure = exc
                if attempt < attempts:
                    delay = base * (2 ** (attempt - 1))
                    log.warning("%s failed on %s (attempt %d/%d), retrying in %.2fs: %s",
                                consumer, envelope["event_type"], attempt, attempts, delay,
                                type(exc).__name__)
                    time.sleep(delay)

    wrapper.__reliable__ = True
    return wrapper


def consume(source_service, event_type, prepare=None):
    """nameko event_handler + idempotency + retries + dead-letter queue.
    `prepare`: see the module docstring (give it to the innermost @consume)."""
    def decorator(fn):
        wrapped = fn if getattr(fn, "__reliable__", False) else _reliable(fn, prepare)
        subscriptions = getattr(wrapped, "__subscriptions__", [])
        wrapped.__subscriptions__ = subscriptions + [(source_service, event_type)]
        return event_handler(source_service, event_type)(wrapped)
    return decorator


def consume_all(source_service, event_types):
    """@consume for each of several event types of one source (one queue each)."""
    def decorator(fn):
        for event_type in reversed(list(event_types)):
            fn = consume(source_service, event_type)(fn)
        return fn
    return decorator


class SettingTimer(Timer):
    """nameko's timer, its interval read from the service's settings when the
    container starts (never at import)."""

    def __init__(self, setting, **kwargs):
        super().__init__(interval=None, **kwargs)
        self.setting = setting

    def setup(self):
        self.interval = self.container.config[self.setting]
        super().setup()


every = SettingTimer.decorator  # @every("DEADLINE_CHECK_SECONDS")


def park(store, consumer, method, payload, exc, attempts):
    source = payload.get("source") if isinstance(payload, dict) else None
    event_type = payload.get("event_type") if isinstance(payload, dict) else None
    doc = {
        "_id": str(uuid.uuid4()),
        "consumer": consumer,
        "queue": queue_name(source, event_type, store.service_name, method),
        "event_type": event_type,
        "source": source,
        "event_id": payload.get("event_id") if isinstance(payload, dict) else None,
        "payload": payload,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
        "attempts": attempts,
        "status": "parked",
        "failed_at": datetime.now(timezone.utc),
    }
    store.db.dead_letters.insert_one(doc)
    log.error("%s parked event %s (%s) in dead_letters after %d attempts: %s",
              consumer, doc["event_id"], event_type, attempts, doc["error"])
    return "parked"


def _dead_letter_view(doc):
    return {k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in doc.items() if k not in ("payload", "traceback")} | {"id": doc["_id"]}


class OperatorRpc:
    """Mixin of operator RPCs every service offers: dead letters and outbox lag."""

    @rpc
    def dead_letters(self, status="parked"):
        query = {} if status is None else {"status": status}
        return [_dead_letter_view(d) for d in
                self.store.db.dead_letters.find(query).sort("failed_at", 1).limit(1000)]

    @rpc
    def replay_dead_letters(self, ids=None):
        """Re-send parked messages to their consumer's own queue (and only it)."""
        query = {"status": "parked"}
        if ids:
            query["_id"] = {"$in": list(ids)}
        replayed = []
        for doc in self.store.db.dead_letters.find(query):
            # through the service's own replay exchange: no process may write
            # to the default exchange, which reaches every queue by name
            replay_to_own_queue(self.store.config["AMQP_URI"], self.store.service_name,
                                doc["queue"], doc["payload"])
            self.store.db.dead_letters.update_one(
                {"_id": doc["_id"]},
                {"$set": {"status": "replayed", "replayed_at": datetime.now(timezone.utc)}})
            replayed.append(doc["_id"])
        return replayed

    @rpc
    def outbox_status(self):
        return outbox.status(self.store.db)

    @rpc
    def ping(self):
        self.store.db.command("ping")
        return {"service": self.store.service_name, "ok": True}
