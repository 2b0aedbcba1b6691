"""Idempotency-Key for mutations: a client that lost an answer can repeat
the request without doing the work twice (a second allocation, a second
disbursement).

A POST whose operation is a mutation may carry `Idempotency-Key: <1-200
printable characters>`. Keys belong to one token: its role, subject and
member (DOMAIN.md section 5; anonymous callers: also their address), and are
kept for KEEP_HOURS in the gateway's own database (`<MONGO_DB_PREFIX>_gateway`).
A kept answer is replayed only after the request was authenticated again.

- First request with a key: recorded as running, executed, then its answer
  (status and body) is kept.
- Same key, same request (query, variables, operation): the kept answer is
  returned again, with `Idempotent-Replay: true`; nothing is executed.
- Same key, another request: 422, IDEMPOTENCY_KEY_REUSED.
- Same key while the first is still running (for RUNNING_LIMIT_SECONDS):
  409, CONFLICT; repeat it with the same key in a moment.
- Same key when the outcome is unknown (a service did not answer in time,
  or the gateway stopped mid-request and the record is older than
  RUNNING_LIMIT_SECONDS): it runs again. That is safe: the request names its
  calls after the key (context.Context), and every service does each change of a
  named call once (services/common/store.py), so the repeat finishes the work
  or gets back what was done, never does it twice.
- The gateway's store unreachable: 503, SERVICE_UNAVAILABLE (a key is never
  silently ignored).

A kept answer that carried a member's focal point names that member in
`shown_focal_points` (Context.shown_focal_points). When the member's
personal data is erased (eraseMemberData), each such answer is replaced by
a CONFLICT error answer (`scrub`), so no replay shows the focal point again
(but an answer still being computed during the erasure, kept after it:
docs/safety.md).
"""
import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Iterable

from pymongo.errors import DuplicateKeyError, PyMongoError

from services.common.errors import BadUserInput, Conflict, Unavailable
from services.common.vocabulary import Role
from services.gateway.auth import Viewer

HEADER = "Idempotency-Key"
KEEP_HOURS = 24  # the TTL index in services/gateway/store.py
RUNNING, DONE, UNKNOWN = "running", "done", "unknown"
# longer than a request can run in practice (its calls each time out after
# RPC_TIMEOUT_SECONDS); a repeat within it is told to wait, not run twice at once
RUNNING_LIMIT_SECONDS = 30
# what a kept answer that showed an erased member's focal point becomes (`scrub`)
ERASED_ANSWER = "This answer named a member whose personal data was erased."


def erased_answer() -> dict:
    """The GraphQL answer that replaces a scrubbed one (CONFLICT)."""
    return {"data": None, "errors": [{"message": ERASED_ANSWER,
                                      "extensions": {"code": Conflict.code}}]}


class Refusal(Exception):
    """The request cannot run under this key: (HTTP status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def keys_unavailable() -> Refusal:
    """The gateway's store did not answer: a key is never silently ignored."""
    return Refusal(503, Unavailable.code,
                   "Idempotency keys cannot be checked right now; try again shortly.")


def check_key(key: str) -> str:
    """The key, if it is 1 to 200 printable characters; Refusal otherwise."""
    if not (1 <= len(key) <= 200 and key.isprintable()):
        raise Refusal(400, BadUserInput.code,
                      f"{HEADER} must be 1 to 200 printable characters.")
    return key


def fingerprint(query: str, variables: dict | None, operation: str | None) -> str:
    """What makes two requests the same request (hex SHA-256)."""
    text = json.dumps([query, variables, operation], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def owner(viewer: Viewer, client: str) -> str:
    """Whose key it is: the token's role, subject and member; an anonymous
    caller's keys are also its client address's, so two anonymous clients
    never see each other's answers."""
    parts = [viewer.role, viewer.sub or "", viewer.member_id or ""]
    if viewer.role == Role.ANONYMOUS:
        parts.append(client)
    return "\0".join(parts)


class Keys:
    """The kept keys, in the gateway's own database (services/gateway/store.py)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def collection(self) -> Any:
        return self.store.db.idempotency

    def begin(self, owner_id: str, key: str,
              request_print: str) -> tuple[str, tuple[int, dict] | None]:
        """(record id, the kept (status, body) to replay or None); None means
        the key is now recorded as running and the request may run. The
        caller has authenticated the request again (token, member status)
        before asking, so a kept answer only goes back to who may see it."""
        doc_id = hashlib.sha256(f"{owner_id}\0{key}".encode()).hexdigest()
        now = datetime.now(timezone.utc)
        try:
            try:
                self.collection.insert_one({"_id": doc_id, "request": request_print,
                                            "state": RUNNING,
                                            "created_at": now})
                return doc_id, None
            except DuplicateKeyError:
                kept = self.collection.find_one({"_id": doc_id})
        except (PyMongoError, Unavailable):
            raise keys_unavailable()
        if kept is None:  # expired in between: start again
            return self.begin(owner_id, key, request_print)
        if kept["request"] != request_print:
            raise Refusal(422, "IDEMPOTENCY_KEY_REUSED",
                          f"This {HEADER} was used for another request; use a new key.")
        if kept["state"] == DONE:
            return doc_id, (kept["status"], json.loads(kept["body"]))
        started = kept.get("started_at", kept["created_at"])
        if kept["state"] == RUNNING and (now - started).total_seconds() < RUNNING_LIMIT_SECONDS:
            raise Refusal(409, Conflict.code,
                          f"The request with this {HEADER} is still running; repeat it with the "
                          "same key in a moment.")
        self._restart(doc_id, now)
        return doc_id, None

    def _restart(self, doc_id: str, now: datetime) -> None:
        """Run a request whose outcome is unknown again, under the same key."""
        try:
            self.collection.update_one({"_id": doc_id, "state": {"$ne": DONE}},
                                       {"$set": {"state": RUNNING, "started_at": now}})
        except (PyMongoError, Unavailable):
            raise keys_unavailable()

    def finish(self, doc_id: str, status: int, body: dict, outcome_known: bool,
               shown_focal_points: Iterable[str] = ()) -> None:
        """Keep the answer (replayed to a repeat) or, if its outcome is
        unknown, mark the key so that a repeat runs again. The ids of the
        members whose focal point the answer carries are kept with it
        (only when there are some), for `scrub`."""
        kept: dict[str, Any] = {"state": DONE if outcome_known else UNKNOWN, "status": status,
                                "body": json.dumps(body)}
        if shown_focal_points:
            kept["shown_focal_points"] = sorted(set(shown_focal_points))
        try:
            self.collection.update_one({"_id": doc_id}, {"$set": kept})
        except (PyMongoError, Unavailable):
            pass  # stays running: a repeat waits RUNNING_LIMIT_SECONDS, then runs under the same names

    def scrub(self, member_id: str) -> int:
        """Replace every kept answer that carried `member_id`'s focal point
        with the CONFLICT answer `erased_answer` and forget whose it showed;
        how many were replaced. SERVICE_UNAVAILABLE if the store does not
        answer (the erasure is then repeated as a whole: every step of it is
        idempotent)."""
        try:
            result = self.collection.update_many(
                {"shown_focal_points": member_id},
                {"$set": {"body": json.dumps(erased_answer()), "status": 200},
                 "$unset": {"shown_focal_points": ""}})
        except (PyMongoError, Unavailable):
            raise Unavailable("The gateway's store did not answer; erase the member's data "
                              "again shortly.")
        return int(result.modified_count)
