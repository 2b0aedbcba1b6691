"""Reports in the notifications (DOMAIN.md sections 8 and 10): the `reports`
read model kept from the grants service's REPORT_EVENTS, which REPORT mail is
due on which day, and the guarded claim of a reminder. The rules are pure
functions (no I/O, no clock: the caller passes `today`, a UTC date); the
storage functions below them take the caller's transaction.

A REPORT notification goes to the report's member (the beneficiary of its
allocation), always (REPORT is not in vocabulary.OPT_OUTS), for:
- DUE_SOON: once, the first check on which the report is DUE or
  CHANGES_REQUESTED, `due_on - REPORT_DUE_SOON_DAYS <= today` and not
  overdue (`today <= due_on`);
- OVERDUE: once, the first check on which the report is DUE or
  CHANGES_REQUESTED and `due_on < today` (UTC);
- CHANGES_REQUESTED: each report_changes_requested event, with its note
  (the handler tells it whatever the read model holds: the event happened,
  and its note is what the member needs; keyed by the event's id).
report_scheduled, report_submitted and report_accepted tell no one.

Invariants:
- the read model follows events in any order: an event changes a report's
  `status` (and its other fields) only if its `occurred_at` (kept to the
  millisecond, as the store keeps it) is strictly later than the `at` held;
  an event no later than it changes nothing. A report's events come from
  one transaction each, one after the other, so their times follow its
  life DUE -> SUBMITTED -> (ACCEPTED | CHANGES_REQUESTED -> SUBMITTED ...);
- each reminder has a state (domain.Reminder): PENDING until it is sent
  (DONE) or can no longer be (NONE). A report first seen already overdue
  (due_on < today when its first event is handled) gets its DUE_SOON NONE:
  only the OVERDUE mail goes; a DUE_SOON still PENDING when the report is
  found overdue is dropped (NONE), never sent late;
- a claim moves the states it read, guarded by those states and by the
  status being submittable, in the transaction that writes the notification:
  with several instances one claims it, the others find nothing to do; the
  notification key "report-<event>-<report_id>:<member>:REPORT" is unique
  besides (domain.notification_key);
- the read model holds no address, no narrative, amount or indicator: what a
  ReportChanged event holds (its note is not kept: it goes in the mail).
"""
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final, NamedTuple
from urllib.parse import quote

from pymongo import ASCENDING, IndexModel, ReturnDocument

from services.common.vocabulary import REPORT_DUE_SOON_DAYS, SUBMITTABLE_REPORT
from services.notifications.domain import Reminder, link, preferences_link

Doc = dict[str, Any]

# the REPORT mails, each the `event` of its context (content.EVENTS)
DUE_SOON: Final = "report_due_soon"
OVERDUE: Final = "report_overdue"
CHANGES_REQUESTED: Final = "report_changes_requested"
REPORT_MAILS: Final = frozenset({DUE_SOON, OVERDUE, CHANGES_REQUESTED})

# the state field of each reminder in a `reports` document
STATE_OF: Final[Mapping[str, str]] = {DUE_SOON: "soon", OVERDUE: "overdue"}
SUBMITTABLE: Final = [str(status) for status in SUBMITTABLE_REPORT]

INDEXES: Final = [
    IndexModel([("soon", ASCENDING), ("soon_on", ASCENDING)]),  # due-soon reminders
    IndexModel([("overdue", ASCENDING), ("due_on", ASCENDING)]),  # overdue reminders
]


# ---- the rules -----------------------------------------------------------------------

def in_store(moment: datetime) -> datetime:
    """`moment` in UTC, to the millisecond: as the store gives it back, so an
    event compares with the `at` it left the same way as before it was kept."""
    utc = moment.astimezone(timezone.utc)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def day_of(text: str) -> date:
    """A "YYYY-MM-DD" date of an event (ValueError for anything else)."""
    return date.fromisoformat(text)


def soon_from(due_on: date) -> date:
    """The first day of the DUE_SOON reminder: REPORT_DUE_SOON_DAYS before the due date."""
    return due_on - timedelta(days=REPORT_DUE_SOON_DAYS)


def is_overdue(status: str, due_on: date, today: date) -> bool:
    """As the report's `overdue` (DOMAIN.md section 10): submittable, and its due date passed."""
    return status in SUBMITTABLE and due_on < today


def is_due_soon(status: str, due_on: date, today: date) -> bool:
    """Submittable, in the last REPORT_DUE_SOON_DAYS before its due date, not overdue."""
    return status in SUBMITTABLE and soon_from(due_on) <= today <= due_on


def event_fields(data: Mapping[str, Any], at: datetime) -> Doc:
    """What a ReportChanged event sets on its report, `at` its occurred_at."""
    return {"status": data["status"], "member_id": data["member_id"],
            "allocation_id": data["allocation_id"], "grant_id": data["grant_id"],
            "grant_title": data["grant_title"], "due_on": data["due_on"],
            "soon_on": soon_from(day_of(data["due_on"])).isoformat(), "at": in_store(at)}


