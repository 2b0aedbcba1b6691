"""Transactional outbox and its relay.

`add` writes an event envelope into the service's `outbox` collection inside
the caller's transaction. The `Relay` (one greenthread per service instance)
publishes pending events to the service's nameko events exchange with
publisher confirms, then marks them sent. A crash after commit and before
publish leaves the event pending: the next relay run publishes it. A crash
after publish and before marking sent publishes it again: consumers are
idempotent (services.common.handlers), so the effect happens once.
"""
import logging
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any, Final

from kombu import Connection, Queue
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange

from services.common.events import Envelope, consumer_queues
from services.common.queues import queue_arguments

log = logging.getLogger(__name__)

PENDING: Final = "pending"
SENT: Final = "sent"


def add(db: Any, session: Any, envelope: Envelope) -> None:
    """Keep `envelope` as pending, in the caller's transaction (`session`)."""
    db.outbox.insert_one({
        "_id": envelope["event_id"],
        "event_type": envelope["event_type"],
        "envelope": envelope,
        "status": PENDING,
        "created_at": datetime.now(timezone.utc),
    }, session=session)


def status(db: Any) -> dict[str, Any]:
    """Outbox lag for operators: pending count and age of the oldest pending event."""
    pending = db.outbox.count_documents({"status": PENDING})
    oldest = db.outbox.find_one({"status": PENDING}, sort=[("created_at", 1)])
    age = None
    if oldest:
        age = (datetime.now(timezone.utc) - oldest["created_at"]).total_seconds()
    return {"pending": pending, "oldest_pending_age_seconds": age,
            "sent": db.outbox.count_documents({"status": SENT})}


def declare_consumer_queues(amqp_uri: str, source_service: str,
                            config: dict[str, Any] | None = None) -> None:
    """Declare the durable queue of every subscriber to our events, so that an
    event published before its consumer ever ran waits for it."""
    config = config or {}
    exchange = get_event_exchange(source_service, config)
    arguments = queue_arguments(config)  # exactly as their consumers declare them
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        exchange(channel).declare()
        for event_type, name in consumer_queues(source_service):
            Queue(name, exchange=exchange, routing_key=event_type, durable=True,
                  queue_arguments=arguments)(channel).declare()


class Relay:
    """Publishes a service's pending events, oldest first, woken by each
    commit that emitted events and at least every OUTBOX_POLL_SECONDS."""

    def __init__(self, db: Any, service_name: str, config: dict[str, Any]) -> None:
        self.db = db
        self.service_name = service_name
        self.config = config
        self.poll = config.get("OUTBOX_POLL_SECONDS", 0.5)
        self.exchange = get_event_exchange(service_name, config)
        self.publisher = Publisher(config["AMQP_URI"], use_confirms=True, serializer="json")
        self._wake = threading.Event()
        self._running = True
        self._declared = False
        # test hook, never honoured in production: exit after a publish and
        # before marking it sent, to prove redelivery is harmless
        self.fault = (os.environ.get("OUTBOX_FAULT", "")
                      if config.get("COALITION_ENV") != "production" else "")

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._running = False
        self._wake.set()

    def run(self) -> None:
        while self._running:
            try:
                if not self._declared:
                    declare_consumer_queues(self.config["AMQP_URI"], self.service_name, self.config)
                    self._declared = True
                self.flush()
            except Exception:  # broker or store down: keep the events, try again
                log.warning("outbox relay of %s failed; retrying", self.service_name, exc_info=True)
                self._declared = False
                time.sleep(1.0)
            self._wake.wait(self.poll)
            self._wake.clear()

    def flush(self, limit: int = 500) -> int:
        """Publish every pending event, oldest first. Returns how many were sent."""
        sent = 0
        while True:
            batch = list(self.db.outbox.find({"status": PENDING}).sort([("created_at", 1), ("_id", 1)])
                         .limit(limit))
            if not batch:
                return sent
            published = []
            try:
                for doc in batch:
                    self.publisher.publish(doc["envelope"], exchange=self.exchange,
                                           routing_key=doc["event_type"])
                    if self.fault == "crash_after_publish":
                        log.error("OUTBOX_FAULT: exiting after publish of %s", doc["_id"])
                        os._exit(17)
                    published.append(doc["_id"])
            finally:
                # one write per batch, not per event (and not a retryable
                # write, which some stores keep a record of: see bench/README)
                if published:
                    self.db.outbox.update_many({"_id": {"$in": published}, "status": PENDING},
                                               {"$set": {"status": SENT,
                                                         "sent_at": datetime.now(timezone.utc)}})
            sent += len(published)
