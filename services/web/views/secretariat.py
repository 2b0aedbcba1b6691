"""The secretariat's dashboard and its people (ADMIN only: every view
starts with `page.require_admin()`: anonymous visitors go to /signin, members
get 403). The other secretariat pages are in secretariat_members.py,
secretariat_consultations.py and secretariat_grants.py.

    GET  /secretariat                  the dashboard: pending applications (each
                                       with its admission consultation), open
                                       rounds with participation, who has not
                                       responded (a few named, the rest counted)
                                       and deadline,
                                       every round that ended without a decision,
                                       grants to activate, overdue reports,
                                       failed mails and dead
                                       letters (Query.operations), and a link to
                                       every form
    GET  /secretariat/people           the secretariat's people, and the invitation form
    POST /secretariat/people           inviteSecretariat(email, name)
    POST /secretariat/people/remove    removeSecretariat(email)

The grants in the pipeline and the overdue reports (Query.overdueReports,
oldest due date first) come from the grants service, asked apart from the
rest (report_documents.DASHBOARD_GRANTS, `page.query_part`): when it does
not answer, the dashboard is still made and says that block could not be
loaded.
"""
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Response

from services.web.page import Page
from services.web.views import route
from services.web.views import report_documents as R
from services.web.views import secretariat_documents as docs
from services.web.views.labels import labels
from services.web.views.secretariat_forms import Errors, all_nodes, refusal, typed

UNDECIDED = ("BLOCKED", "NO_QUORUM", "NOT_ADOPTED")  # a next round or a cancel is due


def participation(tally: dict) -> Decimal | None:
    """responded / eligible (None with no one eligible)."""
    if not tally["eligible"]:
        return None
    return Decimal(tally["responded"]) / Decimal(tally["eligible"])


def waiting_count(consultation: dict) -> int:
    """How many members of the round's snapshot have not responded."""
    return max(0, consultation["tally"]["eligible"] - consultation["tally"]["responded"])


def applied_at(member: dict) -> str | None:
    """When a candidate applied: its first history entry."""
    return member["history"][0]["at"] if member["history"] else None


@route("/secretariat")
def dashboard(page: Page) -> Response:
    page.require_admin()
    data = page.query(docs.DASHBOARD)
    admission_of = {edge["node"]["subjectId"]: edge["node"]
                    for edge in data["admissions"]["edges"]}
    candidates = [{**edge["node"], "applied_at": applied_at(edge["node"]),
                   "admission": admission_of.get(edge["node"]["id"])}
                  for edge in data["candidates"]["edges"]]
    rounds = [{**edge["node"], "participation": participation(edge["node"]["tally"]),
               "waiting": waiting_count(edge["node"])} for edge in data["open"]["edges"]]
    undecided = [c for c in all_nodes(page, docs.CLOSED, "consultations")
                 if c["outcome"] in UNDECIDED]
    money = page.query_part(R.DASHBOARD_GRANTS)  # None: the grants service did not answer
    overdue = money["overdueReports"] if money else []
    return page.render("secretariat/dashboard.html", title=page._("Secretariat"),
                       labels=labels(page._, page.language),
                       candidates=candidates, candidate_count=data["candidates"]["totalCount"],
                       rounds=rounds, round_count=data["open"]["totalCount"],
                       undecided=undecided, grants_answered=money is not None,
                       pipeline=[edge["node"] for edge in money["pipeline"]["edges"]]
                       if money else [],
                       overdue=overdue[:R.OVERDUE_SHOWN], overdue_count=len(overdue),
                       overdue_at_least=len(overdue) >= R.OVERDUE_ANSWERED,
                       operations=data["operations"])


# ---- the secretariat's people ---------------------------------------------------------------

PEOPLE_FIELDS = ("name", "email")


def people_page(page: Page, errors: Errors | None = None, values: dict[str, Any] | None = None,
                status: int = 200) -> Response:
    data = page.query(docs.PEOPLE)
    me = ((data["viewer"] or {}).get("person") or {}).get("email")
    return page.render("secretariat/people.html", status=status,
                       title=page._("Secretariat people"), people=data["secretariat"], me=me,
                       errors=errors or {}, values=values or {})


@route("/secretariat/people", methods=("GET", "POST"))
def people(page: Page) -> Response:
    page.require_admin()
    if page.request.method == "GET":
        return people_page(page)
    values = typed(page)
    result = page.mutate(docs.INVITE, email=values.get("email", ""),
                         name=values.get("name", ""))
    if not result.ok:
        return people_page(page, refusal(page, result.errors, PEOPLE_FIELDS), values, 400)
    return page.redirect("/secretariat/people", done="saved")


@route("/secretariat/people/remove", methods=("POST",))
def remove_person(page: Page) -> Response:
    page.require_admin()
    result = page.mutate(docs.REMOVE, email=page.form.get("email", ""))
    if not result.ok:
        return people_page(page, refusal(page, result.errors, ()), status=400)
    return page.redirect("/secretariat/people", done="saved")
