"""The secretariat's pages about money (ADMIN only): grants, allocations and
disbursements. The public view of a grant is /grants/<id> (views/public.py).

    GET  /secretariat/grants                every grant, paged
    GET  /secretariat/grants/new            createGrant: the form
    POST /secretariat/grants/new
    GET  /secretariat/grants/<id>           a grant, its allocations (anchors
                                            #allocation-<id>) and the actions each allows
    POST /secretariat/grants/<id>/activate  activateGrant
    (scheduling reports, closing, the CSVs: views/secretariat_reports.py)
    GET  /secretariat/allocations/new       proposeAllocation (?grant= preselects one)
    POST /secretariat/allocations/new
    GET  /secretariat/disbursements/new     recordDisbursement (?allocation= preselects one)
    POST /secretariat/disbursements/new

The new grant's form has a sector code (DAC 5-digit, 13040 by default) and
three budget-line rows (more with "Add a row", as the report form's
indicators: views/reports.py); a row left blank is no line.

Invariants: amounts are the API's Decimal strings and the typed text, never
floats; a select offers what the API says can take the action (allocations on
PIPELINE and ACTIVE grants to ACTIVE members; disbursements on APPROVED
allocations of ACTIVE grants), but the API decides, and a refusal (CONFLICT:
"only 1000.00 EUR is available") is shown in the error summary.
"""
from datetime import date
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Response

from services.common.vocabulary import DEFAULT_SECTOR_CODE
from services.web.page import Page
from services.web.views import route
from services.web.views import secretariat_documents as docs
from services.web.views.labels import labels
from services.web.views.reports import Row, rows_posted, shown_rows, typed_rows
from services.web.views.secretariat_forms import (Errors, after, all_nodes, moment, optional,
                                                  refusal, typed)
from services.web.views.shared import labels_of

GRANT_FIELDS = ("title", "donor", "currency", "amount", "startDate", "endDate")
NEW_GRANT_FIELDS = (*GRANT_FIELDS, "sectorCode", "budgetLines")
BUDGET_FIELDS = ("periodStart", "periodEnd", "amount")
BUDGET_ROWS = 3  # budget lines the form shows (more with "Add a row")
ALLOCATION_FIELDS = ("grantId", "memberId", "amount", "purpose", "closesAt", "closesAtTime")
DISBURSEMENT_FIELDS = ("allocationId", "amount", "paidOn", "reference")


@route("/secretariat/grants")
def grants(page: Page) -> Response:
    page.require_admin()
    found = page.query(docs.GRANTS, after=after(page))["grants"]
    return page.render("secretariat/grants.html", title=page._("Grants and allocations"),
                       labels=labels(page._, page.language), grants=found)


def grant_path(grant_id: str, anchor: str = "") -> str:
    """The admin's page of a grant with the "Saved." banner (and an anchor)."""
    return f"/secretariat/grants/{grant_id}?done=saved" + (f"#{anchor}" if anchor else "")


def schedule_options(page: Page, grant: dict[str, Any]) -> list[tuple[str, str]]:
    """The schedule form's allocations: the APPROVED ones (grants' rule)."""
    money = page.words.filters["money"]
    return [("", page._("Choose an allocation"))] + [
        (a["id"], f"{a['member']['name']}: {money(a['amount'], grant['currency'])}")
        for a in grant["allocations"] if a["status"] == "APPROVED"]


def grant_page(page: Page, grant_id: str, errors: Errors | None = None,
               status: int = 200, schedule_values: dict[str, Any] | None = None) -> Response:
    """The admin's page of a grant; `errors` of its forms (the schedule
    form's beside its fields, with what was typed in `schedule_values`)."""
    grant = page.query(docs.GRANT, id=grant_id)["grant"]
    if grant is None:
        page.not_found()
    return page.render("secretariat/grant.html", status=status, title=grant["title"],
                       labels=labels(page._, page.language), L=labels_of(page), g=grant,
                       errors=errors or {}, schedule_values=schedule_values or {},
                       schedule_options=schedule_options(page, grant))


@route("/secretariat/grants/<id>")
def grant(page: Page, id: str) -> Response:
    page.require_admin()
    return grant_page(page, id)


# ---- a grant ------------------------------------------------------------------------------

def new_grant_page(page: Page, errors: Errors | None = None,
                   values: dict[str, Any] | None = None, lines: list[Row] | None = None,
                   status: int = 200, extra: int = 0) -> Response:
    lines = lines or []
    return page.render("secretariat/grant_new.html", status=status, title=page._("Create a grant"),
                       errors=errors or {}, values=values or {"sectorCode": DEFAULT_SECTOR_CODE},
                       lines=shown_rows(lines, BUDGET_FIELDS,
                                        max(BUDGET_ROWS, len(lines) + extra)))


def budget_lines(page: Page, lines: list[Row], errors: Errors) -> list[dict[str, str]]:
    """BudgetLineInput of the typed rows; a date that cannot be read is an
    error on the field `budgetLines` (the API judges the rest)."""
    for number, line in enumerate(lines, 1):
        try:
            date.fromisoformat(line["periodStart"])
            date.fromisoformat(line["periodEnd"])
        except ValueError:
            errors.setdefault("budgetLines", []).append(page._(
                "Budget line %(number)s: enter its dates as year-month-day, for example "
                "2026-01-01.", number=number))
    return [{"periodStart": line["periodStart"], "periodEnd": line["periodEnd"],
             "amount": line["amount"]} for line in lines]


