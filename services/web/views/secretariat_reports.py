"""The secretariat's pages about reports and the end of a grant (ADMIN only,
DOMAIN.md section 10). The grant's page itself is views/secretariat_grants.py.

    GET  /secretariat/reports/<id>           a report and, while it is
                                             SUBMITTED, the review form
    POST /secretariat/reports/<id>           reviewReport: decision=accept (the
                                             note optional) or decision=changes
                                             (the note required)
    POST /secretariat/grants/<id>/reports    scheduleReport(allocationId, dueOn)
    POST /secretariat/grants/<id>/close      closeGrant
    GET  /secretariat/grants/<id>/<kind>.csv the grant's allocations,
                                             disbursements or reports as CSV

Invariants:
- the schedule form offers the grant's APPROVED allocations (the grants
  service's rule: secretariat_grants.schedule_options);
  a due date may be in the past (a grant recorded after the fact); the web
  app checks only the shape of the date, the API the rest (CONFLICT,
  NOT_FOUND in the error summary);
- a refusal shows the page again with what was typed, its errors beside the
  fields, answered 400, 403, 404 or 409 as the API's code says;
- the CSV rows are built by services/grant_export.py, shared with `coalition
  export grant`, which guards every cell of text against formulas; the web
  app gives it the API's answer (`grant_export.from_api`), and starts the
  file with a byte-order mark, as every CSV of the web app (so spreadsheets
  read Cyrillic). The API gives no time an allocation or a disbursement was
  recorded: those columns are empty here (the CLI fills them).
"""
from typing import Final

from werkzeug.wrappers import Response

from services import grant_export
from services.web.page import Page
from services.web.views import report_documents as R
from services.web.views import route
from services.web.views.proxies import refusal_status
from services.web.views.reports import SAFE_NAME
from services.web.views.secretariat_forms import Errors, csv_response, day, refusal, typed
from services.web.views.secretariat_grants import grant_page
from services.web.views.shared import labels_of

SCHEDULE_FIELDS: Final = ("allocationId", "dueOn")
CSV_KINDS: Final = grant_export.KINDS  # allocations, disbursements, reports


# ---- reviewing a report ---------------------------------------------------------------------

def review_page(page: Page, report_id: str, errors: Errors | None = None, note: str = "",
                status: int = 200) -> Response:
    report = page.query(R.SECRETARIAT_REPORT, id=report_id)["report"]
    if report is None:
        page.not_found()
    return page.render(
        "secretariat/report.html", status=status, L=labels_of(page), r=report,
        title=page._("Report on %(grant)s", grant=report["allocation"]["grant"]["title"]),
        can_review=report["status"] == "SUBMITTED", errors=errors or {}, note=note)


@route("/secretariat/reports/<id>", methods=("GET", "POST"))
def review(page: Page, id: str) -> Response:
    page.require_admin()
    if page.request.method != "POST":
        return review_page(page, id)
    note = page.form.get("note", "").strip()
    decision = page.form.get("decision", "")
    if decision not in ("accept", "changes"):
        return review_page(page, id, {"": [page._("Choose: accept, or request changes.")]}, note,
                           400)
    accept = decision == "accept"
    result = page.mutate(R.REVIEW, id=id, accept=accept, note=note or None)
    if not result.ok:
        return review_page(page, id, refusal(page, result.errors, ("note",)), note,
                           refusal_status(result.code))
    return page.redirect(f"/secretariat/reports/{id}",
                         done="report-accepted" if accept else "report-changes")


# ---- scheduling a report, closing a grant -----------------------------------------------------

@route("/secretariat/grants/<id>/reports", methods=("POST",))
def schedule(page: Page, id: str) -> Response:
    page.require_admin()
    values = typed(page)
    errors: Errors = {}
    if not values.get("allocationId"):
        errors["allocationId"] = [page._("Choose an allocation.")]
    due = day(page, values, "dueOn", errors)
    if errors or due is None:
        return grant_page(page, id, errors, 400, schedule_values=values)
    result = page.mutate(R.SCHEDULE, allocationId=values["allocationId"], dueOn=due.isoformat())
    if not result.ok:
        return grant_page(page, id, refusal(page, result.errors, SCHEDULE_FIELDS),
                          refusal_status(result.code), schedule_values=values)
    return page.redirect(f"/secretariat/grants/{id}?done=report-scheduled"
                         f"#allocation-{values['allocationId']}")


@route("/secretariat/grants/<id>/close", methods=("POST",))
def close(page: Page, id: str) -> Response:
    """Closing is final (no disbursement after it, and no reopening): the
    form is sent only with its confirmation box ticked."""
    page.require_admin()
    if typed(page).get("confirm") != "yes":
        return grant_page(page, id, {"confirm": [page._(
            "Tick the box to confirm that the grant is to be closed.")]}, 400)
    result = page.mutate(R.CLOSE_GRANT, id=id)
    if not result.ok:
        return grant_page(page, id, refusal(page, result.errors, ()),
                          refusal_status(result.code))
    return page.redirect(f"/secretariat/grants/{id}", done="grant-closed")


# ---- CSV ----------------------------------------------------------------------------------

@route("/secretariat/grants/<id>/<kind>.csv")
def grant_csv(page: Page, id: str, kind: str) -> Response:
    page.require_admin()
    if kind not in CSV_KINDS:
        page.not_found()
    grant = page.query(R.GRANT_CSV, id=id)["grant"]
    if grant is None:
        page.not_found()
    text = "\ufeff" + grant_export.grant_csv(kind, *grant_export.from_api(kind, grant))
    return csv_response(text, f"grant-{SAFE_NAME.sub('', grant['id'])[:80]}-{kind}.csv")
