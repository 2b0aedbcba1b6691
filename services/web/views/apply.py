"""/apply: anyone applies for membership (applyForMembership with the whole
MemberInput), then /apply/sent says what happens next.

Invariants:
- the form posts every field of MemberInput, the visibility too (PUBLIC
  unless MEMBERS_ONLY is chosen, DOMAIN.md section 11); what the API refuses
  is shown beside the field it names, and every field keeps what was typed;
- countries are typed as names (English or Russian) or two-letter codes,
  separated by commas: a word that names no country is sent as typed (so
  the API refuses the whole input and reports every other field too) and
  reported beside the field in the page's language;
- a choice that is not one of the API's values (a hand-made POST) is
  reported beside its field and nothing is sent.
"""
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from services.common.vocabulary import Constituency, Language, OrgType
from services.web.page import Page
from services.web.views import documents as D
from services.web.views import route
from services.web.views.labels import parse_countries, visibility_options
from services.web.views.shared import api_messages, form_errors, labels_of

# API field -> form field
FIELDS = {"name": "name", "acronym": "acronym", "orgType": "org_type", "countries": "countries",
          "region": "region", "constituencies": "constituencies", "focalPoint": "focal_name",
          "focalPoint.name": "focal_name", "focalPoint.email": "focal_email",
          "focalPoint.phone": "focal_phone", "language": "language", "visibility": "visibility"}
VISIBILITIES = ("PUBLIC", "MEMBERS_ONLY")  # the API's Visibility
EMPTY = "Must not be empty."  # the API's message for a required text left empty


def empty_messages(page: Page) -> dict[str, str]:
    """What to say, field by field, instead of the API's EMPTY."""
    return {"name": page._("Enter the name of the organisation."),
            "focal_name": page._("Enter the focal point's full name."),
            "focal_email": page._("Enter the focal point's e-mail address.")}


def typed_of(form: Any) -> dict[str, Any]:
    """What was typed, as the form shows it again."""
    return {"name": form.get("name", ""), "acronym": form.get("acronym", ""),
            "org_type": form.get("org_type", ""), "countries": form.get("countries", ""),
            "region": form.get("region", ""), "constituencies": form.getlist("constituencies"),
            "focal_name": form.get("focal_name", ""), "focal_email": form.get("focal_email", ""),
            "focal_phone": form.get("focal_phone", ""), "language": form.get("language", "EN"),
            "visibility": form.get("visibility", "PUBLIC")}


def optional(text: str) -> str | None:
    return text.strip() or None


def unknown_countries(page: Page, typed: dict[str, Any]) -> dict[str, list[str]]:
    unknown = parse_countries(typed["countries"])[1]
    if not unknown:
        return {}
    return {"countries": [page._(
        "We do not know these countries: %(names)s. Write a country's name or its "
        "two-letter code, such as KG.", names=", ".join(unknown))]}


def member_input(page: Page, typed: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(MemberInput, errors that keep it from being sent) of what was typed."""
    codes, unknown = parse_countries(typed["countries"])
    errors: dict[str, list[str]] = {}
    if typed["org_type"] not in {str(t) for t in OrgType}:
        errors["org_type"] = [page._("Choose the type of organisation.")]
    choices = {str(c) for c in Constituency}
    if any(c not in choices for c in typed["constituencies"]):
        errors["constituencies"] = [page._("Choose constituencies from the list.")]
    if typed["language"] not in {str(lang) for lang in Language}:
        errors["language"] = [page._("Choose English or Russian.")]
    if typed["visibility"] not in VISIBILITIES:
        errors["visibility"] = [page._("Choose who may see your membership.")]
    data = {"name": typed["name"].strip(), "acronym": optional(typed["acronym"]),
            "orgType": typed["org_type"], "countries": codes + unknown, "region": optional(typed["region"]),
            "constituencies": typed["constituencies"],
            "focalPoint": {"name": typed["focal_name"].strip(),
                           "email": typed["focal_email"].strip(),
                           "phone": optional(typed["focal_phone"])},
            "language": typed["language"], "visibility": typed["visibility"]}
    return data, errors


def apply_page(page: Page, typed: dict[str, Any], errors: dict[str, list[str]]) -> Response:
    L = labels_of(page)
    return page.render(
        "public/apply.html", status=400 if errors else 200, title=page._("Apply for membership"),
        L=L, typed=typed, errors=errors,
        org_options=[("", page._("Choose a type"))] + L.options("org_type"),
        constituency_options=L.options("constituency"),
        language_options=[("EN", "English", ""), ("RU", "Русский", "")],
        visibility_options=visibility_options(page._, own=True))


@route("/apply", methods=("GET", "POST"))
def apply(page: Page) -> Response:
    if page.request.method != "POST":
        blank = typed_of(MultiDict({"language": str(page.language)}))
        return apply_page(page, blank, {})
    typed = typed_of(page.form)
    data, errors = member_input(page, typed)
    if errors:
        return apply_page(page, typed, errors)
    result = page.mutate(D.APPLY, input=data)
    if result.ok:
        return page.redirect("/apply/sent")
    errors = form_errors(result.errors, FIELDS)
    for name, message in empty_messages(page).items():
        if EMPTY in errors.get(name, []):
            errors[name] = [message if m == EMPTY else m for m in errors[name]]
    if result.code == "CONFLICT" and "" in errors:  # the focal point's address is in use
        errors["focal_email"] = errors.pop("")
    return apply_page(page, typed, {**api_messages(page, errors),
                                    **unknown_countries(page, typed)})


@route("/apply/sent")
def applied(page: Page) -> Response:
    return page.render("public/applied.html", title=page._("Your application is sent"))
