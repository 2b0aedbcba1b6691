"""Calls from one service to another over nameko RPC, bounded in time.

nameko 2.14's `RpcProxy` waits for a reply for ever: a service that calls
another one that is down would hold its worker (and the caller's request)
until the caller gives up. `BoundedRpcProxy` is the same dependency with a
deadline:

    class ConsultationsService:
        members = BoundedRpcProxy("members")

        def work(self):
            ids = self.members.voter_ids()   # Unavailable after the timeout

A call that gets no answer in time, a target that is not declared on the
broker, or a broker that cannot be reached raises
`services.common.errors.Unavailable` (SERVICE_UNAVAILABLE at the gateway;
an outage, not the message's fault, in an event handler: see handlers.py).
Typed errors of the target (NotFound, Unavailable of its own store, ...)
come back as they are.

The timeout defaults to half of RPC_TIMEOUT_SECONDS, the gateway's own wait,
so that the gateway hears the named SERVICE_UNAVAILABLE from the calling
service before its own wait ends. The request is published with the same
time to live, so requests to a target that is down expire in the broker
instead of piling up for it.

Only idempotent reads should be called this way: after a timeout the request
may still be answered (and the answer is dropped). The deadline also covers
publishing the request: a timeout that strikes while the broker connection is
mid-publish leaves that pooled connection to kombu's reconnect on next use.

Replies come back on a reply queue of the caller's own (`reply_queue`),
transient and auto-delete, unlike nameko 2.14's: see there why. Services get
it through BoundedRpcProxy, the gateway's pooled clients through
`StandaloneReplyListener`.
"""
import logging
import uuid
from collections.abc import Callable
from typing import Any

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Queue
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService
from nameko.rpc import (RPC_REPLY_QUEUE_TEMPLATE, RPC_REPLY_QUEUE_TTL, ReplyListener, RpcProxy,
                        get_rpc_exchange)
from nameko.standalone.rpc import SingleThreadedReplyListener

from services.common.errors import Unavailable

log = logging.getLogger(__name__)

TIMEOUT_FRACTION_OF_GATEWAY = 0.5
_BROKER_TROUBLE = (UnknownService, OperationalError, AmqpConnectionError, ConnectionError)


def reply_queue(caller: str, config: dict[str, Any]) -> tuple[str, Queue]:
    """(routing key, queue) of a new reply queue of `caller`: nameko's name
    (rpc.reply-<caller>-<uuid>), binding and expiry, but transient and
    auto-delete.

    nameko 2.14 declares its reply queues durable (kombu's default). In a
    RabbitMQ cluster a durable classic queue lives on one node, and while
    that node is down RabbitMQ refuses to declare it on any other (404
    NOT_FOUND, "home node ... is down or inaccessible"). A caller cut off by
    the node's death reconnects and declares its reply queue again first:
    a service (nameko consumes all of a service's queues, its RPC and event
    queues too, on one connection) then takes nothing, and a gateway client
    fails every call, until the node returns. A transient queue goes with
    its node and is declared again wherever its caller reconnects; auto-delete
    removes it as soon as its consumer goes (a reply sent meanwhile is lost:
    its call times out, as when the caller is cut off)."""
    key = str(uuid.uuid4())
    return key, Queue(RPC_REPLY_QUEUE_TEMPLATE.format(caller, key),
                      exchange=get_rpc_exchange(config), routing_key=key,
                      queue_arguments={"x-expires": RPC_REPLY_QUEUE_TTL},
                      durable=False, auto_delete=True)


class TransientReplyListener(ReplyListener):  # type: ignore[misc]
    """nameko's ReplyListener (one per service) on `reply_queue`."""

    def setup(self) -> None:
        self.routing_key, self.queue = reply_queue(self.container.service_name,
                                                   self.container.config)
        self.queue_consumer.register_provider(self)


class StandaloneReplyListener(TransientReplyListener,
                              SingleThreadedReplyListener):  # type: ignore[misc]
    """The ReplyListener of a ClusterRpcProxy (`reply_listener_cls=`): nameko's
    standalone one, with TransientReplyListener's setup (`reply_queue`)."""


class BoundedRpcProxy(RpcProxy):  # type: ignore[misc]  # nameko has no type information
    """nameko's RpcProxy whose calls end within `timeout` seconds (default:
    half of the RPC_TIMEOUT_SECONDS setting) or raise Unavailable."""

    rpc_reply_listener = TransientReplyListener()

    def __init__(self, target_service: str, timeout: float | None = None,
                 **options: Any) -> None:
        super().__init__(target_service, **options)
        self.requested_timeout = timeout
        self.timeout = 0.0  # set by setup(), when the settings are known

    def setup(self) -> None:
        super().setup()
        if self.requested_timeout is not None:
            self.timeout = self.requested_timeout
        else:
            self.timeout = (self.container.config.get("RPC_TIMEOUT_SECONDS", 10.0)
                            * TIMEOUT_FRACTION_OF_GATEWAY)
        self.options.setdefault("expiration", self.timeout)

    def get_dependency(self, worker_ctx: Any) -> "BoundedServiceProxy":
        return BoundedServiceProxy(super().get_dependency(worker_ctx), self.target_service,
                                   self.timeout)


class BoundedServiceProxy:
    """`proxy.method(*args)` with a deadline; see the module docstring."""

    def __init__(self, proxy: Any, service_name: str, timeout: float) -> None:
        self._proxy = proxy
        self._service_name = service_name
        self._timeout = timeout

    def __getattr__(self, method_name: str) -> Callable[..., Any]:
        method = getattr(self._proxy, method_name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return bounded_call(method, self._service_name, self._timeout, *args, **kwargs)
        call.__name__ = method_name
        return call


def bounded_call(method: Any, service_name: str, timeout: float, *args: Any,
                 **kwargs: Any) -> Any:
    """method(*args, **kwargs) (a nameko MethodProxy) within `timeout` seconds,
    or Unavailable."""
    timer = eventlet.Timeout(timeout)
    reply = None
    try:
        reply = method.call_async(*args, **kwargs)
        return reply.result()
    except eventlet.Timeout as exc:
        if exc is not timer:
            raise  # someone else's deadline
        _forget(method, reply)
        log.warning("%s did not answer within %.1fs", method, timeout)
        raise Unavailable(f"The {service_name} service did not answer in time; nothing was "
                          "changed. Try again in a moment.") from None
    except _BROKER_TROUBLE as exc:
        log.warning("%s: broker trouble: %s", method, type(exc).__name__)
        raise Unavailable(f"The {service_name} service could not be reached; nothing was "
                          "changed. Try again in a moment.") from None
    finally:
        timer.cancel()


def _forget(method: Any, reply: Any) -> None:
    """Drop the reply slot of a call we gave up on (nameko keeps it until an
    answer comes, which may be never)."""
    events = getattr(getattr(method, "reply_listener", None), "_reply_events", None)
    if reply is None or not isinstance(events, dict):
        return
    for correlation_id, event in list(events.items()):
        if event is reply.reply_event:
            events.pop(correlation_id, None)