@route("/secretariat/grants/new", methods=("GET", "POST"))
def new_grant(page: Page) -> Response:
    page.require_admin()
    if page.request.method == "GET":
        return new_grant_page(page)
    values = typed(page)
    lines = typed_rows(page.form, "budgetLines", BUDGET_FIELDS)
    if page.form.get("action") == "add-row":  # the form again, one row more than it had
        return new_grant_page(page, None, values, lines,
                              extra=rows_posted(page.form, "budgetLines") + 1 - len(lines))
    errors: Errors = {}
    data: dict[str, Any] = {name: values.get(name, "") for name in GRANT_FIELDS}
    data["currency"] = data["currency"].upper()
    data["sectorCode"] = optional(values.get("sectorCode"))
    data["budgetLines"] = budget_lines(page, lines, errors)
    if errors:
        return new_grant_page(page, errors, values, lines, 400)
    result = page.mutate(docs.CREATE_GRANT, input=data)
    if not result.ok:
        return new_grant_page(page, refusal(page, result.errors, NEW_GRANT_FIELDS),
                              values, lines, 400)
    return page.redirect(grant_path((result.data or {})["createGrant"]["id"]))


@route("/secretariat/grants/<id>/activate", methods=("POST",))
def activate(page: Page, id: str) -> Response:
    page.require_admin()
    result = page.mutate(docs.ACTIVATE_GRANT, id=id)
    if not result.ok:
        return grant_page(page, id, refusal(page, result.errors, ()), 400)
    return page.redirect(grant_path(id))


# ---- an allocation ---------------------------------------------------------------------------

def allocation_page(page: Page, errors: Errors | None = None,
                    values: dict[str, Any] | None = None, status: int = 200) -> Response:
    grant_nodes = [g for g in all_nodes(page, docs.GRANT_CHOICES, "grants")
                   if g["status"] in ("PIPELINE", "ACTIVE")]
    member_nodes = all_nodes(page, docs.MEMBER_CHOICES, "members")
    money = page.words.filters["money"]
    grant_options = [("", page._("Choose a grant"))] + [
        (g["id"], page._("%(title)s (available: %(available)s)", title=g["title"],
                         available=money(g["available"], g["currency"])))
        for g in grant_nodes]
    member_options = [("", page._("Choose a member"))] + [
        (m["id"], f"{m['name']} ({m['acronym']})" if m["acronym"] else m["name"])
        for m in sorted(member_nodes, key=lambda m: m["name"].casefold())]
    return page.render("secretariat/allocation_new.html", status=status,
                       title=page._("Propose an allocation"), errors=errors or {},
                       values=values or {"grantId": page.request.args.get("grant", "")},
                       grant_options=grant_options, member_options=member_options)


@route("/secretariat/allocations/new", methods=("GET", "POST"))
def new_allocation(page: Page) -> Response:
    page.require_admin()
    if page.request.method == "GET":
        return allocation_page(page)
    values = typed(page)
    errors: Errors = {}
    closes_at = moment(page, values, "closesAt", errors, required=False)
    if errors:
        return allocation_page(page, errors, values, 400)
    data = {"grantId": values.get("grantId", ""), "memberId": values.get("memberId", ""),
            "amount": values.get("amount", ""), "purpose": values.get("purpose", ""),
            "closesAt": closes_at}
    result = page.mutate(docs.PROPOSE, input=data)
    if not result.ok:
        return allocation_page(page, refusal(page, result.errors, ALLOCATION_FIELDS), values, 400)
    allocation = (result.data or {})["proposeAllocation"]
    return page.redirect(grant_path(allocation["grant"]["id"], f"allocation-{allocation['id']}"))


# ---- a disbursement --------------------------------------------------------------------------

def payable(page: Page) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(allocation id, label) of every APPROVED allocation of an ACTIVE
    grant, and the grant id of each."""
    money = page.words.filters["money"]
    options, grant_of = [], {}
    for g in all_nodes(page, docs.ALLOCATION_CHOICES, "grants"):
        for a in g["allocations"]:
            if a["status"] != "APPROVED":
                continue
            left = Decimal(a["amount"]) - Decimal(a["disbursed"])
            grant_of[a["id"]] = g["id"]
            options.append((a["id"], page._(
                "%(member)s, %(grant)s: %(amount)s (to pay: %(left)s)", member=a["member"]["name"],
                grant=g["title"], amount=money(a["amount"], g["currency"]),
                left=money(str(left), g["currency"]))))
    return options, grant_of


def disbursement_page(page: Page, errors: Errors | None = None,
                      values: dict[str, Any] | None = None, status: int = 200) -> Response:
    options = [("", page._("Choose an allocation"))] + payable(page)[0]
    return page.render("secretariat/disbursement_new.html", status=status,
                       title=page._("Record a disbursement"), errors=errors or {},
                       values=values or {"allocationId": page.request.args.get("allocation", "")},
                       allocation_options=options)


@route("/secretariat/disbursements/new", methods=("GET", "POST"))
def new_disbursement(page: Page) -> Response:
    page.require_admin()
    if page.request.method == "GET":
        return disbursement_page(page)
    values = typed(page)
    data = {"allocationId": values.get("allocationId", ""), "amount": values.get("amount", ""),
            "paidOn": values.get("paidOn", ""), "reference": optional(values.get("reference"))}
    result = page.mutate(docs.DISBURSE, input=data)
    if not result.ok:
        return disbursement_page(page, refusal(page, result.errors, DISBURSEMENT_FIELDS), values,
                                 400)
    grant_id = payable(page)[1].get(data["allocationId"])
    if grant_id is None:  # paid in full meanwhile, or its grant closed: the list of grants
        return page.redirect("/secretariat/grants", done="saved")
    return page.redirect(grant_path(grant_id, f"allocation-{data['allocationId']}"))
