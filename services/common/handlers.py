"""Reliable event consumers: idempotent, retried, dead-lettered.

    @consume("members", "membership_applied")
    def on_membership_applied(self, data, tx, envelope): ...

The handler runs inside one store transaction together with the record
"event X processed by consumer Y" (collection `processed_events`), so a
redelivered event changes nothing. A handler that raises is retried
HANDLER_MAX_ATTEMPTS times with exponential back-off (an unreachable store
is waited out instead, without counting attempts); then the message is
parked in the `dead_letters` collection with the error, where an operator can
list and replay it (DeadLetterRpc, `coalition dlq ...`). Nothing is dropped:
nameko acks the message only after we returned, having either applied it,
recognised it as a duplicate or parked it.

Several `@consume` may stack on one method (one queue per event type).
"""
import functools
import logging
import time
import traceback
import uuid
from datetime import datetime, timezone

from nameko.amqp.publish import Publisher
from nameko.events import event_handler
from nameko.rpc import rpc as nameko_rpc
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from services.common import outbox
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


def _reliable(fn):
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

        def work(tx):
            try:
                tx.db.processed_events.insert_one(
                    {"_id": marker, "consumer": consumer, "event_type": envelope["event_type"],
                     "at": datetime.now(timezone.utc)}, session=tx.session)
            except DuplicateKeyError:
                raise _AlreadyProcessed()
            fn(self, envelope["data"], tx, envelope)

        while True:
            try:
                if attempt < attempts:
                    store.transaction(work)
                    return "applied"
                return park(store, consumer, fn.__name__, payload, failure,
                            attempts if envelope else 0)
            except _AlreadyProcessed:
                return "duplicate"
            except ConnectionFailure:
                # the store is away: not the message's fault, so it does not
                # count as an attempt; wait (the message stays unacked, and a
                # crash meanwhile means redelivery) and try again
                outage += 1
                delay = min(INFRA_BACKOFF_MAX_SECONDS, base * (2 ** min(outage, 10)))
                log.warning("%s: store unreachable, retrying in %.2fs", consumer, delay)
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


def consume(source_service, event_type):
    """nameko event_handler + idempotency + retries + dead-letter queue."""
    def decorator(fn):
        wrapped = fn if getattr(fn, "__reliable__", False) else _reliable(fn)
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
        publisher = Publisher(self.store.config["AMQP_URI"], use_confirms=True, serializer="json")
        replayed = []
        for doc in self.store.db.dead_letters.find(query):
            publisher.publish(doc["payload"], exchange=None, routing_key=doc["queue"])
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
