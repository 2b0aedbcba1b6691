"""The dead-letter queue of a service: its `dead_letters` collection.

A reliable consumer (services/common/handlers.py) that still fails on a
message after HANDLER_MAX_ATTEMPTS parks it here with its error; an operator
lists the parked ones and replays them (the services' operator RPCs,
`coalition dlq list|replay`). A replay sends the message back to the queue
of the consumer that failed on it, and only that one, through the service's
own replay exchange: no process may write to the default exchange, which
reaches every queue by name (services/common/permissions.py).

Invariant: a dead letter is PARKED until it is replayed, then REPLAYED; it is
never deleted, so what failed and when stays on the record.
"""
import logging
import traceback
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Final

from pymongo.errors import DuplicateKeyError

from services.common.broker import replay_to_own_queue
from services.common.events import queue_name
from services.common.queues import DELIVERY_LIMIT

log = logging.getLogger(__name__)

PARKED: Final = "parked"
REPLAYED: Final = "replayed"
STATUSES: Final = (PARKED, REPLAYED)

LIST_LIMIT: Final = 1000  # dead letters one listing returns, oldest first

Doc = dict[str, Any]


def park(store: Any, consumer: str, method: str, payload: Any, error: BaseException,
         attempts: int, queue: str | None = None, doc_id: str | None = None) -> None:
    """Keep `payload` (as received, whatever it is), the error and its
    traceback, and the queue of `consumer` (the service's `method`) to replay
    it to (`queue`, when the broker named it). With `doc_id`, parking the
    same message twice keeps one letter."""
    fields = payload if isinstance(payload, dict) else {}
    source, event_type = fields.get("source"), fields.get("event_type")
    doc = {
        "_id": doc_id or str(uuid.uuid4()),
        "consumer": consumer,
        "queue": queue or queue_name(source, event_type, store.service_name, method),
        "event_type": event_type,
        "source": source,
        "event_id": fields.get("event_id"),
        "payload": payload,
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error))[-4000:],
        "attempts": attempts,
        "status": PARKED,
        "failed_at": datetime.now(timezone.utc),
    }
    try:
        store.db.dead_letters.insert_one(doc)
    except DuplicateKeyError:  # parked before (a redelivery): one letter is enough
        return
    log.error("%s parked event %s (%s) in dead_letters after %d attempts: %s",
              consumer, doc["event_id"], event_type, attempts, doc["error"])


class DeliveryLimitReached(Exception):
    """The broker dead-lettered a message its consumer never answered."""


def park_dead_lettered(store: Any, payload: Any, headers: Doc) -> None:
    """Park a message the broker dead-lettered (services/common/queues.py):
    delivered DELIVERY_LIMIT times to one of this service's consumers, which
    never answered (it crashed or was cut off each time). Its `x-death`
    header names the queue, hence the consumer to replay it to."""
    death = next((d for d in headers.get("x-death") or [] if isinstance(d, dict)), {})
    queue = str(death.get("queue") or "")
    method = queue.rpartition(".")[2] if "--" in queue else "unknown"
    fields = payload if isinstance(payload, dict) else {}
    doc_id = None  # the same death delivered again (at least once) is one letter
    if fields.get("event_id") and queue and death.get("time"):
        doc_id = f"limit:{queue}:{fields['event_id']}:{death['time']}"
    error = DeliveryLimitReached(
        f"the broker dead-lettered it ({death.get('reason', 'unknown reason')}) after "
        f"{DELIVERY_LIMIT} deliveries without an answer: its consumer crashed or was "
        "cut off each time")
    park(store, f"{store.service_name}.{method}", method, payload, error,
         attempts=DELIVERY_LIMIT, queue=queue or None, doc_id=doc_id)


def view(doc: Doc) -> Doc:
    """A dead letter for an operator: JSON-ready, without payload and traceback."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in doc.items() if k not in ("payload", "traceback")} | {"id": doc["_id"]}


def listing(db: Any, status: str | None) -> list[Doc]:
    """The dead letters of that status (None: all), oldest first, at most LIST_LIMIT."""
    query = {} if status is None else {"status": status}
    return [view(d) for d in db.dead_letters.find(query).sort("failed_at", 1).limit(LIST_LIMIT)]


def parked_count(db: Any) -> int:
    """How many dead letters are PARKED (waiting for a replay)."""
    return int(db.dead_letters.count_documents({"status": PARKED}))


def replay(store: Any, ids: Iterable[str] | None) -> list[str]:
    """Send the parked messages `ids` (None: every parked one) back to their
    consumer's own queue; return the ids replayed."""
    query: Doc = {"status": PARKED}
    if ids:
        query["_id"] = {"$in": list(ids)}
    replayed = []
    for doc in store.db.dead_letters.find(query):
        replay_to_own_queue(store.config["AMQP_URI"], store.service_name, doc["queue"],
                            doc["payload"])
        store.db.dead_letters.update_one(
            {"_id": doc["_id"]},
            {"$set": {"status": REPLAYED, "replayed_at": datetime.now(timezone.utc)}})
        replayed.append(doc["_id"])
    return replayed
