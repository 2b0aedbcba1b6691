"""What resolvers see as `info.context`: who asks (the Viewer), from where
(the client address), the gateway's shared parts (RPC pool, member
statuses, rate limits, background calls), and the request's own DataLoaders.

Every call a request makes is named `<work_id>:<service>.<method>:<n>`, and
each service does each change of a named call once
(services/common/store.py): a repeat of the request under the same
Idempotency-Key makes the same names (services/gateway/idempotency.py).
"""
import collections
import uuid
from typing import Any

from prometheus_client import Counter

from services.gateway.auth import MemberStatuses, Viewer
from services.gateway.loaders import Loaders

RPC_CALLS = Counter("coalition_gateway_rpc_calls_total", "RPC calls made", ["service", "method"])


class Context:
    """What resolvers see as info.context."""

    def __init__(self, viewer: Viewer, gateway: Any, request_id: str, client: str,
                 work_id: str | None = None, members: MemberStatuses | None = None) -> None:
        """`work_id` names the work of this request: its Idempotency-Key's
        record when it has one (so a repeat names its calls the same), else
        a new name. Every call is named `<work_id>:<service>.<method>:<n>`,
        and each service does each change of a named call once. `members`:
        the request's member statuses (MemberStatuses.for_request), if
        the request already has them."""
        self.viewer = viewer
        self.pool = gateway.pool
        self.settings = gateway.settings
        # member statuses (auth.MemberStatuses), as this request sees them
        self.members = members or gateway.members.for_request()
        self.limits = gateway.limits    # per-client counters (store.RateLimits)
        self.keys = gateway.keys        # kept answers of Idempotency-Keys (idempotency.Keys)
        self.client = client            # the client's address (limits.ClientAddress)
        self.request_id = request_id
        self.work_id = work_id or uuid.uuid4().hex
        self.calls_of: collections.Counter[tuple[str, str]] = collections.Counter()
        self.loaders = Loaders(self)
        self.background = gateway.background
        # the Set-Cookie of the answer, if a resolver set or cleared the session cookie
        self.cookie: str | None = None
        # False once the answer holds a session's token: it is then never
        # kept under an Idempotency-Key (the gateway's store holds no token)
        self.answer_may_be_kept = True
        # the members whose focal point the answer carries (disclosure.py): kept
        # with the answer under its Idempotency-Key, scrubbed if they are erased
        self.shown_focal_points: set[str] = set()

    @property
    def rpc_calls(self) -> int:
        """Every call this request made (the X-RPC-Calls header)."""
        return sum(self.calls_of.values())

    def name(self, service: str, method: str) -> str:
        """The name of the request's next call of `service.method` (counted)."""
        self.calls_of[service, method] += 1
        RPC_CALLS.labels(service, method).inc()
        return f"{self.work_id}:{service}.{method}:{self.calls_of[service, method]}"

    def call(self, service: str, method: str, *args: Any) -> Any:
        return self.pool.call(service, method, *args, request=self.name(service, method))

    def call_later(self, service: str, method: str, *args: Any) -> None:
        """The call, named as `call` names it, made by the gateway's
        background threads after this request is answered (its outcome is
        not waited for: background.Background)."""
        self.background.submit(service, method, *args, request=self.name(service, method))
