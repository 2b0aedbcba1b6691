"""The gateway's own database (`<MONGO_DB_PREFIX>_gateway`): what every
gateway worker and instance must agree on (idempotency keys, rate-limit
counters), so none of it lives in process memory.

The client is made on first use, in the serving worker (gunicorn forks after
importing the app). A store that does not answer is SERVICE_UNAVAILABLE for
the request that needed it (`Unavailable`), never a silently skipped check.
"""
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.common.errors import Unavailable
from services.common.store import database_name, make_client
from services.gateway.idempotency import KEEP_HOURS

# collection -> its indexes; documents carry their own expiry (TTL indexes)
INDEXES = {
    "idempotency": [IndexModel([("created_at", ASCENDING)], expireAfterSeconds=KEEP_HOURS * 3600),
                    # the kept answers that showed a member's focal point (Keys.scrub)
                    IndexModel([("shown_focal_points", ASCENDING)], sparse=True)],
    "rate_limits": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
}


def store_unavailable() -> Unavailable:
    return Unavailable("The gateway's store did not answer; try again shortly.")


class GatewayStore:
    def __init__(self, settings: dict) -> None:
        self.settings = settings
        self._db: Any = None
        self._lock = threading.Lock()

    @property
    def db(self) -> Any:
        """The database, with its indexes, made on first use (Unavailable if
        the store does not answer)."""
        with self._lock:
            if self._db is None:
                try:
                    # a request waits at most 3 s for a store that is down, then 503
                    client = make_client(self.settings, serverSelectionTimeoutMS=3000)
                    db = client[database_name(self.settings, "gateway")]
                    for name, indexes in INDEXES.items():
                        db[name].create_indexes(indexes)
                except PyMongoError:
                    raise store_unavailable()
                self._db = db
            return self._db

    def ping(self) -> None:
        self.db.command("ping")


class RateLimits:
    """Counters per (action, client address) in fixed clock windows, shared
    by every worker and instance: one round trip to take, one to give back."""

    def __init__(self, store: GatewayStore, window: timedelta = timedelta(hours=1)) -> None:
        self.store = store
        self.window = window

    def _window(self) -> tuple[int, int]:
        """(start, end) of the current window, in whole seconds since the epoch."""
        seconds = int(self.window.total_seconds())
        start = int(datetime.now(timezone.utc).timestamp()) // seconds * seconds
        return start, start + seconds

    def _id(self, action: str, client: str) -> tuple[str, datetime]:
        start, end = self._window()
        return f"{action}|{client}|{start}", datetime.fromtimestamp(end, timezone.utc)

    def take(self, action: str, client: str, limit: int) -> bool:
        """True if this use is within `limit` per window (and counted)."""
        doc_id, ends = self._id(action, client)
        try:
            count = self._count(doc_id, ends)
        except DuplicateKeyError:  # two first uses at once: the other inserted
            count = self._count(doc_id, ends)
        return count <= limit

    def _count(self, doc_id: str, ends: datetime) -> int:
        """Count one use (the window's document made by its first use)."""
        try:
            doc = self.store.db.rate_limits.find_one_and_update(
                {"_id": doc_id}, {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": ends}},
                upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            raise  # the caller counts again: the document exists now
        except PyMongoError:
            raise store_unavailable()
        return doc["count"]

    def give_back(self, action: str, client: str) -> None:
        """Undo a `take` whose request was refused for its content."""
        doc_id, _ = self._id(action, client)
        try:
            self.store.db.rate_limits.update_one({"_id": doc_id, "count": {"$gt": 0}},
                                                 {"$inc": {"count": -1}})
        except PyMongoError:
            pass  # the use stays counted: the safe side

    def retry_after(self) -> int:
        """Seconds until the current window ends."""
        return self._window()[1] - int(datetime.now(timezone.utc).timestamp())
