"""The Mongo DependencyProvider every service uses.

One MongoClient per service container, one database per service
(`{MONGO_DB_PREFIX}_{service}`), the indexes each service declares, and
`transaction(fn)`: fn(tx) runs in one multi-document transaction in which
`tx.emit(...)` writes events to the outbox, so a state change and the events
announcing it commit together or not at all.

Each change a request makes is done once. RabbitMQ redelivers an RPC whose
service died before acknowledging it (after its transaction committed), and
a client repeats a mutation whose answer it lost (with the same
Idempotency-Key). The gateway names every call it makes
(`REQUEST_CONTEXT_KEY`, in nameko's context data); a worker that carries a
name records each transaction it commits under `<name>#<n>` (the n-th
committed transaction of that call) in the `requests` collection, in the same
transaction. A call with the same name finds the record and gets the kept
result back without running the work again. Invariant: a mutation RPC
writes only through `self.store.transaction(work)` and answers from what
`work` returns, never from values computed outside it.
"""
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, TypeVar

from nameko.extensions import DependencyProvider
from pymongo import ASCENDING, IndexModel, MongoClient
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from services.common import outbox
from services.common.events import Envelope, make_envelope

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Client = MongoClient[Doc]
Db = Database[Doc]
Indexes = Mapping[str, Sequence[IndexModel]]  # collection -> its indexes
Migration = Callable[["Store"], None]
T = TypeVar("T")

# Collections of the kit itself, present in every service database.
KIT_INDEXES: Final[Indexes] = {
    "outbox": [
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)]),
        # sent events are kept a week for audit, then expire
        IndexModel([("sent_at", ASCENDING)], expireAfterSeconds=7 * 24 * 3600),
    ],
    "processed_events": [IndexModel([("at", ASCENDING)])],
    "dead_letters": [IndexModel([("status", ASCENDING), ("failed_at", ASCENDING)])],
    # changes done for a named request (see above); kept longer than the
    # gateway keeps an Idempotency-Key (24 hours), so a repeat always finds them
    "requests": [IndexModel([("at", ASCENDING)], expireAfterSeconds=48 * 3600)],
}

# the name of a call, in nameko's context data (header `nameko.coalition_request`)
REQUEST_CONTEXT_KEY: Final = "coalition_request"


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond (what the store keeps), so a value
    returned before and after a round trip is the same."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def database_name(config: Mapping[str, Any], service_name: str) -> str:
    return f"{config['MONGO_DB_PREFIX']}_{service_name}"


def make_client(config: Mapping[str, Any], **kwargs: Any) -> Client:
    """The one way a process opens the store: MONGO_URI, datetimes aware and
    in UTC, and a bounded wait for a server."""
    options: dict[str, Any] = {"serverSelectionTimeoutMS": 10000, **kwargs}
    return MongoClient(config["MONGO_URI"], tz_aware=True, tzinfo=timezone.utc, **options)


def ensure_indexes(db: Db, indexes: Indexes) -> None:
    for collection, models in {**KIT_INDEXES, **indexes}.items():
        if models:
            db[collection].create_indexes(models)


class Tx:
    """What a transaction callback gets: the session, the db and emit()."""

    def __init__(self, store: "Store", session: ClientSession) -> None:
        self.store = store
        self.session = session
        self.db = store.db
        self.events: list[Envelope] = []

    def emit(self, event_type: str, data: dict[str, Any]) -> Envelope:
        envelope = make_envelope(event_type, data, source=self.store.service_name)
        outbox.add(self.db, self.session, envelope)
        self.events.append(envelope)
        return envelope


