"""The secretariat's pages about consultations (ADMIN only). The public
view of a consultation is /consultations/<id> (views/consultations.py).

    GET  /secretariat/consultations/new              openConsultation: the form
    POST /secretariat/consultations/new
    GET  /secretariat/consultations/<id>             the admin's view: tally,
                                                     participation, who has not
                                                     responded, the actions
    POST /secretariat/consultations/<id>/close       closeConsultation
    POST /secretariat/consultations/<id>/next-round  startNextRound(proposal, closesAt)
    POST /secretariat/consultations/<id>/cancel      cancelConsultation(reason)
    GET  /secretariat/consultations/<id>/export.csv  the consultation as CSV

A deadline is typed as a date and a time in UTC (two fields, no script) and
sent as ISO-8601 (secretariat_forms.moment). The CSV is the rows of
services/export.py (its guard against formulas included) built from what the
API gives: the consultation, each closed round, the current round, the
stances of the current round (with who cast them by proxy) and its proxies
as they stand (the API keeps no earlier stances for it to give; `coalition
export consultation` has the whole audit trail). While the current round's
results are hidden, the CSV is refused (409) until the round closes.
"""
import io
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Mapping

from werkzeug.wrappers import Response

from services.export import export_rows, results_hidden, write_csv
from services.web import charts
from services.web.page import Page
from services.web.views import route
from services.web.views import secretariat_documents as docs
from services.web.views.consultations import not_named
from services.web.views.documents import TALLY
from services.web.views.labels import labels
from services.web.views.secretariat import UNDECIDED, participation
from services.web.views.secretariat_forms import (Errors, csv_response, fraction, moment,
                                                  refusal, typed)

OPEN_FIELDS = ("title", "proposal", "closesAt", "closesAtTime", "rule", "quorum", "threshold",
               "resultsVisibility")
VISIBILITIES = ("OPEN", "HIDDEN_UNTIL_CLOSED")
NEXT_FIELDS = ("proposal", "closesAt", "closesAtTime")
DEFAULT_DAYS = 14     # the deadline a form suggests: in two weeks, at noon UTC
DEFAULT_TIME = "12:00"


def suggested_deadline() -> dict[str, str]:
    day = (datetime.now(timezone.utc) + timedelta(days=DEFAULT_DAYS)).date().isoformat()
    return {"closesAt": day, "closesAtTime": DEFAULT_TIME}


# ---- opening a consultation ---------------------------------------------------------------

def new_page(page: Page, errors: Errors | None = None, values: dict[str, Any] | None = None,
             status: int = 200) -> Response:
    return page.render("secretariat/consultation_new.html", status=status,
                       title=page._("Open a consultation"),
                       labels=labels(page._, page.language), errors=errors or {},
                       values=values or {"rule": "CONSENSUS", "quorum": "0.5",
                                         "resultsVisibility": "OPEN", **suggested_deadline()})


@route("/secretariat/consultations/new", methods=("GET", "POST"))
def new_consultation(page: Page) -> Response:
    page.require_admin()
    if page.request.method == "GET":
        return new_page(page)
    values = typed(page)
    errors: Errors = {}
    closes_at = moment(page, values, "closesAt", errors)
    quorum = fraction(page, values, "quorum", errors)
    threshold = fraction(page, values, "threshold", errors)
    if values.get("resultsVisibility", "OPEN") not in VISIBILITIES:
        errors["resultsVisibility"] = [page._("Choose when the stances are shown.")]
    if errors:
        return new_page(page, errors, values, 400)
    data: dict[str, Any] = {"title": values.get("title", ""),
                            "proposal": values.get("proposal", ""), "closesAt": closes_at,
                            "rule": values.get("rule") or "CONSENSUS", "threshold": threshold,
                            "resultsVisibility": values.get("resultsVisibility") or "OPEN"}
    if quorum is not None:
        data["quorum"] = quorum
    result = page.mutate(docs.OPEN, input=data)
    if not result.ok:
        return new_page(page, refusal(page, result.errors, OPEN_FIELDS), values, 400)
    consultation_id = (result.data or {})["openConsultation"]["id"]
    return page.redirect(f"/secretariat/consultations/{consultation_id}", done="saved")


# ---- one consultation -----------------------------------------------------------------------

def consultation_of(page: Page, consultation_id: str) -> dict:
    consultation = page.query(docs.CONSULTATION, id=consultation_id)["consultation"]
    if consultation is None:
        page.not_found()
    return consultation


def consultation_page(page: Page, consultation_id: str, errors: Errors | None = None,
                      values: dict[str, Any] | None = None, status: int = 200) -> Response:
    c = consultation_of(page, consultation_id)
    start = {"proposal": c["proposal"], **suggested_deadline()}
    number = page.words.filters["number"]
    chart = charts.figure(charts.tally_bar(c["tally"], c["quorum"], page._, "tally", number),
                          charts.tally_legend(c["tally"], page._, number))
    return page.render("secretariat/consultation.html", status=status, title=c["title"],
                       labels=labels(page._, page.language), c=c, chart=chart,
                       participation=participation(c["tally"]), hidden=charts.hidden(c["tally"]),
                       waiting=c["awaiting"], more=not_named(c),
                       can_close=c["status"] == "OPEN",
                       can_continue=c["status"] == "CLOSED" and c["outcome"] in UNDECIDED,
                       errors=errors or {}, values={**start, **(values or {})})