def first_seen(due_on: str, today: date) -> Doc:
    """The reminder states of a report heard of for the first time: both
    PENDING, but DUE_SOON NONE if it is overdue already (only OVERDUE goes)."""
    late = day_of(due_on) < today
    return {"soon": Reminder.NONE if late else Reminder.PENDING, "overdue": Reminder.PENDING}


class Claim(NamedTuple):
    """What a reminder check does to one report: the mail it sends (None:
    only a reminder dropped) and the states it sets, guarded by those it read."""
    mail: str | None
    guard: Doc
    changes: Doc


def claim(doc: Mapping[str, Any], today: date) -> Claim | None:
    """The reminder due today on the report `doc` (a `reports` document), or
    None when nothing is to be done. An overdue report sends OVERDUE and
    drops a DUE_SOON still pending; a report due soon sends DUE_SOON."""
    status, due_on = doc["status"], day_of(doc["due_on"])
    soon, overdue = doc.get("soon", Reminder.PENDING), doc.get("overdue", Reminder.PENDING)
    guard = {"soon": soon, "overdue": overdue}
    if is_overdue(status, due_on, today):
        dropped = {"soon": Reminder.NONE} if soon == Reminder.PENDING else {}
        if overdue == Reminder.PENDING:
            return Claim(OVERDUE, guard, {**dropped, "overdue": Reminder.DONE})
        return Claim(None, guard, dropped) if dropped else None
    if is_due_soon(status, due_on, today) and soon == Reminder.PENDING:
        return Claim(DUE_SOON, guard, {"soon": Reminder.DONE})
    return None


def reminder_source(mail: str, report_id: str) -> str:
    """The source of a reminder's notification key: one per report and mail."""
    return f"report-{mail}-{report_id}"


def report_link(public_url: str, report_id: str) -> str:
    return link(public_url, f"/reports/{quote(report_id, safe='')}")


def report_context(mail: str, report_id: str, fields: Mapping[str, Any],
                   public_url: str) -> Doc:
    """A REPORT notification's context. `fields`: an event's data or a
    `reports` document (grant_title, due_on; note only for CHANGES_REQUESTED)."""
    note = fields.get("note") if mail == CHANGES_REQUESTED else None
    return {"event": mail, "grant_title": fields.get("grant_title") or "",
            "due_on": day_of(fields["due_on"]), "note": note or None,
            "link": report_link(public_url, report_id),
            "preferences_link": preferences_link(public_url)}


# ---- the store (the caller's transaction `tx`) -----------------------------------------

def keep(tx: Any, data: Mapping[str, Any], at: datetime, today: date) -> bool:
    """Apply a ReportChanged event that occurred `at` to the `reports` read
    model if it is newer than what is held (see the invariants); whether it was."""
    coll, fields = tx.db.reports, event_fields(data, at)
    changed = coll.update_one({"_id": data["report_id"], "at": {"$lt": fields["at"]}},
                              {"$set": fields}, session=tx.session)
    if changed.matched_count:
        return True
    if coll.find_one({"_id": data["report_id"]}, {"_id": 1}, session=tx.session) is not None:
        return False  # it holds this event's time or a later one
    coll.insert_one({"_id": data["report_id"], **fields, **first_seen(data["due_on"], today)},
                    session=tx.session)
    return True


def due_reports(db: Any, today: date, limit: int) -> list[str]:
    """Ids of reports with a reminder to claim or drop today (claim may still
    find nothing: the answer is read outside any transaction)."""
    day = today.isoformat()
    return [d["_id"] for d in db.reports.find(
        {"status": {"$in": SUBMITTABLE},
         "$or": [{"soon": Reminder.PENDING, "soon_on": {"$lte": day}},
                 {"overdue": Reminder.PENDING, "due_on": {"$lt": day}}]},
        {"_id": 1}).limit(limit)]


def claim_report(tx: Any, report_id: str, today: date,
                 now: datetime) -> tuple[Claim, Doc] | None:
    """The claim of the report's reminder and the report as it was read, its
    states moved by this transaction; None when there is nothing to do or
    another instance (or an event) moved them first."""
    doc: Doc | None = tx.db.reports.find_one({"_id": report_id}, session=tx.session)
    found = claim(doc, today) if doc is not None else None
    if doc is None or found is None:
        return None
    moved = tx.db.reports.find_one_and_update(
        {"_id": report_id, "status": {"$in": SUBMITTABLE}, **found.guard},
        {"$set": {**found.changes, "reminded_at": now}},
        return_document=ReturnDocument.AFTER, session=tx.session)
    return (found, doc) if moved is not None else None
