"""The gateway's own database (`<MONGO_DB_PREFIX>_gateway`): what every
gateway worker and instance must agree on (idempotency keys, rate-limit
counters), so none of it lives in process memory.

The client is made on first use, in the serving worker (gunicorn forks after
importing the app). A store that does not answer is SERVICE_UNAVAILABLE for
the request that needed it (`Unavailable`), never a silently skipped check.
"""
import threading
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, IndexModel, MongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.common.errors import Unavailable

# collection -> its indexes; documents carry their own expiry (TTL indexes)
INDEXES = {
    "idempotency": [IndexModel([("created_at", ASCENDING)], expireAfterSeconds=24 * 3600)],
    "rate_limits": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
}


class GatewayStore:
    def __init__(self, settings, timeout_ms=3000):
        self.settings = settings
        self.timeout_ms = timeout_ms
        self._db = None
        self._lock = threading.Lock()

    @property
    def db(self):
        with self._lock:
            if self._db is None:
                try:
                    client = MongoClient(self.settings["MONGO_URI"], tz_aware=True,
                                         serverSelectionTimeoutMS=self.timeout_ms)
                    db = client[f"{self.settings['MONGO_DB_PREFIX']}_gateway"]
                    for name, indexes in INDEXES.items():
                        db[name].create_indexes(indexes)
                except PyMongoError:
                    raise Unavailable("The gateway's store did not answer; try again shortly.")
                self._db = db
            return self._db

    def ping(self):
        self.db.command("ping")


class RateLimits:
    """Counters per (action, client address) in fixed clock windows, shared
    by every worker and instance: one round trip to take, one to give back."""

    def __init__(self, store, window=timedelta(hours=1)):
        self.store = store
        self.window = window

    def _window(self):
        """(start, end) of the current window, in whole seconds since the epoch."""
        seconds = int(self.window.total_seconds())
        start = int(datetime.now(timezone.utc).timestamp()) // seconds * seconds
        return start, start + seconds

    def _id(self, action, client):
        start, end = self._window()
        return f"{action}|{client}|{start}", datetime.fromtimestamp(end, timezone.utc)

    def take(self, action, client, limit):
        """True if this use is within `limit` per window (and counted)."""
        doc_id, ends = self._id(action, client)
        for attempt in range(2):
            try:
                doc = self.store.db.rate_limits.find_one_and_update(
                    {"_id": doc_id}, {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": ends}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                return doc["count"] <= limit
            except DuplicateKeyError:  # two first uses at once: the other inserted
                if attempt:
                    raise
            except PyMongoError:
                raise Unavailable("The gateway's store did not answer; try again shortly.")

    def give_back(self, action, client):
        """Undo a `take` whose request was refused for its content."""
        doc_id, _ = self._id(action, client)
        try:
            self.store.db.rate_limits.update_one({"_id": doc_id, "count": {"$gt": 0}},
                                                 {"$inc": {"count": -1}})
        except PyMongoError:
            pass  # the use stays counted: the safe side

    def retry_after(self):
        """Seconds until the current window ends."""
        return self._window()[1] - int(datetime.now(timezone.utc).timestamp())
