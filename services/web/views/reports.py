"""A member's report on an allocation (DOMAIN.md section 10), and every
grant's IATI file.

    GET  /reports/<id>            the report; to the allocation's own member,
                                  while it is DUE or CHANGES_REQUESTED, the form
    POST /reports/<id>            submitReport (or, with action=add-row, the
                                  form again with one more indicator row)
    GET  /grants/<id>/iati.xml    Grant.iatiXml as a download

Invariants:
- the page shows what the API gives the viewer (report(id:) is null for
  whoever may not see it: 404); a visitor who is not signed in is sent to
  sign in first, since the notification mails link here;
- the form is shown only to the allocation's member while the report can be
  submitted; the API decides anyway (FORBIDDEN 403, CONFLICT 409 in the
  error summary, BAD_USER_INPUT beside its field: narrative, spent,
  indicators);
- indicator rows are posted as indicators-N-name, -unit, -target, -actual;
  a row left wholly blank is no indicator, the others go to the API in the
  order of N, as typed (the API judges the numbers: "Row 2: ..." counts the
  rows sent, which are the rows shown again, blank ones dropped);
- five rows are shown (or as many as were typed); "Add an indicator row" is
  a submit button (after "Send the report", so that Enter in a field sends
  the report) that shows the form again with one row more than it had, the
  typed rows first; app.js turns it into an instant row without a round
  trip;
- the IATI file is sent as the API wrote it, as an attachment named after
  the grant's id (only its letters, digits, - and _).
"""
import re
from typing import Any, Final, Iterable, Mapping

from werkzeug.wrappers import Response

from services.web.page import Page
from services.web.views import report_documents as R
from services.web.views import route
from services.web.views.proxies import refusal_status
from services.web.views.secretariat_forms import optional, refusal, typed
from services.web.views.shared import labels_of

Errors = dict[str, list[str]]
Row = dict[str, str]
SUBMITTABLE: Final = ("DUE", "CHANGES_REQUESTED")
INDICATOR_FIELDS: Final = ("name", "unit", "target", "actual")
REPORT_FIELDS: Final = ("narrative", "spent", "indicators")
BLANK_ROWS: Final = 5
ROW_FIELD: Final = re.compile(r"^([A-Za-z]+)-(\d{1,3})-([A-Za-z]+)$")
SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_-]")


# ---- rows of a form (indicators here, budget lines in secretariat_reports.py) ---------------

def typed_rows(form: Mapping[str, str], prefix: str, fields: Iterable[str]) -> list[Row]:
    """The rows typed in fields named `prefix`-N-`field`, in the order of N,
    each field stripped; a row left wholly blank is left out."""
    wanted = tuple(fields)
    found: dict[int, Row] = {}
    for key, value in form.items():
        match = ROW_FIELD.match(key)
        if match and match.group(1) == prefix and match.group(3) in wanted:
            found.setdefault(int(match.group(2)), {})[match.group(3)] = value.strip()
    rows = [{f: row.get(f, "") for f in wanted} for _, row in sorted(found.items())]
    return [row for row in rows if any(row.values())]


def rows_posted(form: Mapping[str, str], prefix: str) -> int:
    """How many rows of `prefix` the form held, blank ones too."""
    return len({m.group(2) for m in map(ROW_FIELD.match, form.keys())
                if m and m.group(1) == prefix})


def shown_rows(rows: list[Row], fields: Iterable[str], count: int) -> list[Row]:
    """`rows` and blank rows after them, `count` in all (never fewer than typed)."""
    blank = {f: "" for f in fields}
    return rows + [dict(blank) for _ in range(max(0, count - len(rows)))]


# ---- the report -----------------------------------------------------------------------------

def indicator_row(indicator: Mapping[str, Any]) -> Row:
    return {f: indicator.get(f) or "" for f in INDICATOR_FIELDS}


def report_page(page: Page, report_id: str, errors: Errors | None = None,
                values: Mapping[str, str] | None = None, rows: list[Row] | None = None,
                status: int = 200, extra: int = 0) -> Response:
    data = page.query(R.REPORT, id=report_id)
    report = data["report"]
    if report is None:
        page.not_found()
    member = data["viewer"]["member"]
    own = bool(member and member["id"] == report["allocation"]["member"]["id"])
    if rows is None:
        rows = [indicator_row(i) for i in report["indicators"]]
    shown = values or {"narrative": report["narrative"] or "", "spent": report["spent"] or ""}
    return page.render(
        "member/report.html", status=status, L=labels_of(page), r=report,
        title=page._("Report on %(grant)s", grant=report["allocation"]["grant"]["title"]),
        can_submit=own and report["status"] in SUBMITTABLE, errors=errors or {}, values=shown,
        rows=shown_rows(rows, INDICATOR_FIELDS, max(BLANK_ROWS, len(rows) + extra)))


def report_input(values: Mapping[str, str], rows: list[Row]) -> dict[str, Any]:
    """ReportInput from the typed form: empty unit and target are null."""
    return {"narrative": values.get("narrative", ""), "spent": values.get("spent", ""),
            "indicators": [{"name": row["name"], "unit": optional(row["unit"]),
                            "target": optional(row["target"]), "actual": row["actual"]}
                           for row in rows]}


@route("/reports/<id>", methods=("GET", "POST"))
def report(page: Page, id: str) -> Response:
    page.require_signed_in()
    if page.request.method != "POST":
        return report_page(page, id)
    values = typed(page)
    rows = typed_rows(page.form, "indicators", INDICATOR_FIELDS)
    if page.form.get("action") == "add-row":  # the form again, one row more than it had
        return report_page(page, id, values=values, rows=rows,
                           extra=rows_posted(page.form, "indicators") + 1 - len(rows))
    result = page.mutate(R.SUBMIT, id=id, input=report_input(values, rows))
    if result.ok:
        return page.redirect(f"/reports/{id}", done="report-submitted")
    return report_page(page, id, refusal(page, result.errors, REPORT_FIELDS), values,
                       rows, refusal_status(result.code))


# ---- IATI -----------------------------------------------------------------------------------

def iati_filename(grant_id: str) -> str:
    return f"iati-grant-{SAFE_NAME.sub('', grant_id)[:80] or 'grant'}.xml"


@route("/grants/<id>/iati.xml")
def iati(page: Page, id: str) -> Response:
    grant = page.query(R.IATI, id=id)["grant"]
    if grant is None:
        page.not_found()
    return Response(grant["iatiXml"], content_type="application/xml; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{iati_filename(grant["id"])}"'})
