"""One request to the web app, as a view sees it (services/web/views/).

A view asks the API for its data (`query`), changes things through it
(`mutate`), and answers with a page (`render`) or a redirect (`redirect`).
Both run GraphQL documents in process against the gateway's own schema, as
the viewer of the session cookie, through the same limits and access rules
as POST /graphql (services/gateway/in_process.py `run_as`): a page can show and do
only what the API allows its viewer.

Invariants:
- an error of a query ends the page (`Abort`): UNAUTHENTICATED sends the
  browser to /signin and back, BAD_USER_INPUT (a stray cursor in the
  address) is 400, FORBIDDEN 403, NOT_FOUND 404, a service that did not
  answer 503, anything else 500; no page shows half its data, except a
  block a page runs apart with `query_part` (the dashboard's grants and
  overdue reports), which then says it could not be loaded;
- an error of a mutation is the view's to show (`Result.errors`, by field),
  except UNAUTHENTICATED, which ends the page like a query's;
- every form carries a new `form_key`, and its mutation runs under it as
  under an Idempotency-Key: a form sent twice does its work once;
- after a change the browser is sent on with 303 (post, redirect, get), and
  the next page reads what the change wrote (DOMAIN.md section 5).
"""
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from services.common.vocabulary import Language, Role
from services.gateway.auth import Viewer
from services.web import csrf
from services.web.i18n import WORDS

if TYPE_CHECKING:
    from services.web.app import WebApp


