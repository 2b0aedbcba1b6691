"""The safety of members in the web app (DOMAIN.md section 11): the forms of
a member's visibility, the download of all the data about a member, and the
erasure of a member's personal data. The pages that show them are
views/member.py (/organisation, /preferences) and views/secretariat_members.py.

    GET  /members/<id>/data.json               back to the page the form is on
    POST /members/<id>/data.json               exportMemberData as a JSON download,
                                               member-<id>.json (the member itself or
                                               ADMIN: the API decides)
    POST /preferences/visibility               setMemberVisibility for the viewer's
                                               own member
    POST /secretariat/members/<id>/visibility  setMemberVisibility (ADMIN)
    POST /secretariat/members/<id>/erase       eraseMemberData (ADMIN), only with
                                               its confirmation box ticked

Invariants:
- every route needs a signed-in viewer (anonymous: to /signin and back) and
  a POST with this browser's CSRF token (services/web/app.py); what the
  viewer may do is the API's to decide, and its refusal is shown (403, 404,
  409 as its code says);
- the download runs without a form key, so the JSON (personal data) is never
  kept among the API's kept answers; an ADMIN's download is a read of the
  focal point the API records;
- a visibility that is not one of the API's values is refused beside the
  field and nothing is sent;
- erasing is final: without the box ticked nothing is sent; after it the
  page lists what was removed, in the API's words.
"""
from werkzeug.wrappers import Response

from services.web.page import Page
from services.web.views import documents as D
from services.web.views import route
from services.web.views import secretariat_documents as docs
from services.web.views.member import preferences_page
from services.web.views.proxies import refusal_status
from services.web.views.reports import SAFE_NAME
from services.web.views.secretariat_forms import refusal
from services.web.views.secretariat_members import VISIBILITIES, member_page


def export_file(member_id: str, text: str) -> Response:
    """The API's JSON document as a download named after the member."""
    name = SAFE_NAME.sub("", member_id)[:80] or "member"
    return Response(text, content_type="application/json; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="member-{name}.json"'})


@route("/members/<id>/data.json", methods=("GET", "POST"))
def export(page: Page, id: str) -> Response:
    page.require_signed_in()
    if page.request.method != "POST":
        return page.redirect(f"/secretariat/members/{id}" if page.is_admin else "/organisation")
    return export_file(id, page.query(D.EXPORT, id=id)["exportMemberData"])


def chosen_visibility(page: Page) -> tuple[str, dict[str, list[str]]]:
    """(the visibility posted, its error if it is not one of the API's)."""
    value = page.form.get("visibility", "")
    if value in VISIBILITIES:
        return value, {}
    return value, {"visibility": [page._("Choose who may see that it is a member.")]}


@route("/preferences/visibility", methods=("POST",))
def own_visibility(page: Page) -> Response:
    page.require_signed_in()
    if not page.viewer.member_id:
        return page.redirect("/preferences")
    value, errors = chosen_visibility(page)
    if not errors:
        result = page.mutate(D.SET_VISIBILITY, id=page.viewer.member_id, visibility=value)
        if result.ok:
            return page.redirect("/preferences", done="visibility")
        errors = refusal(page, result.errors, ("visibility",))
    return preferences_page(page, errors, visibility=value)


@route("/secretariat/members/<id>/visibility", methods=("POST",))
def visibility(page: Page, id: str) -> Response:
    page.require_admin()
    value, errors = chosen_visibility(page)
    if errors:
        return member_page(page, id, errors, {"visibility": value}, 400)
    result = page.mutate(D.SET_VISIBILITY, id=id, visibility=value)
    if not result.ok:
        return member_page(page, id, refusal(page, result.errors, ("visibility",)),
                           {"visibility": value}, refusal_status(result.code))
    return page.redirect(f"/secretariat/members/{id}", done="visibility")


@route("/secretariat/members/<id>/erase", methods=("POST",))
def erase(page: Page, id: str) -> Response:
    """Erasing cannot be undone: the form is sent only with its box ticked;
    the page then says what was removed (the answer of this one POST)."""
    page.require_admin()
    if page.form.get("confirm") != "yes":
        return member_page(page, id, {"confirm": [page._(
            "Tick the box to confirm that the personal data is to be erased.")]}, status=400)
    result = page.mutate(docs.ERASE, id=id)
    if not result.ok:
        return member_page(page, id, refusal(page, result.errors, ()),
                           status=refusal_status(result.code))
    return member_page(page, id, erased=(result.data or {})["eraseMemberData"]["removed"])
