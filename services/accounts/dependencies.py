"""Storage of the accounts service: its indexes and the writes its
entrypoints share, each in the caller's transaction.

Collections (database `<prefix>_accounts`):
- `people` {_id, email, email_key, name, added_at, added_by}: the
  secretariat; `email_key` (case-folded) unique;
- `codes` {_id, locator, hash, address_key, person, recipient, created_at,
  expires_at, status}: never the code nor the address (domain.new_code_doc);
  gone a day after they expire;
- `tries` {_id: "<kind>|<address_key>", times: [moments in the last hour],
  expires_at}: sign-in requests ("request") and wrong codes ("wrong") per
  address, a sliding hour; read and written in one transaction, so two
  requests at once conflict and one is retried (never both under the limit);
- `sessions` {_id: sid, person_id, role, member_id, created_at, expires_at,
  revoked_at, client}: gone a week after they expire;
- `audit` {_id, at, action, person_id, client}: never an address or a code;
- `guards` {_id: "secretariat"}: written by every removal of a secretariat
  person, so two removals at once conflict (one is retried and then sees
  the other's): the last person is never removed.

MEMBER_DATA declares what the service holds about one member, for its
export (DOMAIN.md section 11; services/common/member_data.py): its focal
point's codes, sessions and audit entries (`people` are the secretariat's,
`tries` are keyed by an address's hash and expire within the hour). Never
exported: a code's hash, locator and address_key, a session's id (what a
token carries), an audit entry's client (a failed code may be a stranger's).
A member's erasure (`erase_member`) deletes its focal point's codes (each
holds its address's keyed hash) and sessions (each holds a client
address); its audit entries stay: they hold no e-mail address, only when,
what, the person id and the client address.
"""
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.common import paging
from services.common.member_data import Part
from services.common.store import MongoStore, Store, Tx
from services.common.vocabulary import AuditAction
from services.accounts import domain

Doc = dict[str, Any]