def N_(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return message


# the confirmations a redirect may ask the next page to show (?done=<key>)
DONE: Final[dict[str, str]] = {
    "signed-in": N_("You are signed in."),
    "signed-out": N_("You are signed out."),
    "stance": N_("Your stance is recorded."),
    "applied": N_("Your application is sent."),
    "preferences": N_("Your preferences are saved."),
    "read": N_("Notifications marked as read."),
    "mou": N_("The MoU is signed."),
    "withdrawn": N_("The membership is withdrawn."),
    "saved": N_("Saved."),
    "stance-proxy": N_("The stance is recorded for the member whose proxy you hold."),
    "proxy-offered": N_("Your proxy is offered. The member is told and may accept or decline it."),
    "proxy-accepted": N_("You accepted the proxy: give that member's stance on the "
                         "consultation's page."),
    "proxy-declined": N_("You declined the proxy."),
    "proxy-revoked": N_("Your proxy is revoked."),
    "report-submitted": N_("Your report is sent. The secretariat will review it."),
    "report-accepted": N_("The report is accepted."),
    "report-changes": N_("Changes are requested. The member is told, with your note."),
    "report-scheduled": N_("The report is scheduled. The member is reminded before it is due."),
    "grant-closed": N_("The grant is closed. Its reports can still be received and reviewed."),
    "visibility": N_("Who may see the membership is saved."),
}

FORM_KEY: Final = "form_key"  # the hidden field of every POST form (macros.html csrf())

PAGE_STATUS: Final = {"BAD_USER_INPUT": 400, "UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404,
                      "SERVICE_UNAVAILABLE": 503}


def local_path(path: str | None, default: str = "/") -> str:
    """`path` if it is a path of this site ("/..."), else `default` (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path


class Abort(Exception):
    """Ends a page with `response` (raised by Page, answered by WebApp)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class Result:
    """What a mutation answered: `data`, or its errors by form field name
    ("" for those that name no field), its first message and code."""
    data: dict | None
    errors: dict[str, list[str]] = field(default_factory=dict)
    message: str | None = None
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is None


def field_errors(errors: list[dict]) -> dict[str, list[str]]:
    """The API's errors by field: BAD_USER_INPUT's `extensions.fields`
    (keys as the API names them, "input." left off), the others under ""."""
    found: dict[str, list[str]] = {}
    for error in errors:
        named = error.get("extensions", {}).get("fields") or {}
        if not named:
            found.setdefault("", []).append(error["message"])
        for name, messages in named.items():
            key = name[len("input."):] if name.startswith("input.") else name
            found.setdefault(key, []).extend(messages if isinstance(messages, list)
                                             else [str(messages)])
    return found


class Page:
    """One request as a view sees it (see the module docstring)."""

    def __init__(self, app: "WebApp", request: Request, viewer: Viewer, language: Language,
                 csrf_value: str) -> None:
        self.app = app
        self.request = request
        self.viewer = viewer
        self.language = language
        self.words = WORDS[language]
        self.csrf_value = csrf_value
        self.cookies: list[str] = []  # Set-Cookie values for the answer

    # ---- who and where --------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self.viewer.role != Role.ANONYMOUS

    @property
    def is_admin(self) -> bool:
        return self.viewer.role == Role.ADMIN

    @property
    def is_member(self) -> bool:
        return self.viewer.role == Role.MEMBER

    @property
    def form(self) -> Any:
        return self.request.form

    @property
    def path(self) -> str:
        """The path asked for, with its query string."""
        query = self.request.query_string.decode("latin-1")
        return self.request.path + (f"?{query}" if query else "")

    @property
    def form_key(self) -> str:
        """A new key for a form: its mutation runs once under it (in_process.py)."""
        return uuid.uuid4().hex

    @property
    def csrf_token(self) -> str:
        return csrf.token(self.app.secret, self.csrf_value, self.viewer.sid)

    def _(self, message: str, **values: Any) -> str:
        return self.words.gettext(message, **values)

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self.words.ngettext(singular, plural, n, **values)

    # ---- the API ----------------------------------------------------------------------

    def query(self, document: str, **variables: Any) -> dict:
        """The data of a query; any error ends the page (see the module docstring)."""
        out = self.app.run(self, document, variables)
        if out.get("errors"):
            self.abort_for(out["errors"][0])
        return out["data"]

    def query_part(self, document: str, **variables: Any) -> dict | None:
        """The data of a query for one block of a page, None when a service
        it needs did not answer (the page shows the rest and says so); any
        other error ends the page, as `query`."""
        out = self.app.run(self, document, variables)
        errors = out.get("errors") or []
        if any(e.get("extensions", {}).get("code") == "SERVICE_UNAVAILABLE" for e in errors):
            return None
        if errors:
            self.abort_for(errors[0])
        return out["data"]

    def mutate(self, document: str, **variables: Any) -> Result:
        """What a mutation answered; UNAUTHENTICATED ends the page."""
        out = self.app.run(self, document, variables, self.form.get(FORM_KEY) or None)
        errors = out.get("errors") or []
        if not errors:
            return Result(out["data"])
        code = errors[0].get("extensions", {}).get("code")
        if code == "UNAUTHENTICATED":
            self.abort_for(errors[0])
        return Result(out.get("data"), field_errors(errors), errors[0]["message"], code)

    # ---- answers ------------------------------------------------------------------

    def render(self, template: str, status: int = 200, title: str = "", **values: Any) -> Response:
        done = DONE.get(self.request.args.get("done", ""))
        text = self.words.env.get_template(template).render(
            page=self, viewer=self.viewer, signed_in=self.signed_in, is_admin=self.is_admin,
            is_member=self.is_member, csrf_token=self.csrf_token, path=self.path,
            done_message=self._(done) if done else None, title=title,
            static=self.app.static_url, form_key=self.form_key, **values)
        return Response(text, status=status, content_type="text/html; charset=utf-8")

    def redirect(self, path: str, done: str | None = None) -> Response:
        """303 to a path of ours (see DONE for `done`)."""
        if done:
            path += ("&" if "?" in path else "?") + f"done={quote(done)}"
        return Response("", status=303, headers={"Location": path})

    def error_page(self, status: int, message: str | None = None) -> Response:
        return self.app.error_page(self, status, message)

    def abort_for(self, error: dict) -> None:
        """End the page for an API error (see the module docstring)."""
        code = error.get("extensions", {}).get("code", "")
        if code == "UNAUTHENTICATED":
            raise Abort(self.redirect(f"/signin?next={quote(self.path, safe='')}"))
        raise Abort(self.error_page(PAGE_STATUS.get(code, 500), error.get("message")))

    def not_found(self) -> None:
        raise Abort(self.error_page(404))

    def require_signed_in(self) -> None:
        if not self.signed_in:
            raise Abort(self.redirect(f"/signin?next={quote(self.path, safe='')}"))

    def require_admin(self) -> None:
        self.require_signed_in()
        if not self.is_admin:
            raise Abort(self.error_page(403))

    def set_language(self, language: Language | str) -> None:
        """Pages in `language` from the next one on (the visitor's cookie)."""
        self.language = Language(str(language).upper())
        self.words = WORDS[self.language]
        self.cookies.append(self.app.language_cookie(self.language))