class Store:
    """The object a service method sees as `self.store`."""

    def __init__(self, client: Client, db: Db, service_name: str, config: dict[str, Any],
                 relay: outbox.Relay | None = None) -> None:
        self.client = client
        self.db = db
        self.service_name = service_name
        self.config = config
        self.relay = relay

    def call_key(self) -> str | None:
        """The name of the change the next transaction would be: None here,
        in a call nobody named (RequestStore's is the call's)."""
        return None

    def transaction(self, fn: Callable[[Tx], T], once: str | None = None,
                    keeps_own_record: bool = False) -> T:
        """Run fn(tx) in a transaction (retried on transient errors); return
        its result. With `once` (a change's name): if a change of that name
        committed before, return its kept result and run nothing; otherwise
        keep fn's result under that name in the same transaction.
        `keeps_own_record` is RequestStore's (see there); nothing here."""
        tx_holder: dict[str, Tx] = {}

        def callback(session: ClientSession) -> T:
            tx = Tx(self, session)
            tx_holder["tx"] = tx
            if once is None:
                return fn(tx)
            kept = self.db.requests.find_one({"_id": once}, session=session)
            if kept is not None:
                kept_result: T = kept["result"]
                return kept_result
            result = fn(tx)
            self.db.requests.insert_one({"_id": once, "result": result, "at": utcnow()},
                                        session=session)
            return result

        try:
            with self.client.start_session() as session:
                result = session.with_transaction(
                    callback,
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                )
        except DuplicateKeyError:
            # the same change committed at the same moment by a twin of this call
            kept = self.db.requests.find_one({"_id": once}) if once is not None else None
            if kept is None:
                raise
            twin_result: T = kept["result"]
            return twin_result
        if tx_holder["tx"].events and self.relay is not None:
            self.relay.wake()
        return result

    def __getitem__(self, collection: str) -> Collection[Doc]:
        return self.db[collection]


class MongoStore(DependencyProvider):  # type: ignore[misc]  # nameko has no type information
    """Declare in a service as `store = MongoStore(indexes={...}, migrations=[...])`.

    Each migration is fn(store), run at start-up after the indexes and before
    any entrypoint; it must be idempotent and safe with instances starting at
    once (see docs/operator-guide.md "Upgrading")."""

    def __init__(self, indexes: Indexes | None = None,
                 migrations: Sequence[Migration] = ()) -> None:
        self.indexes = indexes or {}
        self.migrations = tuple(migrations)
        self.client: Client | None = None
        self.store: Store  # set by setup(), before any entrypoint runs
        self.relay: outbox.Relay | None = None

    def setup(self) -> None:
        config = self.container.config
        service_name = self.container.service_name
        self.client = make_client(config)
        db = self.client[database_name(config, service_name)]
        ensure_indexes(db, self.indexes)
        if config.get("OUTBOX_RELAY", True):
            self.relay = outbox.Relay(db, service_name, config)
        self.store = Store(self.client, db, service_name, config, self.relay)
        for migrate in self.migrations:
            migrate(self.store)

    def start(self) -> None:
        if self.relay is not None:
            self.container.spawn_managed_thread(self.relay.run, identifier="outbox-relay")

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.client is not None:
            self.client.close()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx: Any) -> "Store | RequestStore":
        request = worker_ctx.data.get(REQUEST_CONTEXT_KEY)
        return RequestStore(self.store, request) if request else self.store


class RequestStore:
    """The Store as a worker serving a named call sees it: its n-th committed
    transaction is the change `<name>#<n>`, done once (see the module's
    docstring). Everything else is the Store's."""

    def __init__(self, store: Store, request: object) -> None:
        self._store = store
        self._request = str(request)[:300]
        self._committed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __getitem__(self, collection: str) -> Collection[Doc]:
        return self._store[collection]

    def call_key(self) -> str:
        """The name of the change the next transaction is: `<name>#<n>`."""
        return f"{self._request}#{self._committed + 1}"

    def transaction(self, fn: Callable[[Tx], T], keeps_own_record: bool = False) -> T:
        """fn(tx) done once under `call_key()`. With `keeps_own_record` the
        work records that name itself, in a document it writes anyway, and
        returns the kept result when it finds it there (one store round trip
        fewer than `requests`; the cast of a stance: consultations/casting.py)."""
        once = None if keeps_own_record else self.call_key()
        result = self._store.transaction(fn, once=once)
        self._committed += 1
        return result
