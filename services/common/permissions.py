"""Who may do what on the broker: one RabbitMQ user per process, least privilege.

Every process connects as its own user (members, consultations, grants,
gateway, and the operator's CLI), and RabbitMQ itself refuses what that user
may not do. The permissions are data, computed here from the event catalogue
(`events.CATALOGUE`, `events.SUBSCRIPTIONS`) and from `RPC_CALLS`, so they
follow the code instead of drifting from it. services/common/broker.py turns
this table into RabbitMQ users (`make up`, the tests, compose's definitions
file); `python -m services.common.broker table` prints it. What it means in
words is in docs/operator-guide.md, "Trust boundaries".

The names are nameko 2.14's:
- RPC: topic exchange `nameko-rpc`; a service consumes `rpc-<service>`, bound
  with `<service>.*`; a request is published with routing key
  `<service>.<method>` and `reply_to` the uuid its caller's reply queue
  `rpc.reply-<caller>-<uuid>` is bound with; the answer is published to
  `nameko-rpc` with that uuid as routing key. The caller is
  `standalone_rpc_proxy` for ClusterRpcProxy (gateway, CLI).
- Events: topic exchange `<source>.events`, routing key the event type; a
  consumer's durable queue `evt-<source>-<event>--<service>.<method>`. The
  outbox relay of the source also declares and binds its subscribers' queues
  (services/common/outbox.py), and a consumer declares the source's exchange.
- Dead letters: the broker dead-letters a message over its delivery limit
  into the consuming service's fanout exchange `<service>.dead`, bound to
  its queue `dead-<service>` (services/common/queues.py).
- Dead-letter replay: a service sends a parked message back to its own queue
  through its own direct exchange `<service>.replay`
  (`broker.replay_to_own_queue`), never through the default exchange, which
  would let it write to any queue.

Per resource RabbitMQ checks: declare = configure; publish = write on the
exchange (topic permission `write` on the routing key for a topic exchange);
queue.bind = write on the queue, read on the exchange (topic permission
`read` on the binding key); consume = read on the queue.

Invariant: every pattern is anchored (`^...$`) and names exactly the
resources listed, so a process may touch nothing this table does not name.
"""
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from services.common import events
from services.common.queues import dead_letter_exchange, dead_letter_queue, rpc_queue
from services.common.vocabulary import SERVICES

PROCESSES: Final = SERVICES + ("gateway", "cli")

RPC_EXCHANGE: Final = "nameko-rpc"               # nameko's default exchange name
STANDALONE_CALLER: Final = "standalone_rpc_proxy"  # ClusterRpcProxy's name in reply queues
OPERATOR_RPCS: Final = ("dead_letters", "replay_dead_letters", "outbox_status")  # every service's
# Not in it: the counts `dead_letter_count` (every service's) and the
# notifications' `failed_mail_count`, which the gateway calls for the ADMIN's
# `operations` (services/gateway/operations.py): numbers, never a letter or a mail.
# a service's own RPCs for the operator (besides OPERATOR_RPCS): the CLI's only
OPERATOR_ONLY: Final[Mapping[str, tuple[str, ...]]] = {
    "notifications": ("mails", "mail", "retry_mails"),  # the mail queue: `coalition mail`
    # the first secretariat person (`coalition admin add`) and the audit
    "accounts": ("add_secretariat", "audit"),
}
# RPCs that only another service sends, never the gateway: least privilege
NOT_FOR_THE_GATEWAY: Final[Mapping[str, tuple[str, ...]]] = {
    "notifications": ("send_sign_in",),  # the sign-in mail: accounts sends it, with the code
    "members": ("find_by_focal_point",),  # who an address is: accounts asks, after answering
}


def operator_rpcs(service: str) -> tuple[str, ...]:
    """Every RPC of `service` that is the operator's: OPERATOR_RPCS and its own."""
    return OPERATOR_RPCS + OPERATOR_ONLY.get(service, ())


@dataclass(frozen=True)
class AnyMethodBut:
    """Any method of a service except `excluded` (for a caller that answers
    open-ended requests: the gateway)."""
    excluded: tuple[str, ...]


def gateway_methods(service: str) -> AnyMethodBut:
    """What the gateway may call of `service`: any method (ping for /readyz
    included) but the operator's and those only another service sends."""
    return AnyMethodBut(operator_rpcs(service) + NOT_FOR_THE_GATEWAY.get(service, ()))


Methods = tuple[str, ...] | AnyMethodBut  # of one service, for one caller

