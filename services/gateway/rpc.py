"""Pooled, reused nameko RPC clients with timeouts.

One pool per gateway process. A client is taken for one call and given back;
a client whose call timed out or lost its connection is thrown away (a late
reply would otherwise sit in its reply queue) and replaced lazily.

A call may carry a name (`request=`), sent in nameko's context data: the
service does each change of a named call once (services/common/store.py).

Each client's replies come on a transient reply queue (remote.reply_queue),
so that a client cut off by the death of a broker node declares it again on
another node. An idle client whose reply connection was closed meanwhile is
thrown away before it is used (reply_connection_open), and so is one whose
own channel the broker closed (an AMQP error): it is unusable, while the
service it called may be fine.
"""
import queue
import select
import socket
import threading
from typing import Any, NamedTuple

from amqp.exceptions import AMQPError
from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.errors import Unavailable  # importing it registers the typed errors
from services.common.remote import StandaloneReplyListener
from services.common.store import REQUEST_CONTEXT_KEY


class ServiceUnavailable(Unavailable):
    """A service did not answer in time, or the broker is unreachable
    (SERVICE_UNAVAILABLE, like any `Unavailable`)."""

    def __init__(self, service: str, kind: str, detail: str = "") -> None:
        """`kind`: a few fixed words ('no reply', 'broker unreachable', ...)
        that health checks may show; `detail` adds figures for people."""
        super().__init__(f"The {service} service did not answer ({kind}{detail}). "
                         "Try again in a moment.")
        self.service = service
        self.kind = kind


class PooledClient(NamedTuple):
    """A started RPC proxy: `services.<name>.<method>(...)` calls; the proxy
    sends a copy of `context` (nameko's context data) with every call."""
    proxy: ClusterRpcProxy
    services: Any
    context: dict


def reply_connection_open(proxy: ClusterRpcProxy) -> bool:
    """Whether the connection `proxy` waits for replies on is still open.

    A connection the broker closed while the client sat idle (its node died;
    HAProxy cuts the sessions of a node it marks down) reads as end-of-file
    at once. nameko finds out only when it next waits for a reply, after it
    has sent the request: it connects again, but the reply is lost on the
    way and the call waits out the whole RPC timeout. One look at the socket
    (peeked, nothing read) spares that; a TLS socket cannot be peeked and is
    taken as open."""
    try:
        amqp_connection = proxy._reply_listener.queue_consumer.connection._connection
        sock = amqp_connection.transport.sock
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        if not poller.poll(0):
            return True  # nothing to read: open
        return bool(sock.recv(1, socket.MSG_PEEK))  # readable: a frame, or end-of-file
    except ValueError:  # TLS: cannot peek
        return True
    except (AttributeError, OSError):  # never connected, or closed
        return False


class RpcPool:
    def __init__(self, config: dict, size: int = 8, timeout: float = 10.0) -> None:
        self.config = config
        self.size = size
        self.timeout = timeout
        self._idle: queue.LifoQueue[PooledClient] = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()

    def _new_client(self, timeout: float) -> PooledClient:
        """The proxy keeps the context dict it is given and sends a copy of
        it with every call."""
        context: dict = {}
        proxy = ClusterRpcProxy(self.config, context_data=context, timeout=timeout,
                                reply_listener_cls=StandaloneReplyListener)
        return PooledClient(proxy, proxy.start(), context)

    def _acquire(self) -> PooledClient:
        """An idle client whose reply connection is still open (the others are
        thrown away: see reply_connection_open), else a new one while the pool
        has room, else the next one given back."""
        while True:
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                client = self._new_or_next()
            if reply_connection_open(client.proxy):
                return client
            self._discard(client)

    def _new_or_next(self) -> PooledClient:
        with self._lock:
            if self._created < self.size:
                self._created += 1
                try:
                    return self._new_client(self.timeout)
                except Exception:
                    self._created -= 1
                    raise
        return self._idle.get(timeout=self.timeout)

    def _discard(self, client: PooledClient) -> None:
        with self._lock:
            self._created -= 1
        try:
            client.proxy.stop()
        except Exception:
            pass

    def _take(self, service: str) -> PooledClient:
        """An idle or new client; ServiceUnavailable if none comes in time."""
        try:
            return self._acquire()
        except queue.Empty:
            raise ServiceUnavailable(service, "gateway busy")
        except (OperationalError, OSError, AMQPError) as exc:
            raise ServiceUnavailable(service, "broker unreachable") from exc

    def call(self, service: str, method: str, *args: Any, request: str | None = None,
             **kwargs: Any) -> Any:
        """`service.method(*args, **kwargs)` over RPC, named `request` if
        given; ServiceUnavailable if it does not answer, the service's own
        error if it refuses."""
        client = self._take(service)
        client.context.clear()
        if request is not None:
            client.context[REQUEST_CONTEXT_KEY] = request
        try:
            result = getattr(getattr(client.services, service), method)(*args, **kwargs)
        except RpcTimeout as exc:
            self._discard(client)
            raise ServiceUnavailable(service, "no reply", f" within {self.timeout}s") from exc
        except UnknownService as exc:  # no instance has ever declared its queue
            self._idle.put(client)
            raise ServiceUnavailable(service, "not running") from exc
        except (OperationalError, OSError, ConnectionError, AMQPError) as exc:
            self._discard(client)
            raise ServiceUnavailable(service, "connection to the broker lost") from exc
        except Exception:
            self._idle.put(client)  # a remote error: the client itself is fine
            raise
        self._idle.put(client)
        return result

    def close(self) -> None:
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                return
