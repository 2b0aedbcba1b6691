"""The web app as the gateway serves it (see services/web/__init__.py).

`WebApp(gateway)` answers every route of views/ (registered with
views.route) and /static/. For each request it finds the viewer of the
session cookie (as the API does: the session asked of accounts, the member's
status checked), the page's language, and the browser's CSRF cookie; a POST
passes the Origin and CSRF checks before its view runs, or is refused with
403 and changes nothing.

Every page is answered with:
- PAGE_POLICY: no script but ours, no style but ours, no other host, forms
  only to this origin, never in a frame;
- `Cache-Control: no-store` (pages hold a person's data and form tokens);
- gzip when the browser takes it (pages and assets are text).

Language: the visitor's cookie LANGUAGE_COOKIE, else the browser's
Accept-Language, else English. A signed-in person's preference is written
to that cookie when they sign in and when they switch (views/signin.py), so
a page needs no call to know its language.
"""
import gzip
import hashlib
import importlib
import logging
import pkgutil
from pathlib import Path
from typing import Any, Final

from werkzeug.exceptions import NotFound
from werkzeug.http import dump_cookie
from werkzeug.routing import Rule
from werkzeug.utils import safe_join
from werkzeug.wrappers import Request, Response

from services.common.errors import DomainError, Unavailable
from services.common.vocabulary import Language
from services.gateway import in_process
from services.gateway.auth import (COOKIE, Viewer, cleared_cookie, cookie_is_secure,
                                   request_token, viewer_from_token)
from services.gateway.signin import same_origin
from services.web import csrf, views
from services.web.i18n import WORDS
from services.web.page import Abort, Page

log = logging.getLogger("coalition.web")

STATIC: Final = Path(__file__).resolve().parent / "static"
LANGUAGE_COOKIE: Final = "coalition_lang"
FORM_BYTES: Final = 256 * 1024   # a proposal of 20,000 characters and its form, with room
COMPRESS_FROM: Final = 1024      # smaller answers are sent as they are
PAGE_POLICY: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                      "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
TYPES: Final = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
COMPRESSIBLE: Final = ("text/html", "text/css", "text/javascript", "image/svg+xml", "text/csv",
                       "application/xml", "application/json")



def load_views() -> None:
    """Import every module of views/ (each registers its routes); once."""
    if not views.ROUTES:
        for module in pkgutil.iter_modules(views.__path__):
            importlib.import_module(f"{views.__name__}.{module.name}")


def rules() -> list[Rule]:
    """The gateway's routes to the web app (endpoint "web", the view's name as `view`)."""
    load_views()
    return [Rule("/static/<path:name>", endpoint="web_static", methods=["GET"]),
            *(Rule(r.path, endpoint="web", methods=list(r.methods), defaults={"view": r.name})
              for r in views.ROUTES)]


def sent_origin(request: Request) -> str | None:
    """The Origin a POST came from. Our pages' Referrer-Policy is no-referrer
    (a sign-in link's code never leaves in a Referer), under which browsers
    send `Origin: null` even for a form of this very site: it counts as this
    site only when the browser also says `Sec-Fetch-Site: same-origin`, a
    header no page can set. Any other `null` is refused, like another site."""
    origin = request.headers.get("Origin")
    if origin == "null" and request.headers.get("Sec-Fetch-Site") == "same-origin":
        return None
    return origin


def compressed(request: Request, response: Response) -> Response:
    """The response gzipped when the browser takes it and it is worth it."""
    if "gzip" not in request.headers.get("Accept-Encoding", "") or response.direct_passthrough \
            or response.status_code in (204, 304) or response.headers.get("Content-Encoding") \
            or response.mimetype not in COMPRESSIBLE:
        return response
    body = response.get_data()
    if len(body) >= COMPRESS_FROM:
        response.set_data(gzip.compress(body, compresslevel=6))
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response


