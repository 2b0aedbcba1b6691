"""Queue types, delivery limits and the broker's own dead letters.

With QUEUE_TYPE=quorum (the default) every durable queue we declare is a
RabbitMQ quorum queue: replicated over the cluster's nodes by Raft, so a
message the broker confirmed survives the loss of a node (RabbitMQ removed
classic mirrored queues in 4.0). Those queues are a service's RPC queue
`rpc-<service>`, its event queues `evt-<source>-<event>--<service>.<method>`
and its dead-letter queue `dead-<service>`. Reply queues (`rpc.reply-...`)
are transient and auto-delete (services/common/remote.py), so they stay
classic, as RabbitMQ requires; they live and die with their caller's
connection. QUEUE_TYPE=classic keeps single-node queues.

How a queue is declared must be the same wherever it is declared (the
service that consumes it, and the outbox relay of the source, which
declares its subscribers' queues so that no event is lost before they ever
ran): `queue_arguments(config)` is that one rule.

Delivery limits and dead-lettering are broker policies (`policies()`, part of
the definitions every deployment imports: services/common/broker.py), not
queue arguments: a policy can be changed without re-declaring the queue,
and a queue argument naming a dead-letter exchange would make RabbitMQ demand
read rights on the subscriber's queue from the publisher that declares it.

- An event message delivered DELIVERY_LIMIT times without an answer (its
  consumer crashed or was cut off each time: our consumers answer every
  message they can hold, see services/common/handlers.py) is dead-lettered,
  at least once, to the consuming service's fanout exchange `<service>.dead`.
  The service's `DeadLetterConsumer` (services/common/entrypoints.py,
  which declares every queue by these rules) parks it in its `dead_letters`
  collection, where `coalition dlq list|replay` shows and replays it like a
  message its handler gave up on.
- An RPC request over the limit is dropped: its caller timed out long ago,
  and carrying it out later would surprise everyone.
- The dead-letter queue itself has a limit too high to reach
  (DEAD_LETTER_QUEUE_LIMIT): RabbitMQ 4 would otherwise drop a dead letter
  after 20 returns.
"""
import re
from collections.abc import Mapping
from typing import Any, Final

from services.common.vocabulary import SERVICES

CLASSIC: Final = "classic"
QUORUM: Final = "quorum"
QUEUE_TYPES: Final = (CLASSIC, QUORUM)

# Deliveries of one message without an ack before the broker dead-letters it.
# A node failure returns every unacked message once, so a message must be
# cut off this many times before it is taken for a poison one.
DELIVERY_LIMIT: Final = 20
# The dead-letter queue's own limit: RabbitMQ 4 gives every quorum queue a
# limit of 20 by default, and a message over it there would have nowhere to
# go. A policy cannot say "none" (-1), so it says "never in practice".
DEAD_LETTER_QUEUE_LIMIT: Final = 1_000_000
_METHOD = "[A-Za-z_][A-Za-z0-9_]*"


def queue_arguments(config: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of every durable queue we declare, from QUEUE_TYPE. The
    type is always named, classic too: a broker whose default_queue_type is
    quorum (as on Kubernetes) would make an unnamed one quorum. RabbitMQ takes
    `classic` and no type as the same, so queues declared before keep working."""
    return {"x-queue-type": config.get("QUEUE_TYPE", QUORUM)}


def rpc_queue(service: str) -> str:
    """nameko's RPC queue of `service`."""
    return f"rpc-{service}"


def dead_letter_exchange(service: str) -> str:
    return f"{service}.dead"


def dead_letter_queue(service: str) -> str:
    return f"dead-{service}"


def policies(vhost: str, services: tuple[str, ...] = SERVICES) -> list[dict[str, Any]]:
    """The broker policies of `vhost` (RabbitMQ definitions format): per
    service, the delivery limit and dead-letter exchange of its event
    queues, the delivery limit of its RPC queue, and the (practically no)
    limit of its dead-letter queue. Each pattern names exactly that
    service's queues (anchored), so no two policies overlap."""
    out = []
    for service in services:
        out.append({"vhost": vhost, "name": f"coalition-events-{service}",
                    "pattern": f"^evt-.+--{service}\\.{_METHOD}$", "apply-to": "queues",
                    "priority": 10, "definition": {
                        "delivery-limit": DELIVERY_LIMIT,
                        "dead-letter-exchange": dead_letter_exchange(service),
                        "dead-letter-strategy": "at-least-once",
                        "overflow": "reject-publish"}})
        out.append({"vhost": vhost, "name": f"coalition-rpc-{service}",
                    "pattern": f"^{re.escape(rpc_queue(service))}$", "apply-to": "queues",
                    "priority": 10,
                    "definition": {"delivery-limit": DELIVERY_LIMIT}})
        out.append({"vhost": vhost, "name": f"coalition-dead-{service}",
                    "pattern": f"^{re.escape(dead_letter_queue(service))}$", "apply-to": "queues",
                    "priority": 10, "definition": {"delivery-limit": DEAD_LETTER_QUEUE_LIMIT}})
    return out
