"""Storage of the notifications service: its indexes, its read models, and
the writes of a fan-out.

Collections (database `<prefix>_notifications`):
- `members` {_id, name, status, language, revision}: from member events,
  newest revision wins (records.apply_newer); never an address;
- `preferences` {_id: recipient, consultation_opened, reminders, outcomes,
  language (the secretariat's only)}: a recipient without one gets all;
- `reports` {_id: report id, status, member_id, due_on, soon_on, grant_title,
  allocation_id, grant_id, at, soon, overdue}: from report events, the
  latest occurred_at wins, and the state of its two reminders (reports.py);
- `rounds` {_id: "<cid>:<round>", eligible: [member ids], reminder_at,
  reminder, closed, ...} (domain.opened_round), `responses`
  {_id: "<cid>:<round>:<member>"}: who responded, never the stance;
- `notifications` (in-app) and `mails` (the queue: sender.py), one of each
  per key (domain.notification_key); a SIGN_IN mail names the member whose
  focal point it goes to in `member_id`.

MEMBER_DATA declares what the service holds about one member, for its
export (DOMAIN.md section 11; services/common/member_data.py): every
collection above names a member by id. Never exported: a mail's text, html
and link (a sign-in mail's hold its code; the in-app notification keeps the
text of the others), the other members of a round's snapshot. What the
member's erasure removes: erasure.py.

A fan-out writes its notifications and mails in the caller's transaction,
CHUNK recipients at a time with one insert_many per collection, so the
memory it holds is one chunk's, whatever the number of recipients; the
text is rendered once per language, not once per recipient.
"""
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from services.common import paging
from services.common.member_data import Part
from services.common.store import MongoStore
from services.common.vocabulary import (DEFAULT_LANGUAGE, SECRETARIAT, Language, MailStatus,
                                        MemberStatus)
from services.notifications import delivery, domain, reports
from services.notifications.domain import Reminder, Rendered

Doc = dict[str, Any]

CHUNK: Final = 500  # recipients written per insert_many

INDEXES: Final = {
    "notifications": [
        IndexModel([("key", ASCENDING)], unique=True),
        IndexModel([("recipient", ASCENDING), ("_id", DESCENDING)]),  # newest first
        IndexModel([("recipient", ASCENDING), ("read", ASCENDING)]),  # unread_count
    ],
    "mails": [
        IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),  # what is due
        IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)]),  # a dead sender's
        # the sign-in mails due, looked for before each batch (sender.py)
        IndexModel([("kind", ASCENDING), ("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("claim", ASCENDING)]),  # a sender reads back what it claimed
        # a SIGN_IN mail goes at its expires_at (the others have none)
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING)]),  # mails(status)
        IndexModel([("created_at", DESCENDING)]),  # mails()
    ],
    "rounds": [IndexModel([("reminder", ASCENDING), ("reminder_at", ASCENDING)])],
    "reports": list(reports.INDEXES),
}


_NOTICE = {
    "kind": "What it is about: CONSULTATION_OPENED, REMINDER, ROUND_CLOSED, MEMBERSHIP, "
            "ALLOCATION, REPORT, PROXY or SIGN_IN (a mail only).",
    "subject": "Its subject line (empty or null once the member's data was erased).",
    "erased_at": "When its words were erased with the member's personal data, or null.",
}
_ROUND = {"consultation_id": "The consultation.", "round": "The number of its round."}

MEMBER_DATA: Final = [
    Part("members", lambda m: {"_id": m}, {
        "id": "The member's id.",
        "name": "The organisation's name, as the service last heard it.",
        "status": "The member's status, as the service last heard it.",
        "language": "The language of the member's e-mails (EN or RU).",
    }),
    Part("preferences", lambda m: {"_id": m}, {
        "consultation_opened": "Whether the member gets a mail when a round opens.",
        "reminders": "Whether the member gets a reminder before a round's deadline.",
        "outcomes": "Whether the member gets a mail when a round closes.",
        "updated_at": "When the member last changed these switches.",
    }),
    Part("notifications", lambda m: {"recipient": m}, {
        "id": "The in-app notification's id.", **_NOTICE,
        "at": "When it was written.",
        "body": "Its text, the same as its mail's (empty once the member's data was erased).",
        "link": "The page it links to.",
        "read": "Whether the member marked it read.",
        "read_at": "When the member marked it read, or null.",
    }, (("at", 1), ("_id", 1))),
    Part("mails", lambda m: {"$or": [{"recipient": m}, {"member_id": m}]}, {
        "id": "The mail's key: the event (or reminder) it tells of, its recipient and its kind.",
        **_NOTICE,
        "language": "The language it was written in.",
        "status": "Its delivery: QUEUED, SENDING, SENT or FAILED.",
        "address": "The focal point's address, held by a sign-in mail only, until it is sent "
                   "or its code expires (the others read it from the member when sent).",
        "attempts": "How many times it was handed to the mail server.",
        "created_at": "When it was queued.",
        "sent_at": "When the mail server accepted it, or null.",
        "failed_at": "When it failed for good, or null.",
    }, (("created_at", 1), ("_id", 1))),
    Part("reports", lambda m: {"member_id": m}, {
        "id": "The report's id.",
        "member_id": "The member that reports.",
        "allocation_id": "The allocation it reports on.",
        "grant_id": "The grant of that allocation.",
        "grant_title": "The grant's title.",
        "status": "Where the report stands, as the service last heard it.",
        "due_on": "The day the report is due.",
        "soon": "Its reminder a few days before the due date: PENDING, DONE or NONE.",
        "overdue": "Its reminder once overdue: PENDING, DONE or NONE.",
    }),
    Part("rounds", lambda m: {"$or": [{"eligible": m}, {"subject_id": m}]}, {
        "id": "The round's id (consultation and round number).", **_ROUND,
        "kind": "The consultation's kind.",
        "subject_id": "The member the consultation is about, if any.",
        "title": "The consultation's title.",
        "closes_at": "The round's deadline.",
        "closed": "Whether the round has closed.",
    }),
    Part("responses", lambda m: {"_id": {"$regex": domain.response_pattern(m)}}, {
        "id": "The response's id (consultation, round and member): that the member "
              "responded, never how.", **_ROUND,
        "at": "When the service learnt that the member responded.",
    }),
]


