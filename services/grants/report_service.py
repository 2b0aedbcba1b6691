"""The report entrypoints of the grants service (DOMAIN.md section 10), a
part of GrantsService (service.py) kept in a file of its own: schedule,
submit and review a report on an allocation, and read reports. The rules
are in reports.py, the stored shape of indicators in indicators.py.

Invariants:
- each change of a report is one transaction that reads the report (or its
  allocation), writes it with a guarded update on the status it read
  (dependencies.transition_update), and emits its event (ReportChanged) in
  the same transaction: of two concurrent submits one wins and the other is
  CONFLICT, never both SUBMITTED;
- each use case is a few store statements: schedule reads the allocation
  and its grant's title and inserts the report; submit and review read the
  report and update it; each adds its event to the outbox;
- `overdue` is computed when a report is read, never stored.
"""
import logging

from services.common import paging, records
from services.common.errors import Conflict
from services.common.handlers import rpc
from services.common.store import utcnow
from services.common.validation import load
from services.grants import reports
from services.grants.dependencies import apply_guarded, grouped, transition_update
from services.grants.schemas import ReportInput, ReviewInput, ScheduleInput

log = logging.getLogger(__name__)

DEFAULT_OVERDUE_LIMIT = 100
MAX_OVERDUE_LIMIT = 500


def moved(tx, report, action, changes, note=None):
    """Apply `action` to `report` in `tx` with `changes` (besides the
    status), guarded on the status it was read with; emit its event. The
    report as it now is, or Conflict (it changed meanwhile, or may not)."""
    now = changes.get("updated_at") or utcnow()
    status_change, entry, event = reports.step(report, action, now, note)
    update = {**changes, **status_change}
    if not apply_guarded(tx, "reports", transition_update(report, update, entry)):
        raise Conflict("This report changed meanwhile; reload it and try again.")
    report = {**report, **update, "history": [*report.get("history", []), entry]}
    tx.emit(event, reports.changed_data(report, note))
    log.info("report %s: %s -> %s", report["_id"], action, report["status"])
    return report


class ReportEntrypoints:
    """Mixed into GrantsService: `self.store` is its store."""

    def _report_views(self, docs):
        today = utcnow().date()
        return [reports.view(doc, today) for doc in docs]

    @rpc
    def schedule_report(self, allocation_id, due_on):
        """A DUE report on an APPROVED allocation, due on
        `due_on` ("YYYY-MM-DD", may be past); emits report_scheduled."""
        due = load(ScheduleInput(), {"dueOn": due_on})["due_on"]

        def work(tx):
            now = utcnow()
            allocation = reports.check_reportable(
                records.read(tx, "allocations", allocation_id), allocation_id)
            grant = tx.db.grants.find_one({"_id": allocation["grant_id"]}, {"title": 1},
                                          session=tx.session)
            report = {"_id": paging.new_id(), **reports.new_report(
                allocation, grant["title"] if grant else "", due, now)}
            tx.db.reports.insert_one(report, session=tx.session)
            tx.emit("report_scheduled", reports.changed_data(report))
            return report
        report = self.store.transaction(work)
        log.info("report %s scheduled on allocation %s, due %s", report["_id"],
                 report["allocation_id"], report["due_on"])
        return self._report_views([report])[0]

    @rpc
    def submit_report(self, report_id, member_id, data):
        """The member's report: NOT_FOUND, FORBIDDEN (not its member),
        BAD_USER_INPUT (narrative, spent, indicators), CONFLICT (not DUE or
        CHANGES_REQUESTED), in that order; emits report_submitted."""
        def work(tx):
            report = records.load(tx, "reports", "report", report_id)
            reports.check_submitter(report, member_id)
            report_in = load(ReportInput(), data)
            reports.check_spent(report, report_in["spent_cents"])
            now = utcnow()
            return moved(tx, report, "submit",
                         {**reports.submission(report_in, now), "updated_at": now})
        return self._report_views([self.store.transaction(work)])[0]

    @rpc
    def review_report(self, report_id, accept, note=None):
        """Accept a SUBMITTED report, or send it back with a note (required);
        emits report_accepted or report_changes_requested."""
        review = load(ReviewInput(), {"accept": accept, "note": note})

        def work(tx):
            report = records.load(tx, "reports", "report", report_id)
            now = utcnow()
            return moved(tx, report, reports.review_action(review["accept"]),
                         {**reports.review(review["note"], now), "updated_at": now},
                         review["note"])
        return self._report_views([self.store.transaction(work)])[0]

    # ---- queries ---------------------------------------------------------

    @rpc
    def get_reports(self, report_ids):
        """Views of the reports named, in the order asked; unknown ids left out."""
        ids = paging.clean_ids(report_ids)
        docs = {d["_id"]: d for d in self.store.db.reports.find({"_id": {"$in": ids}})} \
            if ids else {}
        return self._report_views([docs[i] for i in ids if i in docs])

    @rpc
    def reports_by_allocations(self, allocation_ids):
        """{allocation_id: [report views, oldest first]} for every (valid) id asked."""
        ids = paging.clean_ids(allocation_ids)
        docs = list(self.store.db.reports.find({"allocation_id": {"$in": ids}})) if ids else []
        today = utcnow().date()
        return grouped(docs, "allocation_id", ids, lambda doc: reports.view(doc, today))

    @rpc
    def overdue_reports(self, limit=DEFAULT_OVERDUE_LIMIT):
        """The reports overdue now (UTC), the longest overdue first (by
        due_on, then age); at most `limit` (1..MAX_OVERDUE_LIMIT)."""
        size = limit if isinstance(limit, int) and not isinstance(limit, bool) \
            else DEFAULT_OVERDUE_LIMIT
        size = max(1, min(size, MAX_OVERDUE_LIMIT))
        docs = self.store.db.reports.find(reports.overdue_query(utcnow().date())) \
            .sort([("due_on", 1), ("_id", 1)]).limit(size)
        return self._report_views(list(docs))
