"""Moving a deployment's durable queues from one type to another (classic to
quorum, or back), keeping every message: `coalition queues migrate --to quorum`.

RabbitMQ cannot change the type of an existing queue, and a service that
declares its queue with another type than the broker has is refused
(PRECONDITION_FAILED). So, with every process of the deployment stopped
(services and gateway: nothing publishes and nothing consumes; the outbox
keeps new events in the store meanwhile), for each queue of the catalogue
(`catalogue()`: every RPC, event and dead-letter queue of our services):

1. declare it with the target type: if the broker accepts, it is already of
   that type (or is new), and step 5 alone remains;
2. otherwise declare a holding queue `<name>.migrating` of the target type and
   move every message into it (each published with confirms, then acked);
3. delete the old queue, once it is empty (else move again);
4. declare the queue with the target type and its binding;
5. move the holding queue's messages back into it and delete the holding queue.

Every step can be run again: a migration that stopped anywhere is finished by
running it again. A queue with a consumer is refused (a process still runs).
The operator runs it with the broker administrator's URI (AMQP_ADMIN_URI):
each process of ours may configure (so delete) only its own queues, and the
migration deletes every service's, and holding queues no process may touch
(docs/operator-guide.md, "Queue types").

`mismatched()` is the start-up check of a service (services/common/runner.py):
its own queues, declared as QUEUE_TYPE says, or the names the broker refused.
"""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import amqp
from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection, Exchange, Queue
from nameko.rpc import get_rpc_exchange
from nameko.standalone.events import get_event_exchange

from services.common.entrypoints import dead_letters_exchange
from services.common.events import consumer_queues
from services.common.permissions import subscriptions_of
from services.common.queues import QUORUM, dead_letter_queue, queue_arguments, rpc_queue
from services.common.vocabulary import SERVICES

HOLDING_SUFFIX = ".migrating"


class MigrationError(Exception):
    """The migration cannot go on; str() says why and what to do."""


@dataclass(frozen=True)
class QueueSpec:
    """A durable queue of ours and its one binding."""
    name: str
    exchange: Exchange
    routing_key: str


def catalogue(services: Iterable[str] = SERVICES) -> list[QueueSpec]:
    """Every durable queue our services declare, with its binding."""
    specs = []
    for service in services:
        specs.append(QueueSpec(rpc_queue(service), get_rpc_exchange({}), f"{service}.*"))
        specs.append(QueueSpec(dead_letter_queue(service), dead_letters_exchange(service), ""))
        for event_type, name in consumer_queues(service):
            specs.append(QueueSpec(name, get_event_exchange(service, {}), event_type))
    return specs


def own_queues(service: str) -> list[str]:
    """The durable queues `service` itself consumes."""
    return [rpc_queue(service), dead_letter_queue(service), *subscriptions_of(service)[1]]


def _declare(conn: Any, name: str, arguments: Mapping[str, Any],
             spec: QueueSpec | None = None) -> bool:
    """Declare `name` with `arguments` (bound as `spec` says, if given): False
    when the broker has it with other arguments (its type)."""
    channel = conn.channel()
    try:
        queue = Queue(name, durable=True, queue_arguments=dict(arguments),
                      exchange=spec.exchange if spec else None,
                      routing_key=spec.routing_key if spec else None)
        queue(channel).declare()
        return True
    except PreconditionFailed:
        return False
    finally:
        _close(channel)


def _close(channel: Any) -> None:
    try:
        channel.close()
    except Exception:  # the broker closed it already, after a refusal
        pass


def _inspect(conn: Any, name: str) -> tuple[int, int] | None:
    """(messages ready, consumers) of the queue `name`; None if it does not exist."""
    channel = conn.channel()
    try:
        _, messages, consumers = channel.queue_declare(name, passive=True)
        return messages, consumers
    except NotFound:
        return None
    finally:
        _close(channel)


def _refuse_consumed(conn: Any, name: str) -> None:
    consumers = (_inspect(conn, name) or (0, 0))[1]
    if consumers:
        raise MigrationError(f"queue {name} has {consumers} consumer(s): stop every service "
                             "and the gateway first")


def _move(conn: Any, source: str, target: str) -> int:
    """Move every message of `source` into `target`: a copy of the message as
    it came (body and every property: headers, reply_to, correlation_id, its
    expiration, ...), published mandatory and confirmed by the broker before
    the original is acked. A crash between the two leaves a copy: consumers
    are idempotent. A target that does not exist raises: nothing is acked."""
    channel = conn.channel()
    channel.confirm_select()
    moved = 0
    try:
        while (message := channel.basic_get(source, no_ack=False)) is not None:
            properties = {k: v for k, v in message.properties.items() if k != "user_id"}
            channel.basic_publish_confirm(amqp.Message(message.body, **properties),
                                          exchange="", routing_key=target, mandatory=True)
            channel.basic_ack(message.delivery_tag)
            moved += 1
    finally:
        _close(channel)
    return moved


def _delete_if_empty(conn: Any, name: str) -> bool:
    """Delete `name` if it holds no message (False: one came in meanwhile, to
    move too). Quorum queues refuse queue.delete's if-empty flag, so the
    count is read first: nothing publishes while every process is stopped."""
    if (_inspect(conn, name) or (0, 0))[0]:
        return False
    channel = conn.channel()
    try:
        channel.queue_delete(name)
        return True
    finally:
        _close(channel)


def migrate_queue(conn: Any, spec: QueueSpec, arguments: Mapping[str, Any]) -> int:
    """Steps 1-5 of the module docstring for one queue; the messages moved."""
    holding = spec.name + HOLDING_SUFFIX
    moved = 0
    if not _declare(conn, spec.name, arguments, spec):
        _refuse_consumed(conn, spec.name)
        if not _declare(conn, holding, arguments):
            raise MigrationError(f"{holding} exists with another type: delete it after "
                                 "checking it is empty")
        while True:
            moved += _move(conn, spec.name, holding)
            if _delete_if_empty(conn, spec.name):
                break
        if not _declare(conn, spec.name, arguments, spec):
            raise MigrationError(f"{spec.name} was declared again meanwhile: stop every "
                                 "process and run the migration again")
    if _inspect(conn, holding) is not None:
        _move(conn, holding, spec.name)
        if not _delete_if_empty(conn, holding):
            raise MigrationError(f"{holding} got new messages: run the migration again")
    return moved


def migrate(admin_uri: str, queue_type: str = QUORUM,
            services: Iterable[str] = SERVICES) -> list[tuple[str, int]]:
    """Every queue of `catalogue()` as `queue_type`: [(queue, messages moved)]."""
    arguments = queue_arguments({"QUEUE_TYPE": queue_type})
    with Connection(admin_uri) as conn:  # _move publishes with confirms itself
        return [(spec.name, migrate_queue(conn, spec, arguments))
                for spec in catalogue(services)]


def mismatched(amqp_uri: str, names: Iterable[str], config: Mapping[str, Any]) -> list[str]:
    """Of `names` (queues the caller may declare), those the broker holds with
    another type than QUEUE_TYPE says (declaring the others, unbound, as nameko would)."""
    arguments = queue_arguments(config)
    with Connection(amqp_uri, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1)
        return [name for name in names if not _declare(conn, name, arguments)]