@route("/secretariat/consultations/<id>")
def consultation(page: Page, id: str) -> Response:
    page.require_admin()
    return consultation_page(page, id)


@route("/secretariat/consultations/<id>/close", methods=("POST",))
def close(page: Page, id: str) -> Response:
    page.require_admin()
    result = page.mutate(docs.CLOSE, id=id)
    if not result.ok:
        return consultation_page(page, id, refusal(page, result.errors, ()), status=400)
    return page.redirect(f"/secretariat/consultations/{id}", done="saved")


@route("/secretariat/consultations/<id>/next-round", methods=("POST",))
def next_round(page: Page, id: str) -> Response:
    page.require_admin()
    values = typed(page)
    errors: Errors = {}
    closes_at = moment(page, values, "closesAt", errors)
    if errors:
        return consultation_page(page, id, errors, values, 400)
    result = page.mutate(docs.NEXT_ROUND, id=id, proposal=values.get("proposal", ""),
                         closesAt=closes_at)
    if not result.ok:
        return consultation_page(page, id, refusal(page, result.errors, NEXT_FIELDS), values, 400)
    return page.redirect(f"/secretariat/consultations/{id}", done="saved")


@route("/secretariat/consultations/<id>/cancel", methods=("POST",))
def cancel(page: Page, id: str) -> Response:
    page.require_admin()
    values = typed(page)
    result = page.mutate(docs.CANCEL, id=id, reason=values.get("reason", ""))
    if not result.ok:
        return consultation_page(page, id, refusal(page, result.errors, ("reason",)), values, 400)
    return page.redirect(f"/secretariat/consultations/{id}", done="saved")


# ---- the CSV ---------------------------------------------------------------------------------

# The CSV's own query: the page's document (docs.CONSULTATION) and what the
# export adds, who cast a stance by proxy and the round's proxies.
CSV: Final = """
query ConsultationCsv($id: ID!) {
  consultation(id: $id) {
    id kind title proposal status round rule quorum threshold resultsVisibility
    openedAt closesAt closedAt outcome
    %(tally)s
    stances { member { id name } value reason castAt castBy { id } }
    proxies { round status granter { id name } holder { id } }
    rounds { number proposal outcome closedAt explanation %(tally)s }
  }
}
""" % {"tally": TALLY}


def _tally(tally: dict) -> dict[str, Any]:
    return {"eligible": tally["eligible"], "responded": tally["responded"],
            "agree": tally["agree"], "reservations": tally["reservations"],
            "stand_aside": tally["standAside"], "block": tally["block"],
            "quorum_reached": tally["quorumReached"]}


Shape = tuple[dict, list[Mapping[str, Any]], dict[str, str], list[Mapping[str, Any]]]


def export_shape(c: dict) -> Shape:
    """(consultation, audit, names, proxies) as services/export.py
    `export_rows` takes them, from the API's answer (CSV). The proxies are
    the current round's as they stand (no actor, no time: `coalition export
    consultation` has every change)."""
    consultation = {
        "id": c["id"], "kind": c["kind"], "title": c["title"], "status": c["status"],
        "rule": c["rule"], "quorum": c["quorum"], "threshold": c["threshold"],
        "round": c["round"], "proposal": c["proposal"], "outcome": c["outcome"],
        "results_visibility": c["resultsVisibility"],
        "opened_at": c["openedAt"], "closes_at": c["closesAt"], "closed_at": c["closedAt"],
        "tally": _tally(c["tally"]),
        "rounds": [{"number": r["number"], "proposal": r["proposal"], "outcome": r["outcome"],
                    "explanation": r["explanation"], "closed_at": r["closedAt"],
                    "tally": _tally(r["tally"])} for r in c["rounds"]]}
    audit: list[Mapping[str, Any]] = [
        {"round": c["round"], "member_id": s["member"]["id"], "value": s["value"],
         "reason": s["reason"], "cast_at": s["castAt"],
         "cast_by": (s["castBy"] or {}).get("id")}
        for s in sorted(c["stances"], key=lambda s: s["castAt"])]
    proxies: list[Mapping[str, Any]] = [
        {"round": p["round"], "granter_id": p["granter"]["id"], "holder_id": p["holder"]["id"],
         "status": p["status"]} for p in c["proxies"]]
    names = {**{p["granter"]["id"]: p["granter"]["name"] for p in c["proxies"]},
             **{s["member"]["id"]: s["member"]["name"] for s in c["stances"]}}
    return consultation, audit, names, proxies


@route("/secretariat/consultations/<id>/export.csv")
def consultation_csv(page: Page, id: str) -> Response:
    """409 while the current round's results are hidden (until it closes)."""
    page.require_admin()
    c = page.query(CSV, id=id)["consultation"]
    if c is None:
        page.not_found()
    consultation, audit, names, proxies = export_shape(c)
    if results_hidden(consultation):
        return page.error_page(409, page._("The stances are hidden until the round closes."))
    stream = io.StringIO()
    stream.write("\ufeff")
    write_csv(stream, export_rows(consultation, audit, names, proxies))
    return csv_response(stream.getvalue(), f"consultation-{id}.csv")
