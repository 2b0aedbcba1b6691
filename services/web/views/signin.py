"""Signing in and out, and the language switch (DOMAIN.md section 7).

    GET  /signin              the form to ask for a code and the one to type it
    GET  /signin?code=X       "Sign in to the coalition?": the code in a hidden
                              field and one button; the GET uses nothing, so mail
                              scanners that open the link do not use the code up
    POST /signin/request      requestSignIn, then "If this address is known..."
    POST /signin              completeSignIn: the session cookie, the person's
                              language, 303 to `next` (a path of ours) or /
    GET  /signin/done         303 to / (the address of the earlier plain pages)
    POST /signout             signOut: the cookie cleared, 303 to /
    GET  /language/<en|ru>    the page language: the visitor's cookie, and a
                              signed-in person's preference (below); 303 to `next`

The switch is a link, so that it works without script. It writes a signed-in
person's preference only when the browser says the click came from this
site (`Sec-Fetch-Site: same-origin`): a link on another site can change no
one's preferences (a GET that changes state is otherwise a CSRF hole).
"""
from typing import Final

from werkzeug.wrappers import Response

from services.common.vocabulary import Language
from services.web.page import Page, local_path
from services.web.views import route

REQUEST: Final = "mutation($email: String!) { requestSignIn(email: $email) }"
COMPLETE: Final = """mutation($code: String!) { completeSignIn(code: $code) {
  expiresAt viewer { role person { preferences { language } } } } }"""
SIGN_OUT: Final = "mutation { signOut }"
SET_LANGUAGE: Final = """mutation($language: Language!) {
  setPreferences(input: {language: $language}) { language } }"""


def minutes(page: Page) -> str:
    return f"{page.app.settings['SIGN_IN_CODE_MINUTES']:g}"


def sign_in_page(page: Page, status: int = 200, errors: dict | None = None, email: str = "",
                 code: str = "") -> Response:
    return page.render("signin/signin.html", status=status, title=page._("Sign in"),
                       errors=errors or {}, email=email, code=code, minutes=minutes(page),
                       next=local_path(page.request.values.get("next"), ""))


@route("/signin", methods=("GET", "POST"))
def sign_in(page: Page) -> Response:
    if page.request.method == "POST":
        return complete(page)
    code = page.request.args.get("code", "").strip()
    if code:
        return page.render("signin/confirm.html", title=page._("Sign in"), code=code[:40],
                           next=local_path(page.request.args.get("next"), ""))
    return sign_in_page(page)


def complete(page: Page) -> Response:
    code = page.form.get("code", "").strip()
    result = page.mutate(COMPLETE, code=code)
    if not result.ok:
        return sign_in_page(page, 400 if result.code == "BAD_USER_INPUT" else 503,
                            {"code": [result.message or ""]}, code=code)
    person = (result.data or {})["completeSignIn"]["viewer"]["person"]
    if person:
        page.set_language(person["preferences"]["language"])
    return page.redirect(local_path(page.form.get("next")), done="signed-in")


@route("/signin/request", methods=("POST",))
def request_code(page: Page) -> Response:
    email = page.form.get("email", "").strip()
    if not email:
        return sign_in_page(page, 400, {"email": [page._("Type your e-mail address.")]})
    result = page.mutate(REQUEST, email=email)
    if not result.ok:
        return sign_in_page(page, 503, {"": [result.message or ""]}, email=email)
    return page.render("signin/requested.html", title=page._("Check your e-mail"), errors={},
                       code="", minutes=minutes(page),
                       next=local_path(page.form.get("next"), ""))


@route("/signin/done")
def done(page: Page) -> Response:
    return page.redirect("/")


@route("/signout", methods=("POST",))
def sign_out(page: Page) -> Response:
    """Ends the session (signOut) and clears the cookie; a token without a
    session (minted by the CLI) has nothing to revoke: only the cookie goes."""
    if page.viewer.sid:
        result = page.mutate(SIGN_OUT)
        if not result.ok:
            return page.error_page(503, page._(
                "The service did not answer, so you are still signed in. Try again in a moment."))
    else:
        page.cookies.append(page.app.cleared_session_cookie())
    return page.redirect("/", done="signed-out")


@route("/language/<code>")
def language(page: Page, code: str) -> Response:
    chosen = code.upper()
    if chosen not in Language.__members__:
        page.not_found()
    page.set_language(chosen)
    if page.signed_in and page.request.headers.get("Sec-Fetch-Site") == "same-origin":
        page.mutate(SET_LANGUAGE, language=chosen)  # a refusal leaves the cookie's choice
    return page.redirect(local_path(page.request.args.get("next")))