def notifications_store() -> MongoStore:
    return MongoStore(indexes=INDEXES)


def chunks(items: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# ---- read models ---------------------------------------------------------------------

def languages_of(db: Any, recipients: list[str], session: Any = None) -> dict[str, Language]:
    """{recipient: language}: a member's from the `members` read model, the
    secretariat's from its preferences; the default for anyone unknown."""
    found = {d["_id"]: d.get("language") for d in db.members.find(
        {"_id": {"$in": recipients}}, {"language": 1}, session=session)}
    if SECRETARIAT in recipients:
        prefs = db.preferences.find_one({"_id": SECRETARIAT}, session=session) or {}
        found[SECRETARIAT] = prefs.get("language")
    return {r: domain.language_of(found.get(r)) for r in recipients}


def language_of_recipient(db: Any, recipient: str | None, session: Any = None) -> Language:
    """The language of one recipient (see languages_of); DEFAULT_LANGUAGE for None."""
    if recipient is None:
        return DEFAULT_LANGUAGE
    return languages_of(db, [recipient], session)[recipient]


def member_name(tx: Any, member_id: str) -> str | None:
    """The member's name in the `members` read model (None if not heard of yet)."""
    doc = tx.db.members.find_one({"_id": member_id}, {"name": 1}, session=tx.session)
    name = (doc or {}).get("name")
    return name if isinstance(name, str) and name else None


def cannot_respond(tx: Any, members: list[str]) -> set[str]:
    """Those of `members` whose status in the `members` read model says they
    can no longer respond to a round (domain.can_respond)."""
    return {d["_id"] for d in tx.db.members.find(
        {"_id": {"$in": members}, "status": {"$ne": MemberStatus.ACTIVE}},
        {"status": 1}, session=tx.session) if not domain.can_respond(d.get("status"))}


def opted_out(tx: Any, recipients: list[str], kind: str) -> set[str]:
    """Those of `recipients` who turned `kind` off (none for a kind always sent)."""
    switch = domain.opt_out_switch(kind)
    if switch is None:
        return set()
    return {d["_id"] for d in tx.db.preferences.find(
        {"_id": {"$in": recipients}, switch: False}, {"_id": 1}, session=tx.session)}


def responded(tx: Any, consultation_id: str, round_number: int, members: list[str]) -> set[str]:
    """Those of `members` who responded to the round (one `_id` lookup each)."""
    keys = {domain.response_id(consultation_id, round_number, m): m for m in members}
    return {keys[d["_id"]] for d in tx.db.responses.find(
        {"_id": {"$in": list(keys)}}, {"_id": 1}, session=tx.session)}


def keep_response(tx: Any, consultation_id: str, round_number: int, member_id: str,
                  at: datetime) -> None:
    """That the member responded (a replaced stance changes nothing)."""
    tx.db.responses.update_one(
        {"_id": domain.response_id(consultation_id, round_number, member_id)},
        {"$setOnInsert": {"consultation_id": consultation_id, "round": round_number, "at": at}},
        upsert=True, session=tx.session)


def round_doc(tx: Any, consultation_id: str, round_number: int) -> Doc | None:
    doc: Doc | None = tx.db.rounds.find_one({"_id": domain.round_id(consultation_id, round_number)},
                                            session=tx.session)
    return doc


def keep_round(tx: Any, doc: Doc) -> None:
    tx.db.rounds.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=tx.session)


def close_round(tx: Any, round_key: str) -> None:
    """The round closed: its reminder, if still PENDING, is never sent."""
    tx.db.rounds.update_one({"_id": round_key}, {"$set": {"closed": True}}, session=tx.session)


def due_reminders(db: Any, now: datetime, limit: int) -> list[str]:
    return [d["_id"] for d in db.rounds.find(
        {"reminder": Reminder.PENDING, "reminder_at": {"$lte": now}, "closed": False},
        {"_id": 1}).limit(limit)]