INDEXES: Final = {
    "people": [IndexModel([("email_key", ASCENDING)], unique=True, name="email_unique"),
               IndexModel([("name", ASCENDING)])],
    "codes": [
        IndexModel([("hash", ASCENDING)], unique=True),
        IndexModel([("locator", ASCENDING)]),
        IndexModel([("address_key", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("person.member_id", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("person.id", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=24 * 3600),
    ],
    "tries": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
    "sessions": [
        IndexModel([("person_id", ASCENDING)]),
        IndexModel([("member_id", ASCENDING)]),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=7 * 24 * 3600),
    ],
    "audit": [IndexModel([("at", DESCENDING), ("_id", DESCENDING)]),
              IndexModel([("person_id", ASCENDING), ("at", ASCENDING)])],  # MEMBER_DATA
}

_DATES = {"created_at": "When it was made.", "expires_at": "When it expires (or expired)."}

MEMBER_DATA: Final = [
    Part("codes", lambda m: {"person.member_id": m}, {
        "id": "The sign-in code's id (never the code itself).",
        "person": "Who it signs in: the focal point's person id, its role and the member.",
        "recipient": "Whose language its mail speaks: the member's.", **_DATES,
        "status": "PENDING (usable), USED or VOID.",
        "used_at": "When it was used to sign in, or null.",
        "voided_at": "When it became void (a newer code, too many wrong ones, the member's "
                     "status), or null.",
    }, (("created_at", 1), ("_id", 1))),
    Part("sessions", lambda m: {"member_id": m}, {
        "person_id": "The focal point's person id.",
        "role": "The role it signs in with: MEMBER.",
        "member_id": "The member it acts for.", **_DATES,
        "revoked_at": "When it was ended (signed out, or the member withdrawn or rejected), or "
                      "null.",
        "client": "The network address it was opened from.",
    }, (("created_at", 1), ("_id", 1))),
    Part("audit", lambda m: {"person_id": domain.focal_point_id(m)}, {
        "id": "The entry's id.",
        "at": "When it happened.",
        "action": "What happened: a code sent or refused over the limit, a code that failed, "
                  "a sign-in, a sign-out or a revocation.",
        "person_id": "The focal point's person id.",
    }, (("at", 1), ("_id", 1))),
]

SECRETARIAT_GUARD: Final = "secretariat"
MAX_TIMES: Final = 100  # moments kept per counter (more than any limit)


def add_guard(store: Store) -> None:
    """Migration: the document every removal of a secretariat person writes."""
    store.db.guards.update_one({"_id": SECRETARIAT_GUARD}, {"$setOnInsert": {"removals": 0}},
                               upsert=True)


def accounts_store() -> MongoStore:
    return MongoStore(indexes=INDEXES, migrations=[add_guard])


# ---- people ------------------------------------------------------------------------------

def person_by_email(db: Any, address: str, session: Any = None) -> Doc | None:
    doc: Doc | None = db.people.find_one({"email_key": domain.email_key(address)},
                                         session=session)
    return doc


# ---- counters ----------------------------------------------------------------------------

def _times(tx: Tx, counter: str) -> list[datetime]:
    doc = tx.db.tries.find_one({"_id": counter}, session=tx.session) or {}
    return list(doc.get("times", []))


def _keep(tx: Tx, counter: str, times: list[datetime], now: datetime) -> None:
    tx.db.tries.update_one({"_id": counter},
                           {"$set": {"times": times[-MAX_TIMES:],
                                     "expires_at": now + domain.WINDOW}},
                           upsert=True, session=tx.session)


def take_request(tx: Tx, key: str, now: datetime, limit: int) -> bool:
    """Whether a sign-in request for the address of `key` is within the
    per-address limit (and then it counts). Two round trips."""
    counter = f"request|{key}"
    times, taken = domain.take(_times(tx, counter), now, limit)
    if taken:
        _keep(tx, counter, times, now)
    return taken


def count_wrong(tx: Tx, key: str, now: datetime) -> int:
    """Count one wrong code for the address of `key`; how many in the hour."""
    counter = f"wrong|{key}"
    times = domain.tally(_times(tx, counter), now, MAX_TIMES)
    _keep(tx, counter, times, now)
    return len(times)


# ---- codes, sessions, audit ------------------------------------------------------------

def void_pending(tx: Tx, query: Doc, now: datetime) -> int:
    """Make the PENDING codes that match `query` VOID; how many."""
    result = tx.db.codes.update_many({**query, "status": domain.CodeStatus.PENDING},
                                     {"$set": {"status": domain.CodeStatus.VOID, "voided_at": now}},
                                     session=tx.session)
    return int(result.modified_count)


def revoke_sessions(tx: Tx, query: Doc, now: datetime, client: str | None,
                    action: AuditAction = AuditAction.REVOKED) -> list[Doc]:
    """Revoke the live sessions that match `query`, each audited `action`;
    those sessions."""
    live = list(tx.db.sessions.find({**query, "revoked_at": None, "expires_at": {"$gt": now}},
                                    {"person_id": 1}, session=tx.session))
    if live:
        tx.db.sessions.update_many({"_id": {"$in": [s["_id"] for s in live]}, "revoked_at": None},
                                   {"$set": {"revoked_at": now}}, session=tx.session)
        for s in live:
            audit(tx, action, s["person_id"], client, now)
    return live


def audit(tx: Tx, action: AuditAction, person_id: str | None, client: str | None,
          now: datetime) -> None:
    tx.db.audit.insert_one(domain.audit_entry(paging.new_id(), action, person_id, client, now),
                           session=tx.session)


def audit_listing(db: Any, limit: int) -> list[Doc]:
    """The newest `limit` entries of the audit, newest first."""
    return list(db.audit.find({}).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit))


def erase_member(tx: Tx, member_id: str, now: datetime) -> tuple[int, int]:
    """(codes, sessions) of the member's focal point deleted in `tx`, its
    live sessions revoked first (each audited REVOKED, as any revocation)."""
    revoke_sessions(tx, {"member_id": member_id}, now, None)
    codes = tx.db.codes.delete_many({"person.member_id": member_id}, session=tx.session)
    sessions = tx.db.sessions.delete_many({"member_id": member_id}, session=tx.session)
    return int(codes.deleted_count), int(sessions.deleted_count)