# caller -> {service: methods}: every RPC a process may send.
RPC_CALLS: Final[Mapping[str, Mapping[str, Methods]]] = {
    # the gateway answers GraphQL (gateway_methods)
    "gateway": {service: gateway_methods(service) for service in SERVICES},
    # opening a round takes the snapshot from the members service's answer,
    # and a suspension is proposed about the member as members has it now
    "consultations": {"members": ("get", "voter_ids")},
    # mails are built with the focal point's address and name read from
    # members at that moment; a round's snapshot is read from consultations
    "notifications": {"members": ("get_many",), "consultations": ("eligible_of_round",)},
    # an IATI export names each implementing member as members has it now
    "grants": {"members": ("get_many",)},
    # a sign-in request: who the address is (a focal point) and the mail with its code
    "accounts": {"members": ("find_by_focal_point", "get_many"),
                 "notifications": ("send_sign_in",)},
    # the operator's CLI: dead letters, outbox lag, the export, the mail queue
    "cli": {
        # `coalition erasures list` and `replay` (docs/operator-guide.md)
        "members": OPERATOR_RPCS + ("get_many", "erased_ids", "erase_member_data"),
        "consultations": OPERATOR_RPCS + ("get", "stance_audit", "proxy_audit"),
        # `coalition export iati` and `coalition export grant`
        "grants": OPERATOR_RPCS + ("get", "iati_portfolio", "allocations_by_grants",
                                   "disbursements_by_allocations", "reports_by_allocations"),
        "notifications": operator_rpcs("notifications") + ("erase_member_data",),
        "accounts": operator_rpcs("accounts") + ("secretariat", "erase_member_data"),
    },
}

_UUID = "[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"  # a reply queue's routing key
_METHOD = "[A-Za-z_][A-Za-z0-9_]*"
NOTHING: Final = "^$"  # matches no exchange or queue name (the default exchange is `amq.default`)


def _lit(name: str) -> str:
    return re.escape(name)


def _one_of(patterns: Iterable[str]) -> str:
    """A regex matching exactly one of the (already escaped) patterns."""
    unique = sorted(set(patterns))
    return "^(" + "|".join(unique) + ")$" if unique else NOTHING


def event_exchange(service: str) -> str:
    return f"{service}.events"


def replay_exchange(service: str) -> str:
    return f"{service}.replay"


def reply_queue_pattern(caller: str) -> str:
    return _lit(f"rpc.reply-{caller}-") + _UUID


def _reply_caller(process: str) -> str:
    return STANDALONE_CALLER if process in ("gateway", "cli") else process


def own_event_types(service: str) -> list[str]:
    return sorted(e for e, (source, _) in events.CATALOGUE.items() if source == service)


def subscriptions_of(service: str) -> tuple[dict[str, list[str]], list[str]]:
    """{source: sorted event types} and [queue names] of the service's consumers."""
    sources: dict[str, set[str]] = {}
    queues = []
    for (consumer, method), event_types in events.SUBSCRIPTIONS.items():
        if consumer != service:
            continue
        for event_type in event_types:
            source = events.CATALOGUE[event_type][0]
            sources.setdefault(source, set()).add(event_type)
            queues.append(events.queue_name(source, event_type, consumer, method))
    return {s: sorted(e) for s, e in sources.items()}, sorted(queues)


def _methods(names: Iterable[str]) -> str:
    """A group matching exactly one of the method names (`$` after it anchors it)."""
    return "(" + "|".join(_lit(name) for name in sorted(set(names))) + ")"


def _call_keys(calls: Mapping[str, Methods]) -> list[str]:
    """The routing keys `<service>.<method>` of the calls, as regexes; a
    method excluded from AnyMethodBut is refused by a negative lookahead
    anchored at the key's end (so `mail` excludes `mail`, not `mailbox`)."""
    keys = []
    for service, methods in sorted(calls.items()):
        if isinstance(methods, AnyMethodBut):
            unless = f"(?!{_methods(methods.excluded)}$)" if methods.excluded else ""
            keys.append(f"{_lit(service)}\\.{unless}{_METHOD}")
        else:
            keys.append(f"{_lit(service)}\\.{_methods(methods)}")
    return keys


