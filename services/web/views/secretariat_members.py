"""The secretariat's pages about members (ADMIN only).

    GET  /secretariat/members                 every member, by status and search, paged
    GET  /secretariat/members.csv             the member list as CSV (no focal points)
    GET  /secretariat/members/new             registerFoundingMember: the whole MemberInput
    POST /secretariat/members/new
    GET  /secretariat/members/<id>            the admin's view of a member: its admission
                                              (a candidate's) or suspension (an ACTIVE or
                                              SUSPENDED member's) consultation, the
                                              actions its status allows, who has seen its
                                              focal point, its visibility, the download of
                                              its data and (WITHDRAWN, REJECTED) the
                                              erasure of its personal data (the forms of
                                              DOMAIN.md section 11 post to views/safety.py)
    POST /secretariat/members/<id>/sign-mou   signMou for the member
    POST /secretariat/members/<id>/reinstate  reinstateMember
    POST /secretariat/members/<id>/suspend    proposeSuspension(reason, closesAt)
    POST /secretariat/members/<id>/withdraw   withdrawMembership(reason)

Invariants: no page or export here asks the API for a focal point (each
answer holding one is a read recorded against the member, DOMAIN.md section
11; the CSV is a list to share, and the member's public page shows the focal
point to ADMIN when needed). Which actions are offered follows the member's
status, but the API decides: a refused action shows its message.
"""
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Response

from services.web.page import Page
from services.web.views import route
from services.web.views import secretariat_documents as docs
from services.web.views.labels import labels, parse_countries, visibility_options
from services.web.views.secretariat_forms import (Errors, after, all_nodes, csv_response,
                                                  csv_text, moment, optional, refusal, typed)
from services.web.views.shared import newest_first

STATUSES = ("CANDIDATE", "ACTIVE", "SUSPENDED", "WITHDRAWN", "REJECTED")
CSV_COLUMNS = ["id", "name", "acronym", "orgType", "countries", "region", "constituencies",
               "status", "mouSignedAt", "canVote", "joinedAt", "language"]
MEMBER_FIELDS = ("name", "acronym", "orgType", "countries", "region", "constituencies",
                 "focalPoint.name", "focalPoint.email", "focalPoint.phone", "language",
                 "visibility")
SUSPEND_FIELDS = ("reason", "closesAt", "closesAtTime")
VISIBILITIES = ("PUBLIC", "MEMBERS_ONLY")  # the API's Visibility (DOMAIN.md section 11)
ERASABLE = ("WITHDRAWN", "REJECTED")  # whose personal data may be erased (the API decides)


@route("/secretariat/members")
def members(page: Page) -> Response:
    page.require_admin()
    args = page.request.args
    status = args.get("status") if args.get("status") in STATUSES else None
    search = args.get("search", "").strip()[:200] or None
    found = page.query(docs.MEMBERS, status=status, search=search,
                       after=after(page))["members"]
    query = urlencode({k: v for k, v in (("status", status), ("search", search)) if v})
    return page.render("secretariat/members.html", title=page._("Members"),
                       labels=labels(page._, page.language), members=found, status_filter=status or "",
                       search=search or "", statuses=STATUSES,
                       base_path="/secretariat/members" + (f"?{query}" if query else ""))


@route("/secretariat/members.csv")
def members_csv(page: Page) -> Response:
    page.require_admin()
    nodes = all_nodes(page, docs.MEMBERS_CSV, "members")
    return csv_response(csv_text(CSV_COLUMNS, nodes), "members.csv")


# ---- registering a founding member -------------------------------------------------------------

def member_input(values: dict[str, Any], countries: list[str]) -> dict[str, Any]:
    """The MemberInput of the form (empty optional fields are null)."""
    return {"name": values.get("name", ""), "acronym": optional(values.get("acronym")),
            "orgType": values.get("orgType", ""), "countries": countries,
            "region": optional(values.get("region")),
            "constituencies": values.get("constituencies", []),
            "focalPoint": {"name": values.get("focalPoint.name", ""),
                           "email": values.get("focalPoint.email", ""),
                           "phone": optional(values.get("focalPoint.phone"))},
            "language": values.get("language") or "EN",
            "visibility": values.get("visibility") or "PUBLIC"}


def new_member_page(page: Page, errors: Errors | None = None,
                    values: dict[str, Any] | None = None, status: int = 200) -> Response:
    return page.render("secretariat/member_new.html", status=status,
                       title=page._("Register a founding member"),
                       labels=labels(page._, page.language), errors=errors or {},
                       values=values or {"language": "EN", "constituencies": [],
                                         "visibility": "PUBLIC"},
                       visibility_options=visibility_options(page._, own=False))


