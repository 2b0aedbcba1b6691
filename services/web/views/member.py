"""A signed-in person's own pages: /organisation (a member's own record, its
focal point, status and MoU, its reports to write and written (overdue ones
marked), its allocations with their disbursements;
signing the MoU; withdrawing, with a confirmation step; who has seen its
focal point's contact details, newest first, and the download of all its
data, views/safety.py) and /preferences (language, the notifications one may
turn off, a member's visibility, the recent notifications and "Mark all as
read").

Invariants:
- every page here needs a signed-in viewer (anonymous: to /signin and back);
  /organisation is a MEMBER's (ADMIN has no organisation: it is sent to the
  secretariat's dashboard);
- withdrawing is final, so it takes two POSTs: the first only shows "Are
  you sure?" with the reason given, the second (confirm=yes) runs
  withdrawMembership. The member's sessions end with it (DOMAIN.md section
  7), so the browser is then sent to / as a visitor;
- after the language preference changes, the next page is in that language
  (page.set_language writes the visitor's cookie too).
"""
from werkzeug.wrappers import Response

from services.common.vocabulary import Language
from services.web import charts
from services.web.page import Abort, Page
from services.web.views import documents as D
from services.web.views import route
from services.web.views.labels import visibility_options
from services.web.views.shared import (allocation_points, api_messages, fmt, form_errors,
                                       labels_of, local_link, newest_first, nodes)

OPT_OUTS = ("consultationOpened", "reminders", "outcomes")
SUBMITTABLE = ("DUE", "CHANGES_REQUESTED")  # reports the member still has to send
MAX_REASON = 2000


def own_reports(allocations: list[dict]) -> list[dict]:
    """The reports on the member's allocations, each with its allocation's
    grant: those still to write first (overdue ones at the top), by due date."""
    found = [{**r, "grant": a["grant"], "allocation_id": a["id"]}
             for a in allocations for r in a.get("reports") or []]
    return sorted(found, key=lambda r: (r["status"] not in SUBMITTABLE, not r["overdue"],
                                        r["dueOn"]))


def organisation_page(page: Page, errors: dict[str, list[str]] | None = None,
                      reason: str = "") -> Response:
    page.require_signed_in()
    if not page.is_member:
        raise Abort(page.redirect("/secretariat"))
    member = page.query(D.ORGANISATION)["viewer"]["member"]
    if member is None:
        page.not_found()
    points = allocation_points(member["allocations"])
    return page.render(
        "member/organisation.html", status=400 if errors else 200, title=member["name"],
        L=labels_of(page), org=member, allocations=member["allocations"],
        reads=newest_first(member["focalPointReads"]),
        reports=own_reports(member["allocations"]),
        errors=errors or {}, reason=reason,
        can_sign=member["status"] == "ACTIVE" and not member["mouSignedAt"],
        can_withdraw=member["status"] in ("ACTIVE", "SUSPENDED", "CANDIDATE"),
        chart=charts.allocations_over_time(points, page._, fmt(page, "money"), fmt(page, "day"),
                                           "allocations"),
        chart_text=charts.allocations_text(points, page._, fmt(page, "money"), fmt(page, "day")))


@route("/organisation")
def organisation(page: Page) -> Response:
    return organisation_page(page)


@route("/organisation/mou", methods=("POST",))
def sign_mou(page: Page) -> Response:
    page.require_signed_in()
    if not page.viewer.member_id:
        return page.redirect("/organisation")
    result = page.mutate(D.SIGN_MOU, id=page.viewer.member_id)
    if result.ok:
        return page.redirect("/organisation", done="mou")
    return organisation_page(page, {"mou": [result.message or ""]})


@route("/organisation/withdraw", methods=("GET", "POST"))
def withdraw(page: Page) -> Response:
    """GET: back to /organisation (the form is there). POST: "Are you sure?";
    POST with confirm=yes: withdraw."""
    page.require_signed_in()
    if page.request.method != "POST" or not page.viewer.member_id:
        return page.redirect("/organisation")
    reason = page.form.get("reason", "")
    if len(reason.strip()) > MAX_REASON:
        return organisation_page(page, {"reason": [page._(
            "At most %(count)s characters.", count=MAX_REASON)]}, reason)
    if page.form.get("confirm") != "yes":
        member = page.query(D.WITHDRAWAL)["viewer"]["member"]
        if member is None:
            page.not_found()
        return page.render("member/withdraw.html", title=page._("Are you sure?"), org=member,
                           reason=reason)
    result = page.mutate(D.WITHDRAW, id=page.viewer.member_id, reason=reason.strip() or None)
    if result.ok:
        return page.redirect("/", done="withdrawn")
    errors = api_messages(page, form_errors(result.errors, {"reason": "reason"}))
    return organisation_page(page, errors, reason)


# ---- preferences ------------------------------------------------------------------------

def preferences_page(page: Page, errors: dict[str, list[str]] | None = None,
                     typed: dict | None = None, visibility: str | None = None) -> Response:
    """The page, with `errors` and what was `typed` in the preferences form,
    or the `visibility` chosen in the member's form when it was refused."""
    page.require_signed_in()
    data = page.query(D.PREFERENCES)
    person, member = data["viewer"]["person"], data["viewer"]["member"]
    chosen = typed or (person["preferences"] if person else {
        "language": str(page.language), "consultationOpened": True, "reminders": True,
        "outcomes": True})
    notifications = [{**n, "path": local_link(n["link"])} for n in nodes(data["notifications"])]
    return page.render(
        "member/preferences.html", status=400 if errors else 200, title=page._("Preferences"),
        L=labels_of(page), person=person, member=member, chosen=chosen,
        visibility=visibility or (member or {}).get("visibility", "PUBLIC"),
        visibility_options=visibility_options(page._, own=True),
        errors=errors or {}, notifications=notifications,
        notify_values=[k for k in OPT_OUTS if chosen.get(k)],
        unread=data["notifications"]["unreadCount"], total=data["notifications"]["totalCount"],
        language_options=[("EN", "English", ""), ("RU", "Русский", "")],
        opt_out_options=[
            ("consultationOpened", page._("When a consultation opens")),
            ("reminders", page._("Reminders before a deadline")),
            ("outcomes", page._("When a round closes, with its outcome"))])


@route("/preferences", methods=("GET", "POST"))
def preferences(page: Page) -> Response:
    page.require_signed_in()
    if page.request.method != "POST":
        return preferences_page(page)
    language = page.form.get("language", "")
    chosen = set(page.form.getlist("notify"))
    typed = {"language": language, **{k: k in chosen for k in OPT_OUTS}}
    if language not in {str(lang) for lang in Language}:
        return preferences_page(page, {"language": [page._("Choose English or Russian.")]}, typed)
    result = page.mutate(D.SET_PREFERENCES, input=typed)
    if not result.ok:
        names = {"language": "language", **{k: "notify" for k in OPT_OUTS}}
        return preferences_page(page, api_messages(page, form_errors(result.errors, names)), typed)
    page.set_language(language)
    return page.redirect("/preferences", done="preferences")


@route("/preferences/read", methods=("POST",))
def mark_read(page: Page) -> Response:
    """Mark every unread notification as read, a page of the API at a time."""
    page.require_signed_in()
    for _ in range(10):  # at most 2,000 at once; the rest with the next click
        ids = [n["id"] for n in nodes(page.query(D.UNREAD)["notifications"])]
        if not ids or not page.mutate(D.MARK_READ, ids=ids).ok:
            break
    return page.redirect("/preferences", done="read")