@dataclass
class Grant:
    """One process's permissions on the vhost: regexes for configure, write and
    read, and per topic exchange (write, read) regexes on routing keys."""
    configure: str
    write: str
    read: str
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class _Permits:
    """The escaped names a process may configure, write and read, and per
    topic exchange the routing keys it may write and bind (read) with."""
    configure: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    topic_write: dict[str, list[str]] = field(default_factory=dict)
    topic_read: dict[str, list[str]] = field(default_factory=dict)

    def allow(self, names: Iterable[str], *, configure: bool = False, write: bool = False,
              read: bool = False) -> None:
        for name in names:
            for wanted, permitted in ((configure, self.configure), (write, self.write),
                                      (read, self.read)):
                if wanted:
                    permitted.append(name)

    def topic(self, exchange: str, *, write: Iterable[str] = (),
              read: Iterable[str] = ()) -> None:
        self.topic_write.setdefault(exchange, []).extend(write)
        self.topic_read.setdefault(exchange, []).extend(read)

    def grant(self) -> Grant:
        topics = {x: (_one_of(self.topic_write[x]), _one_of(self.topic_read[x]))
                  for x in sorted(self.topic_write)}  # topic() names each exchange in both
        return Grant(_one_of(self.configure), _one_of(self.write), _one_of(self.read), topics)


def _rpc_server(permits: _Permits, service: str) -> None:
    """Its request queue, bound with `<service>.*`; it answers by the caller's uuid."""
    queue = _lit(rpc_queue(service))
    permits.allow([queue], configure=True, write=True, read=True)
    permits.allow([_lit(RPC_EXCHANGE)], write=True)
    permits.topic(RPC_EXCHANGE, write=[_UUID], read=[_lit(f"{service}.*")])


def _event_publisher(permits: _Permits, service: str) -> None:
    """Publisher of its own events; its relay declares and binds the
    subscribers' queues, so that an event waits for a consumer that never ran."""
    exchange = event_exchange(service)
    subscribers = events.consumer_queues(service)
    subscriber_queues = [_lit(q) for _, q in subscribers]
    permits.allow([_lit(exchange)], configure=True, write=True, read=True)
    permits.allow(subscriber_queues, configure=True, write=True)
    permits.topic(exchange, write=[_lit(e) for e in own_event_types(service)],
                  read=[_lit(e) for e, _ in subscribers])


def _event_consumer(permits: _Permits, service: str) -> None:
    """Its own queues, bound to the sources' exchanges (which a consumer
    declares too: configure, never write)."""
    sources, own_queues = subscriptions_of(service)
    permits.allow([_lit(q) for q in own_queues], configure=True, write=True, read=True)
    for source, event_types in sources.items():
        permits.allow([_lit(event_exchange(source))], configure=True, read=True)
        permits.topic(event_exchange(source), read=[_lit(e) for e in event_types])


def _dead_letter_replay(permits: _Permits, service: str) -> None:
    """Its own replay exchange, through which it reaches its own queues only;
    and its own dead-letter exchange and queue (services/common/queues.py),
    which it declares, binds and consumes (the broker itself dead-letters
    into the exchange: no process writes to it)."""
    permits.allow([_lit(replay_exchange(service))], configure=True, write=True, read=True)
    permits.allow([_lit(dead_letter_exchange(service))], configure=True, read=True)
    permits.allow([_lit(dead_letter_queue(service))], configure=True, write=True, read=True)


def _rpc_client(permits: _Permits, process: str, calls: Mapping[str, Methods]) -> None:
    """Its reply queues, and only the calls it makes."""
    reply = reply_queue_pattern(_reply_caller(process))
    permits.allow([reply], configure=True, write=True, read=True)
    permits.allow([_lit(RPC_EXCHANGE)], write=True)
    permits.topic(RPC_EXCHANGE, write=_call_keys(calls), read=[_UUID])


def grant(process: str) -> Grant:
    """The permissions of `process` (one of PROCESSES)."""
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}")
    permits = _Permits()
    calls = RPC_CALLS.get(process, {})
    if process in SERVICES or calls:  # every RPC party declares the RPC exchange
        permits.allow([_lit(RPC_EXCHANGE)], configure=True, read=True)
    if process in SERVICES:
        _rpc_server(permits, process)
        _event_publisher(permits, process)
        _event_consumer(permits, process)
        _dead_letter_replay(permits, process)
    if calls:
        _rpc_client(permits, process, calls)
    return permits.grant()


def allows(pattern: str, name: str) -> bool:
    """Whether a permission regex lets `name` through (RabbitMQ: a regex search)."""
    return re.search(pattern, name) is not None


def table() -> str:
    """Every process's permissions, as `python -m services.common.broker table` prints them."""
    lines = []
    for process in PROCESSES:
        g = grant(process)
        lines += [f"{process}:", f"  configure {g.configure}", f"  write     {g.write}",
                  f"  read      {g.read}"]
        for exchange, (write, read) in g.topics.items():
            lines += [f"  topic {exchange}: write {write}", f"  topic {exchange}: read  {read}"]
    return "\n".join(lines)