@route("/secretariat/members/new", methods=("GET", "POST"))
def new_member(page: Page) -> Response:
    page.require_admin()
    if page.request.method == "GET":
        return new_member_page(page)
    values = typed(page, "constituencies")
    countries, unknown = parse_countries(values.get("countries", ""))
    errors: Errors = {}
    if unknown:
        errors["countries"] = [page._("Not a country we know: %(names)s",
                                      names=", ".join(unknown))]
    if values.get("visibility", "PUBLIC") not in VISIBILITIES:
        errors["visibility"] = [page._("Choose who may see that it is a member.")]
    if errors:
        return new_member_page(page, errors, values, 400)
    result = page.mutate(docs.REGISTER, input=member_input(values, countries))
    if not result.ok:
        return new_member_page(page, refusal(page, result.errors, MEMBER_FIELDS), values, 400)
    member_id = (result.data or {})["registerFoundingMember"]["id"]
    return page.redirect(f"/secretariat/members/{member_id}", done="saved")


# ---- one member ------------------------------------------------------------------------------

def consultation_about(page: Page, kind: str, member_id: str) -> dict | None:
    """The consultation of `kind` about the member: the OPEN one, else the
    one that closed last."""
    about = [c for c in all_nodes(page, docs.ABOUT, "consultations", kind=kind)
             if c["subjectId"] == member_id]
    about.sort(key=lambda c: (c["status"] == "OPEN", c["closesAt"]), reverse=True)
    return about[0] if about else None


def member_page(page: Page, member_id: str, errors: Errors | None = None,
                values: dict[str, Any] | None = None, status: int = 200,
                erased: list[str] | None = None) -> Response:
    """The member's page, with a refused form's `errors` and typed `values`,
    or what an erasure just `removed` (views/safety.py)."""
    member = page.query(docs.MEMBER, id=member_id)["member"]
    if member is None:
        page.not_found()
    admission = (consultation_about(page, "MEMBERSHIP_ADMISSION", member_id)
                 if member["status"] in ("CANDIDATE", "REJECTED") else None)
    suspension = (consultation_about(page, "MEMBER_SUSPENSION", member_id)
                  if member["status"] in ("ACTIVE", "SUSPENDED") else None)
    return page.render("secretariat/member.html", status=status, title=member["name"],
                       labels=labels(page._, page.language), member=member,
                       admission=admission, suspension=suspension,
                       errors=errors or {}, values=values or {}, erased=erased,
                       reads=newest_first(member["focalPointReads"]),
                       visibility_options=visibility_options(page._, own=False),
                       can_erase=member["status"] in ERASABLE)


@route("/secretariat/members/<id>")
def member(page: Page, id: str) -> Response:
    page.require_admin()
    return member_page(page, id)


def member_action(page: Page, member_id: str, document: str, done: str,
                  **variables: Any) -> Response:
    """Run a mutation about the member; its page again with the refusal, or
    back to it with `done`."""
    result = page.mutate(document, id=member_id, **variables)
    if not result.ok:
        return member_page(page, member_id, refusal(page, result.errors, ()), status=400)
    return page.redirect(f"/secretariat/members/{member_id}", done=done)


@route("/secretariat/members/<id>/sign-mou", methods=("POST",))
def sign_mou(page: Page, id: str) -> Response:
    page.require_admin()
    return member_action(page, id, docs.SIGN_MOU, "mou")


@route("/secretariat/members/<id>/reinstate", methods=("POST",))
def reinstate(page: Page, id: str) -> Response:
    page.require_admin()
    return member_action(page, id, docs.REINSTATE, "saved")


@route("/secretariat/members/<id>/withdraw", methods=("POST",))
def withdraw(page: Page, id: str) -> Response:
    page.require_admin()
    reason = optional(page.form.get("withdrawReason", "").strip())
    result = page.mutate(docs.WITHDRAW, id=id, reason=reason)
    if not result.ok:
        errors = refusal(page, {("withdrawReason" if k == "reason" else k): v
                              for k, v in result.errors.items()}, ("withdrawReason",))
        return member_page(page, id, errors, {"withdrawReason": reason or ""}, 400)
    return page.redirect(f"/secretariat/members/{id}", done="withdrawn")


@route("/secretariat/members/<id>/suspend", methods=("POST",))
def suspend(page: Page, id: str) -> Response:
    page.require_admin()
    values = typed(page)
    errors: Errors = {}
    closes_at = moment(page, values, "closesAt", errors, required=False)
    if errors:
        return member_page(page, id, errors, values, 400)
    result = page.mutate(docs.SUSPEND, id=id, reason=values.get("reason", ""),
                         closesAt=closes_at)
    if not result.ok:
        return member_page(page, id, refusal(page, result.errors, SUSPEND_FIELDS), values, 400)
    consultation_id = (result.data or {})["proposeSuspension"]["id"]
    return page.redirect(f"/secretariat/consultations/{consultation_id}", done="saved")
