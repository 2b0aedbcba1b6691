"""Calls the gateway makes after the request that asked for them was
answered: `accounts.request_sign_in`, so that requestSignIn costs the same
for a known and an unknown address (DOMAIN.md section 7, signin.py)."""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Final

log = logging.getLogger("coalition.gateway")

WORKERS: Final = 4
MOST_WAITING: Final = 1000  # past this, a call is dropped (and logged), never queued


class Background:
    """A few threads of this gateway process that make RPCs after the
    request that asked for them was answered (`accounts.request_sign_in`).

    The executor is made on first use, in the serving worker (gunicorn
    forks after importing the app, and threads do not survive a fork). At
    most `most_waiting` calls wait; past that a call is dropped and logged
    (a flood from many client addresses must not grow memory without
    bound). A call that fails is logged by its error's class, never with
    its arguments (they hold an address)."""

    def __init__(self, call: Callable[..., Any], workers: int = WORKERS,
                 most_waiting: int = MOST_WAITING) -> None:
        """`call(service, method, *args, request=name)`: the gateway's RpcPool.call."""
        self.call = call
        self.workers = workers
        self.most_waiting = most_waiting
        self.waiting = 0
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, service: str, method: str, *args: Any, request: str | None = None) -> bool:
        """Make the call soon; False if it was dropped (too many wait)."""
        with self._lock:
            if self.waiting >= self.most_waiting:
                log.warning("%s.%s dropped: %d calls wait already", service, method, self.waiting)
                return False
            self.waiting += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.workers,
                                                    thread_name_prefix="background-rpc")
            executor = self._executor
        executor.submit(self._run, service, method, args, request)
        return True

    def _run(self, service: str, method: str, args: tuple, request: str | None) -> None:
        try:
            self.call(service, method, *args, request=request)
        except Exception as exc:
            log.warning("%s.%s failed in the background (%s)", service, method,
                        type(exc).__name__)
        finally:
            with self._lock:
                self.waiting -= 1