def claim_reminder(tx: Any, round_key: str, now: datetime) -> Doc | None:
    """The round, its reminder moved PENDING -> DONE by this transaction; None
    if another instance (or the round's close) moved it first."""
    doc: Doc | None = tx.db.rounds.find_one_and_update(
        {"_id": round_key, "reminder": Reminder.PENDING, "closed": False},
        {"$set": {"reminder": Reminder.DONE, "reminded_at": now}},
        return_document=ReturnDocument.AFTER, session=tx.session)
    return doc


# ---- the fan-out ---------------------------------------------------------------------

def fan_out(tx: Any, source: str, kind: str, recipients: Iterable[str],
            say: Callable[[Language], Rendered], link: str, config: Mapping[str, Any],
            now: datetime) -> int:
    """The notification and the mail of `kind` for each recipient that has
    not turned it off, in `tx`; how many were written. `say(language)` is
    called once per language. The secretariat gets a mail only when
    SECRETARIAT_EMAIL is set (else in-app only)."""
    said: dict[Language, Rendered] = {}
    written = 0
    for chunk in chunks(recipients):
        skipped = opted_out(tx, chunk, kind)
        chunk = [r for r in chunk if r not in skipped]
        languages = languages_of(tx.db, chunk, tx.session)
        notes, mails = [], []
        for recipient in chunk:
            language = languages[recipient]
            if language not in said:
                said[language] = say(language)
            rendered = said[language]
            key = domain.notification_key(source, recipient, kind)
            notes.append(domain.new_notification(paging.new_id(), key, recipient, kind, rendered,
                                                 link, now))
            if recipient != SECRETARIAT or config.get("SECRETARIAT_EMAIL"):
                mails.append(domain.new_mail(key, recipient, kind, language, rendered, link, now,
                                             delivery.message_id(key, config["MAIL_FROM"])))
        _insert(tx, "notifications", notes)
        _insert(tx, "mails", mails)
        written += len(notes)
    return written


def _insert(tx: Any, collection: str, docs: list[Doc]) -> None:
    if docs:
        tx.db[collection].insert_many(docs, session=tx.session)


# ---- in-app notifications and preferences --------------------------------------------

def notifications_page(db: Any, recipient: str, unread_only: bool, first: int, after: object,
                       view: Callable[[Doc], Doc], maximum: int) -> Doc:
    """A page of the recipient's notifications, newest first, and its unread count."""
    query: Doc = {"recipient": recipient, **({"read": False} if unread_only else {})}
    result = paging.page(db.notifications, query, first, after, view, maximum=maximum,
                         newest_first=True)
    unread = db.notifications.count_documents({"recipient": recipient, "read": False})
    return {**result, "unread_count": unread}


def mark_read(tx: Any, recipient: str, ids: list[str], now: datetime) -> int:
    """How many of the recipient's unread notifications among `ids` became read."""
    if not ids:
        return 0
    changed = tx.db.notifications.update_many(
        {"_id": {"$in": ids}, "recipient": recipient, "read": False},
        {"$set": {"read": True, "read_at": now}}, session=tx.session)
    count: int = changed.modified_count
    return count


def preferences_of(db: Any, recipient: str, session: Any = None) -> Doc:
    """The recipient's preferences view (domain.preferences_view); in a
    transaction when given its `session`."""
    doc = db.preferences.find_one({"_id": recipient}, session=session)
    if recipient == SECRETARIAT:
        language = domain.language_of((doc or {}).get("language"))
    else:
        language = languages_of(db, [recipient], session)[recipient]
    return domain.preferences_view(doc, language)


def set_preferences(tx: Any, recipient: str, changes: Doc, now: datetime) -> None:
    tx.db.preferences.update_one({"_id": recipient}, {"$set": {**changes, "updated_at": now}},
                                 upsert=True, session=tx.session)


# ---- the mail queue, for operators ---------------------------------------------------

def mails_listing(db: Any, status: str | None, limit: int) -> list[Doc]:
    """The newest mails (of `status`, if given), without their text or address."""
    query = {"status": status} if status else {}
    return list(db.mails.find(query, {"text": 0, "html": 0, "address": 0})
                .sort("created_at", DESCENDING).limit(limit))


def retry_failed(tx: Any, ids: list[str] | None, now: datetime, limit: int) -> list[str]:
    """FAILED mails (those of `ids`, or else the `limit` that failed longest
    ago, so that repeated calls walk through them all) put back in the
    queue; their ids. A mail erased with its member's data (erasure.py) is
    never put back."""
    query: Doc = {"status": MailStatus.FAILED, "erased_at": None}  # never one without words
    if ids is not None:
        query["_id"] = {"$in": ids}
    found = tx.db.mails.find(query, {"_id": 1}, session=tx.session)
    if ids is None:
        found = found.sort([("failed_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
    moved = [d["_id"] for d in found]
    if moved:
        tx.db.mails.update_many({"_id": {"$in": moved}, "status": MailStatus.FAILED},
                                {"$set": delivery.retried(now)}, session=tx.session)
    return moved