class WebApp:
    """The web app of one gateway process (see the module docstring)."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.secret: str = gateway.settings["COALITION_JWT_SECRET"]
        self.secure = cookie_is_secure(gateway.settings)
        load_views()
        self.views = {r.name: r.view for r in views.ROUTES}
        self.versions = {p.relative_to(STATIC).as_posix(): hashlib.sha256(p.read_bytes())
                         .hexdigest()[:10] for p in STATIC.rglob("*") if p.is_file()}

    def static_url(self, name: str) -> str:
        """The address of a static file, its version in it (so it can be cached long)."""
        return f"/static/{name}?v={self.versions.get(name, '0')}"

    # ---- a page ---------------------------------------------------------------------

    def __call__(self, request: Request, view: str | None, **args: Any) -> Response:
        """The page of `view` (None: the page that says there is no such page)."""
        try:
            viewer, clear = self.viewer_of(request)
        except Unavailable:
            return self.finish(request, self.unavailable(request), [])
        fresh = not request.cookies.get(csrf.CSRF_COOKIE)
        page = Page(self, request, viewer, self.language_of(request),
                    csrf.new_value() if fresh else request.cookies[csrf.CSRF_COOKIE])
        if fresh:
            page.cookies.append(dump_cookie(csrf.CSRF_COOKIE, page.csrf_value, path="/",
                                            httponly=True, samesite="Lax", secure=self.secure))
        if clear:
            page.cookies.append(cleared_cookie(self.settings))
        try:
            response = self.refusal(page) if request.method == "POST" else None
            if response is None:
                response = self.views[view](page, **args) if view else page.error_page(404)
        except Abort as abort:
            response = abort.response
        return self.finish(request, response, page.cookies)

    def refusal(self, page: Page) -> Response | None:
        """403 for a POST from another site or without this browser's token; None if it may run."""
        request = page.request
        request.max_content_length = FORM_BYTES
        request.max_form_memory_size = FORM_BYTES
        if not same_origin(sent_origin(request), self.settings["PUBLIC_URL"],
                           request.host_url) or not csrf.valid(
                self.secret, request.cookies.get(csrf.CSRF_COOKIE), page.viewer.sid,
                request.form.get(csrf.FIELD)):
            log.warning("form refused: no valid CSRF token or another Origin (%s)", request.path)
            return page.error_page(403, page._(
                "This form has expired or was sent from another site. Nothing was changed. "
                "Open the page again and send the form from there."))
        return None

    def finish(self, request: Request, response: Response, cookies: list[str]) -> Response:
        for cookie in cookies:
            response.headers.add("Set-Cookie", cookie)
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
        return compressed(request, response)

    def viewer_of(self, request: Request) -> tuple[Viewer, bool]:
        """(the viewer of the session cookie, whether the cookie must be
        cleared). A cookie that no longer signs in is ANONYMOUS and cleared;
        Unavailable when the session cannot be checked. The Authorization
        header is for API clients: pages read the cookie only."""
        token, _ = request_token(None, request.cookies.get(COOKIE))
        if token is None:
            return Viewer(), False
        try:
            return self.gateway.live_viewer(viewer_from_token(token, self.secret)), False
        except Unavailable:
            raise
        except DomainError:
            return Viewer(), True

    def language_of(self, request: Request) -> Language:
        chosen = request.cookies.get(LANGUAGE_COOKIE, "").upper()
        if chosen in Language.__members__:
            return Language(chosen)
        best = request.accept_languages.best_match([lang.lower() for lang in Language])
        return Language(best.upper()) if best else Language.EN

    def language_cookie(self, language: Language) -> str:
        return dump_cookie(LANGUAGE_COOKIE, language.lower(), max_age=365 * 24 * 3600, path="/",
                           httponly=True, samesite="Lax", secure=self.secure)

    # ---- the API, in process ---------------------------------------------------------

    def run(self, page: Page, document: str, variables: dict, key: str | None = None) -> dict:
        """{"data", "errors"} of a document run as the page's viewer (a
        mutation under its form's `key`); a cookie a mutation set (signing
        in or out) goes with the page's answer."""
        client = self.gateway.client_address(page.request.environ)
        out, context = in_process.run_as(self.gateway, page.viewer, client, document,
                                          variables or None, key)
        if context.cookie:
            page.cookies.append(context.cookie)
        return out

    # ---- answers of the app itself -------------------------------------------------------

    def error_page(self, page: Page, status: int, message: str | None = None) -> Response:
        return page.render("error.html", status=status, title=self.error_title(page, status),
                           error_status=status, message=message)

    @staticmethod
    def error_title(page: Page, status: int) -> str:
        return {403: page._("Not allowed"), 404: page._("Page not found"),
                503: page._("The service did not answer")}.get(
                    status, page._("Something went wrong"))

    def unavailable(self, request: Request) -> Response:
        """503 when the session cannot be checked (no page can be made for whom)."""
        words = WORDS[self.language_of(request)]
        text = words.env.get_template("unavailable.html").render(
            title=words.gettext("The service did not answer"))
        return Response(text, status=503, content_type="text/html; charset=utf-8",
                        headers={"Retry-After": "5"})

    def static(self, request: Request, name: str) -> Response:
        path = safe_join(str(STATIC), name)
        if path is None or not Path(path).is_file():
            raise NotFound()
        response = Response(Path(path).read_bytes(),
                            content_type=TYPES.get(Path(path).suffix, "application/octet-stream"),
                            headers={"Cache-Control": "public, max-age=31536000, immutable"})
        return compressed(request, response)

    def cleared_session_cookie(self) -> str:
        return cleared_cookie(self.settings)
