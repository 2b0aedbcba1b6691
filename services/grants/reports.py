"""Reports on allocations (DOMAIN.md section 10) as pure rules: which
allocation may get one, who may submit it, what it may say, how it moves,
what it announces and how it reads.

A report moves only by REPORT_LIFECYCLE:
    DUE --submit--> SUBMITTED --accept--> ACCEPTED
    CHANGES_REQUESTED --submit--> SUBMITTED --request_changes--> CHANGES_REQUESTED
The service applies each step with a guarded update on the status it read
(dependencies.transition_update), so two concurrent submits cannot both
succeed: one is SUBMITTED, the other CONFLICT.

Invariants:
- a report names one allocation and copies, when scheduled, what never
  changes about it: its grant, member, currency, amount and grant title;
- spent (integer cents) is 0 <= spent <= the allocation's amount;
- `overdue` is never stored: it is computed when read (status in
  SUBMITTABLE_REPORT and due_on before today in UTC).
No I/O here.
"""
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from bson.int64 import Int64

from services.common.errors import BadUserInput, Forbidden
from services.common.lifecycle import Lifecycle, require_status
from services.common.records import found
from services.common.vocabulary import AllocationStatus, ReportStatus, SUBMITTABLE_REPORT
from services.grants import indicators, money
from services.grants.domain import iso_utc

Doc = dict[str, Any]

R = ReportStatus
REPORT_LIFECYCLE = Lifecycle.table("report", [
    # action  from  to  event  it cannot ...  history note
    ("submit", set(SUBMITTABLE_REPORT), R.SUBMITTED, "report_submitted", "be submitted",
     "Submitted"),
    ("accept", {R.SUBMITTED}, R.ACCEPTED, "report_accepted", "be accepted", "Accepted"),
    ("request_changes", {R.SUBMITTED}, R.CHANGES_REQUESTED, "report_changes_requested",
     "be sent back for changes", "Changes requested"),
])

# allocations a report may be scheduled on (DOMAIN.md section 10): APPROVED.
# Not ON_HOLD: its member is suspended or has withdrawn, and a withdrawn
# member can no longer sign in to write it. A report scheduled before a hold
# stays as it is. An allocation's amount never changes once APPROVED (it may
# only go ON_HOLD and back), so a report keeps a copy of it.
REPORTABLE_ALLOCATION = frozenset({AllocationStatus.APPROVED})

MAX_NARRATIVE = 20000
MAX_NOTE = 5000


def check_reportable(allocation: Doc | None, allocation_id: object) -> Doc:
    """The allocation, if a report may be scheduled on it; NotFound or Conflict."""
    allocation = found(allocation, "allocation", allocation_id)
    require_status(allocation, "allocation", REPORTABLE_ALLOCATION,
                   "reports can only be scheduled on")
    return allocation


def new_report(allocation: Mapping[str, Any], grant_title: str, due_on: date,
               now: datetime) -> Doc:
    """A DUE report on `allocation` (without its _id)."""
    return {
        "allocation_id": allocation["_id"], "grant_id": allocation["grant_id"],
        "member_id": allocation["member_id"], "grant_title": grant_title,
        "currency": allocation["currency"], "allocation_cents": Int64(allocation["amount_cents"]),
        "due_on": due_on.isoformat(), "status": ReportStatus.DUE,
        "narrative": None, "spent_cents": None, "indicators": [],
        "submitted_at": None, "review_note": None, "reviewed_at": None,
        "history": [{"at": now, "status": ReportStatus.DUE, "note": "Scheduled"}],
        "created_at": now, "updated_at": now,
    }


def check_submitter(report: Mapping[str, Any], member_id: object) -> None:
    """Only the member that received the allocation submits its report."""
    if member_id is None or member_id != report["member_id"]:
        raise Forbidden("Only the member that received the allocation submits its report.")


def check_spent(report: Mapping[str, Any], spent_cents: int) -> None:
    """BAD_USER_INPUT on `spent` when it is more than the allocation's amount."""
    limit = int(report["allocation_cents"])
    if spent_cents > limit:
        message = (f"Must not be more than the allocation's amount of "
                   f"{money.with_currency(limit, report['currency'])}.")
        raise BadUserInput(f"spent is not valid: {message}", {"spent": [message]})


def step(report: Mapping[str, Any], action: str, now: datetime,
         note: str | None = None) -> tuple[Doc, Doc, str]:
    """(changes to $set, history entry, event) of `action` on `report`, or Conflict."""
    transition = REPORT_LIFECYCLE.step(report["status"], action)
    return ({"status": transition.target, "updated_at": now},
            Lifecycle.entry(transition, now, note), transition.event)


def submission(report_in: Mapping[str, Any], now: datetime) -> Doc:
    """What a submission sets, besides the status (report_in: ReportInput loaded)."""
    return {"narrative": report_in["narrative"], "spent_cents": Int64(report_in["spent_cents"]),
            "indicators": report_in["indicators"], "submitted_at": now}


def review(note: str | None, now: datetime) -> Doc:
    """What a review sets, besides the status."""
    return {"review_note": note, "reviewed_at": now}


def review_action(accept: bool) -> str:
    return "accept" if accept else "request_changes"


def is_overdue(report: Mapping[str, Any], today: date) -> bool:
    """Waiting for its member (DUE or CHANGES_REQUESTED) after its due date."""
    return report["status"] in SUBMITTABLE_REPORT and report["due_on"] < today.isoformat()


def overdue_query(today: date) -> Doc:
    """The store query of the reports that are overdue on `today`."""
    return {"status": {"$in": [str(s) for s in SUBMITTABLE_REPORT]},
            "due_on": {"$lt": today.isoformat()}}


def changed_data(report: Mapping[str, Any], note: str | None = None) -> Doc:
    """The payload of every report event (events.ReportChanged): never the
    narrative, the amount spent or the indicators."""
    return {"report_id": report["_id"], "allocation_id": report["allocation_id"],
            "grant_id": report["grant_id"], "member_id": report["member_id"],
            "due_on": report["due_on"], "status": report["status"],
            "grant_title": report["grant_title"], "note": note}


def view(report: Mapping[str, Any], today: date) -> Doc:
    """The report as the service answers it; `overdue` as of `today` (UTC)."""
    spent = report.get("spent_cents")
    return {
        "id": report["_id"], "allocation_id": report["allocation_id"],
        "grant_id": report["grant_id"], "member_id": report["member_id"],
        "due_on": report["due_on"], "status": report["status"],
        "overdue": is_overdue(report, today), "narrative": report.get("narrative"),
        "spent": None if spent is None else money.render(int(spent)),
        "indicators": [indicators.view(row) for row in report.get("indicators") or []],
        "submitted_at": iso_utc(report.get("submitted_at")),
        "review_note": report.get("review_note"),
        "reviewed_at": iso_utc(report.get("reviewed_at")),
        "created_at": iso_utc(report["created_at"]),
        "history": [{"at": iso_utc(h["at"]), "status": h["status"], "note": h.get("note")}
                    for h in report.get("history", [])],
    }
