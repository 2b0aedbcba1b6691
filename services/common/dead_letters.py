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

from services.common.broker import replay_to_own_queue
from services.common.events import queue_name

log = logging.getLogger(__name__)

PARKED: Final = "parked"
REPLAYED: Final = "replayed"
STATUSES: Final = (PARKED, REPLAYED)

LIST_LIMIT: Final = 1000  # dead letters one listing returns, oldest first

Doc = dict[str, Any]


def park(store: Any, consumer: str, method: str, payload: Any, error: BaseException,
         attempts: int) -> None:
    """Keep `payload` (as received, whatever it is), the error and its
    traceback, and the queue of `consumer` (the service's `method`) to replay it to."""
    fields = payload if isinstance(payload, dict) else {}
    source, event_type = fields.get("source"), fields.get("event_type")
    doc = {
        "_id": str(uuid.uuid4()),
        "consumer": consumer,
        "queue": queue_name(source, event_type, store.service_name, method),
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
    store.db.dead_letters.insert_one(doc)
    log.error("%s parked event %s (%s) in dead_letters after %d attempts: %s",
              consumer, doc["event_id"], event_type, attempts, doc["error"])


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
