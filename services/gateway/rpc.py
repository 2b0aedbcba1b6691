"""Pooled, reused nameko RPC clients with timeouts.

One pool per gateway process. A client is taken for one call and given back;
a client whose call timed out or lost its connection is thrown away (a late
reply would otherwise sit in its reply queue) and replaced lazily.

A call may carry a name (`request=`), sent in nameko's context data: the
service does each change of a named call once (services/common/store.py).
"""
import logging
import queue
import threading

from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

import services.common.errors  # noqa: F401  (registers typed errors for deserialisation)
from services.common.store import REQUEST_CONTEXT_KEY

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """A service did not answer in time, or the broker is unreachable."""

    def __init__(self, service, kind, detail=""):
        """`kind`: a few fixed words ('no reply', 'broker unreachable', ...)
        that health checks may show; `detail` adds figures for people."""
        super().__init__(f"The {service} service did not answer ({kind}{detail}). "
                         "Try again in a moment.")
        self.service = service
        self.kind = kind


class RpcPool:
    def __init__(self, config, size=8, timeout=10.0):
        self.config = config
        self.size = size
        self.timeout = timeout
        self._idle = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self.calls = 0  # every call made by this process (tests, metrics)

    def _new_client(self, timeout):
        """(proxy, its services, its context data): the proxy keeps the dict
        it is given and sends a copy of it with every call."""
        context = {}
        proxy = ClusterRpcProxy(self.config, context_data=context, timeout=timeout)
        return proxy, proxy.start(), context

    def _acquire(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self.size:
                self._created += 1
                try:
                    return self._new_client(self.timeout)
                except Exception:
                    self._created -= 1
                    raise
        return self._idle.get(timeout=self.timeout)

    def _discard(self, client):
        with self._lock:
            self._created -= 1
        try:
            client[0].stop()
        except Exception:
            pass

    def call(self, service, method, *args, request=None, **kwargs):
        with self._lock:
            self.calls += 1
        try:
            client = self._acquire()
        except queue.Empty:
            raise ServiceUnavailable(service, "gateway busy")
        except (OperationalError, OSError) as exc:
            raise ServiceUnavailable(service, "broker unreachable") from exc
        client[2].clear()
        if request is not None:
            client[2][REQUEST_CONTEXT_KEY] = request
        try:
            result = getattr(getattr(client[1], service), method)(*args, **kwargs)
        except RpcTimeout as exc:
            self._discard(client)
            raise ServiceUnavailable(service, "no reply", f" within {self.timeout}s") from exc
        except UnknownService as exc:  # no instance has ever declared its queue
            self._idle.put(client)
            raise ServiceUnavailable(service, "not running") from exc
        except (OperationalError, OSError, ConnectionError) as exc:
            self._discard(client)
            raise ServiceUnavailable(service, "connection to the broker lost") from exc
        except Exception:
            self._idle.put(client)  # a remote error: the client itself is fine
            raise
        self._idle.put(client)
        return result

    def close(self):
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                return
