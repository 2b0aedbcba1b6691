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
"""
import logging
from collections.abc import Callable
from typing import Any

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from services.common.errors import Unavailable

log = logging.getLogger(__name__)

TIMEOUT_FRACTION_OF_GATEWAY = 0.5
_BROKER_TROUBLE = (UnknownService, OperationalError, AmqpConnectionError, ConnectionError)


class BoundedRpcProxy(RpcProxy):  # type: ignore[misc]  # nameko has no type information
    """nameko's RpcProxy whose calls end within `timeout` seconds (default:
    half of the RPC_TIMEOUT_SECONDS setting) or raise Unavailable."""

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
