"""Sessions in the gateway (DOMAIN.md sections 5 and 7), without any
service: the session cookie's attributes, the token from the header or the
cookie, a session asked of accounts on every request, the session token
minted from complete_sign_in's answer, the Origin check of the plain pages,
and the pages and mutations through the gateway's own WSGI application with
every RPC answered by a fake. The whole flow on the real stack is
tests/integration/test_sign_in.py."""
import os
import re
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from pathlib import Path
from unittest.mock import patch

import jwt
import pytest
from werkzeug.test import Client

from services.common import config
from services.common.errors import BadUserInput, Unauthenticated, Unavailable
from services.gateway import auth, signin
from services.gateway.auth import (COOKIE, SESSION_ENDED, Sessions, Viewer, cleared_cookie,
                                   issue_token, request_token, session_cookie, session_token,
                                   viewer_from_token)
from services.gateway.background import Background
from tests.helpers.gateway import serve_with

SECRET = "s" * 40

with patch.dict(os.environ, {"COALITION_JWT_SECRET": SECRET}):
    from services.gateway import app  # the module makes its application at import

# a whole hour of today, so the tokens made with it are live when the tests run
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
LATER = NOW + timedelta(hours=12)
ADMIN_SESSION = {"sid": "sid-admin", "expires_at": LATER.isoformat(), "person_id": "p1",
                 "role": "ADMIN", "member_id": None}
MEMBER_SESSION = {"sid": "sid-member", "expires_at": LATER, "person_id": "focal-point:m1",
                  "role": "MEMBER", "member_id": "m1"}
CLIENT = "198.51.100.7"  # the test client's address (REMOTE_ADDR)
BAD_CODE = "This sign-in code is wrong, used or expired. Ask for a new one."


# ---- the cookie ------------------------------------------------------------------------

def attributes(header):
    """(name, value, {attribute (lower case): value}) of a Set-Cookie value."""
    first, *rest = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    return name, value, {a.partition("=")[0].lower(): a.partition("=")[2] for a in rest}


@pytest.mark.parametrize("env, secure", [("development", False), ("test", True),
                                         ("production", True)])
def test_the_cookie_is_http_only_lax_and_secure_outside_development(env, secure):
    settings = {"COALITION_ENV": env}
    expires = datetime.now(timezone.utc) + timedelta(hours=2)
    name, value, attrs = attributes(session_cookie(settings, "a.b.c", expires))
    assert (name, value) == (COOKIE, "a.b.c")
    assert attrs["path"] == "/" and "httponly" in attrs and attrs["samesite"] == "Lax"
    assert 7190 <= int(attrs["max-age"]) <= 7200
    assert ("secure" in attrs) is secure
    assert "expires" not in attrs and "domain" not in attrs


def test_the_cookie_is_cleared_with_max_age_zero():
    name, value, attrs = attributes(cleared_cookie({"COALITION_ENV": "production"}))
    assert (name, value, attrs["max-age"]) == (COOKIE, "", "0")
    assert "httponly" in attrs and "secure" in attrs and attrs["path"] == "/"


def test_a_cookie_of_a_session_that_has_passed_lives_no_second():
    _, _, attrs = attributes(session_cookie({"COALITION_ENV": "development"}, "t",
                                            datetime.now(timezone.utc) - timedelta(minutes=1)))
    assert attrs["max-age"] == "0"


# ---- the token: header or cookie --------------------------------------------------------

def test_the_header_wins_over_the_cookie():
    assert request_token("Bearer from-header", "from-cookie") == ("from-header", False)
    assert request_token(None, "from-cookie") == ("from-cookie", True)
    assert request_token(None, None) == (None, False)
    assert request_token(None, "") == (None, False)  # a cleared cookie: anonymous


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer   ", "Basic abc", "token"])
def test_a_header_present_but_not_bearer_is_unauthenticated_even_with_a_cookie(header):
    with pytest.raises(Unauthenticated):
        request_token(header, "a-good-cookie")


def test_a_session_token_carries_sid_and_person_the_cli_token_does_not():
    token, expires_at = session_token(SECRET, MEMBER_SESSION, now=datetime.now(timezone.utc))
    viewer = viewer_from_token(token, SECRET)
    assert (viewer.role, viewer.member_id, viewer.sub, viewer.sid, viewer.person_id) == \
        ("MEMBER", "m1", "focal-point:m1", "sid-member", "focal-point:m1")
    assert viewer.expires_at == expires_at == LATER
    cli = viewer_from_token(issue_token(SECRET, "ADMIN", "ops"), SECRET)
    assert (cli.sid, cli.person_id, cli.sub) == (None, None, "ops")
    assert viewer_from_token(None, SECRET) == Viewer()


@pytest.mark.parametrize("expires_at", [LATER, LATER.isoformat(), LATER.replace(tzinfo=None),
                                        LATER.strftime("%Y-%m-%dT%H:%M:%SZ")])
def test_expires_at_may_come_as_iso_text_or_datetime(expires_at):
    token, when = session_token(SECRET, {**ADMIN_SESSION, "expires_at": expires_at}, now=NOW)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert when == LATER and claims["exp"] == int(LATER.timestamp())
    assert claims["sub"] == "p1" and claims["sid"] == "sid-admin" and claims["role"] == "ADMIN"
    assert "member_id" not in claims and claims["iat"] == int(NOW.timestamp())


def test_a_session_token_with_a_bad_sid_claim_is_not_valid():
    now = datetime.now(timezone.utc)
    token = jwt.encode({"sub": "p1", "role": "ADMIN", "sid": 7, "exp": now + timedelta(hours=1)},
                       SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        viewer_from_token(token, SECRET)


# ---- a session is asked of accounts on every request --------------------------------------

def sessions(answer):
    asked = []

    def call(service, method, *args):
        asked.append((service, method, *args))
        return answer
    return Sessions(call), asked


def test_a_live_session_gives_its_person_and_asks_accounts_each_time():
    viewer = viewer_from_token(session_token(SECRET, {**ADMIN_SESSION, "expires_at": LATER},
                                             now=datetime.now(timezone.utc))[0], SECRET)
    checker, asked = sessions({**ADMIN_SESSION, "name": "Ana", "email": "ana@example.org"})
    for _ in range(2):
        live = checker.check(viewer)
    assert (live.name, live.email, live.sid) == ("Ana", "ana@example.org", "sid-admin")
    assert asked == [("accounts", "session", "sid-admin")] * 2


@pytest.mark.parametrize("answer", [None, {**ADMIN_SESSION, "person_id": "p2"},
                                    {**ADMIN_SESSION, "role": "MEMBER", "member_id": "m1"},
                                    {**ADMIN_SESSION, "sid": "another"}])
def test_an_ended_or_foreign_session_is_unauthenticated(answer):
    viewer = Viewer(role="ADMIN", sub="p1", sid="sid-admin", person_id="p1")
    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        sessions(answer)[0].check(viewer)


def test_a_token_without_sid_is_not_asked_about():
    checker, asked = sessions(None)
    viewer = Viewer(role="ADMIN", sub="ops")
    assert checker.check(viewer) is viewer and asked == []


# ---- the Origin of a form's POST ----------------------------------------------------------

@pytest.mark.parametrize("origin, allowed", [
    (None, True),
    ("https://coalition.example.org", True),
    ("HTTPS://Coalition.Example.org:443", True),
    ("http://127.0.0.1:8000", True),           # the request's own origin
    ("https://evil.example", False),
    ("https://coalition.example.org.evil.example", False),
    ("http://coalition.example.org", False),    # another scheme is another origin
    ("https://coalition.example.org:8443", False),
    ("null", False),
    ("", False),
])
def test_a_post_is_served_only_from_our_origin_or_without_one(origin, allowed):
    assert signin.same_origin(origin, "https://coalition.example.org/",
                              "http://127.0.0.1:8000/") is allowed


def test_origins_compare_without_default_ports_and_case():
    assert signin.origin_of("HTTP://Example.ORG:80/signin?x=1") == "http://example.org"
    assert signin.origin_of("http://[::1]:8000") == "http://[::1]:8000"
    assert signin.origin_of("ftp://example.org") is None
    assert signin.origin_of("http://example.org:99999") is None


# ---- requestSignIn: the limit, then the background ----------------------------------------

class FakeLimits:
    def __init__(self, allowed=True):
        self.allowed, self.taken = allowed, []

    def take(self, action, client, limit):
        self.taken.append((action, client, limit))
        return self.allowed


class Later:
    def __init__(self, limits):
        self.limits, self.client, self.later = limits, "203.0.113.9", []
        self.settings = {"SIGN_IN_PER_CLIENT_PER_HOUR": 20}

    def call_later(self, *call):
        self.later.append(call)


def test_a_sign_in_request_within_the_limit_goes_to_the_background(caplog):
    ctx = Later(FakeLimits())
    assert signin.request_sign_in(ctx, "Focal@Example.org") is True
    assert ctx.limits.taken == [("sign_in", "203.0.113.9", 20)]
    assert ctx.later == [("accounts", "request_sign_in", "Focal@Example.org", "203.0.113.9")]


def test_over_the_per_client_limit_nothing_is_sent_and_the_address_is_not_logged(caplog):
    ctx = Later(FakeLimits(allowed=False))
    with caplog.at_level("WARNING"):
        assert signin.request_sign_in(ctx, "focal@example.org") is True
    assert ctx.later == []
    assert "over the per-client limit" in caplog.text and "example.org" not in caplog.text


def test_no_address_at_all_is_counted_but_not_sent():
    ctx = Later(FakeLimits())
    signin.request_sign_in(ctx, "x" * 255)
    assert ctx.later == [] and len(ctx.limits.taken) == 1


def test_the_background_logs_a_failure_without_its_arguments(caplog):
    def call(service, method, *args, request=None):
        raise Unavailable(f"no answer for {args[0]}")
    background = Background(call, workers=1)
    with caplog.at_level("WARNING"):
        assert background.submit("accounts", "request_sign_in", "secret@example.org", "c")
        background._executor.shutdown(wait=True)
    assert "accounts.request_sign_in failed in the background (Unavailable)" in caplog.text
    assert "example.org" not in caplog.text and background.waiting == 0


def test_the_background_drops_calls_past_its_bound():
    background = Background(lambda *a, **k: None, most_waiting=0)
    assert background.submit("accounts", "request_sign_in", "a@example.org", "c") is False


def test_the_access_log_never_carries_a_query_string():
    text = (Path(app.__file__).parent / "gunicorn_conf.py").read_text()
    assert re.search(r"^accesslog = None$", text, re.M)
    log_format = re.search(r"^access_log_format = '(.*)'$", text, re.M).group(1)
    assert "%(U)s" in log_format
    assert not {"%(r)s", "%(q)s", "%(f)s", "%(a)s"} & set(re.findall(r"%\(\w+\)s", log_format))


# ---- the gateway's WSGI application with fake services -----------------------------------

class Services:
    """Answers every RPC of the gateway (what RpcPool.call would), and
    keeps what was asked, without the named call's name."""

    def __init__(self):
        self.asked = []
        self.sessions = {}  # sid -> accounts.session's answer
        self.submitted = []

    def __call__(self, service, method, *args, request=None, **kwargs):
        self.asked.append((service, method, *args))
        if (service, method) == ("accounts", "session"):
            return self.sessions.get(args[0])
        if (service, method) == ("accounts", "complete_sign_in"):
            if args[0] != "ABCD-EFGH-JKMN":
                raise BadUserInput(BAD_CODE, {"code": [BAD_CODE]})
            session = {**ADMIN_SESSION, "expires_at": datetime.now(timezone.utc)
                       + timedelta(hours=12)}
            self.sessions[session["sid"]] = {**session, "name": "Ana", "email": "ana@example.org"}
            return session
        if (service, method) == ("accounts", "sign_out"):
            return self.sessions.pop(args[0], None) is not None
        if (service, method) == ("accounts", "secretariat"):
            return [{"id": "p1", "email": "ana@example.org", "name": "Ana", "added_at": NOW}]
        if (service, method) == ("members", "get_many"):
            return [{"id": "m1", "name": "Org", "status": "ACTIVE", "can_vote": True,
                     "focal_point": {"name": "Fo Cal", "email": "focal@example.org"}}]
        if (service, method) == ("notifications", "preferences"):
            return {"language": "EN", "consultation_opened": True, "reminders": True,
                    "outcomes": args[0] == "secretariat"}
        if method in ("invite_secretariat", "remove_secretariat"):
            return True
        raise AssertionError(f"unexpected call {service}.{method}")


@pytest.fixture
def services(monkeypatch):
    return serve_with(monkeypatch, Services())


@pytest.fixture
def client(services):
    gateway = app.Gateway(config.load({"COALITION_JWT_SECRET": SECRET,
                                       "PUBLIC_URL": "https://coalition.example.org",
                                       "COALITION_ENV": "production"}))
    client = Client(gateway)
    for method in ("get", "post"):  # every request from CLIENT
        setattr(client, method, lambda *a, _send=getattr(client, method), **k:
                _send(*a, **{"environ_base": {"REMOTE_ADDR": CLIENT}, **k}))
    return client


def gql(client, query, token=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/graphql", json={"query": query}, headers=headers)


def cookie_of(response):
    header = response.headers.get("Set-Cookie")
    return None if header is None else attributes(header)


def signed_in(services, session):
    """A session token whose session accounts knows."""
    services.sessions[session["sid"]] = {**session, "name": "Ana", "email": "ana@example.org"}
    return session_token(SECRET, {**session, "expires_at": datetime.now(timezone.utc)
                                  + timedelta(hours=1)})[0]


def set_cookies(response):
    """name -> (value, attributes) of every Set-Cookie of a response."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        name, value, attrs = attributes(header)
        found[name] = (value, attrs)
    return found


def token_of(client, path="/signin"):
    """The CSRF token of the page at `path` (the client keeps the CSRF cookie)."""
    text = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def test_the_sign_in_page_has_two_forms_and_a_policy_that_lets_them_post(client, services):
    response = client.get("/signin")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'action="/signin/request"' in text and 'action="/signin"' in text
    assert ">E-mail address</label>" in text and "Send sign-in code</button>" in text
    assert "<script>" not in text  # only the app's own script file, never inline
    policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csrf_cookie = set_cookies(response)["coalition_csrf"][1]
    assert "httponly" in csrf_cookie and "secure" in csrf_cookie
    assert services.asked == []


def test_the_link_only_asks_to_confirm(client, services):
    response = client.get("/signin?code=ABCD-EFGH-JKMN")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "Sign in</button>" in text
    assert '<input type="hidden" name="code" value="ABCD-EFGH-JKMN">' in text
    assert services.asked == [] and COOKIE not in set_cookies(response)
    escaped = client.get('/signin?code="><script>').get_data(as_text=True)
    assert "<script>" not in escaped


def test_the_confirming_post_signs_in_with_a_cookie(client, services):
    token = token_of(client, "/signin?code=ABCD-EFGH-JKMN")
    response = client.post("/signin", data={"code": "ABCD-EFGH-JKMN", "csrf_token": token},
                           headers={"Origin": "https://coalition.example.org"})
    assert response.status_code == 303 and response.headers["Location"] == "/?done=signed-in"
    session, attrs = set_cookies(response)[COOKIE]
    assert "secure" in attrs and "httponly" in attrs
    assert viewer_from_token(session, SECRET).sid == "sid-admin"
    assert ("accounts", "complete_sign_in", "ABCD-EFGH-JKMN", CLIENT) in services.asked
    # the person's language is the page's from now on
    assert set_cookies(response)["coalition_lang"][0] == "en"


def test_a_bad_code_shows_the_page_again(client, services):
    response = client.post("/signin", data={"code": "WRONG", "csrf_token": token_of(client)})
    assert response.status_code == 400 and BAD_CODE in response.get_data(as_text=True)
    assert COOKIE not in set_cookies(response)


@pytest.mark.parametrize("path, data", [("/signin", {"code": "ABCD-EFGH-JKMN"}),
                                        ("/signin/request", {"email": "a@example.org"}),
                                        ("/signout", {})])
def test_a_post_from_another_site_or_without_the_token_is_refused(client, services, path, data):
    token = token_of(client)
    response = client.post(path, data={**data, "csrf_token": token},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    for sent in ({}, {"csrf_token": "0" * 64}):
        assert client.post(path, data={**data, **sent}).status_code == 403
    assert services.asked == [] and services.submitted == []


def test_a_token_is_bound_to_its_browser_and_session(client, services):
    token = token_of(client)
    client.set_cookie("coalition_csrf", "another-browser")
    response = client.post("/signin/request", data={"email": "a@example.org", "csrf_token": token})
    assert response.status_code == 403 and services.submitted == []


def test_the_request_form_answers_the_same_and_works_in_the_background(client, services):
    response = client.post("/signin/request",
                           data={"email": " focal@example.org ", "csrf_token": token_of(client)},
                           headers={"Origin": "http://localhost"})  # the request's own origin
    assert response.status_code == 200
    assert "If this address is known, a code is on its way" in response.get_data(as_text=True)
    assert services.submitted == [("accounts", "request_sign_in", "focal@example.org",
                                   CLIENT)]


def test_signing_out_revokes_clears_and_goes_back(client, services):
    client.set_cookie(COOKIE, signed_in(services, ADMIN_SESSION))
    token = token_of(client, "/")
    response = client.post("/signout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/?done=signed-out"
    assert set_cookies(response)[COOKIE][1]["max-age"] == "0"
    assert ("accounts", "sign_out", "sid-admin", CLIENT) in services.asked


def test_graphql_reads_the_cookie_and_clears_one_that_ended(client, services):
    token = signed_in(services, ADMIN_SESSION)
    client.set_cookie(COOKIE, token)
    ok = gql(client, "{ viewer { role person { name email role member { id } } } }")
    assert ok.json["data"]["viewer"] == {"role": "ADMIN", "person": {
        "name": "Ana", "email": "ana@example.org", "role": "ADMIN", "member": None}}
    assert cookie_of(ok) is None
    del services.sessions["sid-admin"]  # signed out elsewhere, or revoked
    ended = gql(client, "{ viewer { role } }")
    assert ended.status_code == 401
    assert ended.json["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert ended.json["errors"][0]["message"] == SESSION_ENDED
    assert cookie_of(ended)[:2] == (COOKIE, "")


def test_the_header_wins_and_a_bad_header_does_not_clear_the_cookie(client, services):
    client.set_cookie(COOKIE, signed_in(services, ADMIN_SESSION))
    cli = gql(client, "{ viewer { role person { email } } }",
              token=issue_token(SECRET, "MEMBER", "integration", "m1"))
    assert cli.json["data"]["viewer"] == {"role": "MEMBER", "person": None}
    refused = gql(client, "{ viewer { role } }", Authorization="")
    assert refused.status_code == 401 and cookie_of(refused) is None


def test_complete_sign_in_answers_a_session_and_sets_the_cookie(client, services):
    response = gql(client, 'mutation { completeSignIn(code: "ABCD-EFGH-JKMN") { token expiresAt '
                           'viewer { role person { name email } } } }')
    session = response.json["data"]["completeSignIn"]
    assert session["viewer"] == {"role": "ADMIN",
                                 "person": {"name": "Ana", "email": "ana@example.org"}}
    assert cookie_of(response)[1] == session["token"]
    assert viewer_from_token(session["token"], SECRET).expires_at == \
        datetime.fromisoformat(session["expiresAt"])
    bad = gql(client, 'mutation { completeSignIn(code: "nope") { token } }')
    assert bad.json["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT",
                                                   "fields": {"code": [BAD_CODE]}}
    assert cookie_of(bad) is None


def test_request_sign_in_is_true_for_anyone(client, services):
    response = gql(client, 'mutation { requestSignIn(email: "who@example.org") }')
    assert response.json == {"data": {"requestSignIn": True}}
    assert services.submitted == [("accounts", "request_sign_in", "who@example.org",
                                   CLIENT)]


def test_sign_out_needs_a_session_not_a_cli_token(client, services):
    cli = gql(client, "mutation { signOut }", token=issue_token(SECRET, "ADMIN", "ops"))
    assert cli.json["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "not a session" in cli.json["errors"][0]["message"]
    anonymous = gql(client, "mutation { signOut }")
    assert anonymous.json["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    token = signed_in(services, ADMIN_SESSION)
    out = gql(client, "mutation { signOut }", token=token)
    assert out.json == {"data": {"signOut": True}} and cookie_of(out)[2]["max-age"] == "0"
    again = gql(client, "{ viewer { role } }", token=token)
    assert again.status_code == 401


def test_a_focal_point_is_its_members_person(client, services):
    token = signed_in(services, MEMBER_SESSION)
    response = gql(client, "{ viewer { role person { name email role member { id } "
                           "preferences { language outcomes } } } }", token=token)
    assert response.json["data"]["viewer"] == {"role": "MEMBER", "person": {
        "name": "Fo Cal", "email": "focal@example.org", "role": "MEMBER", "member": {"id": "m1"},
        "preferences": {"language": "EN", "outcomes": False}}}
    assert ("notifications", "preferences", "m1") in services.asked


def test_the_secretariat_is_listed_to_admin_only(client, services):
    admin = gql(client, "{ secretariat { name email role member { id } preferences { outcomes } } }",
                token=issue_token(SECRET, "ADMIN", "ops"))
    assert admin.json["data"]["secretariat"] == [{"name": "Ana", "email": "ana@example.org",
                                                  "role": "ADMIN", "member": None,
                                                  "preferences": {"outcomes": True}}]
    member = gql(client, "{ secretariat { email } }",
                 token=issue_token(SECRET, "MEMBER", "m", "m1"))
    assert member.json["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_invite_and_remove_pass_who_and_from_where(client, services):
    token = signed_in(services, ADMIN_SESSION)
    gql(client, 'mutation { inviteSecretariat(email: "b@example.org", name: "Bo") }', token=token)
    gql(client, 'mutation { removeSecretariat(email: "b@example.org") }', token=token)
    assert ("accounts", "invite_secretariat", "b@example.org", "Bo", "p1", CLIENT) \
        in services.asked
    assert ("accounts", "remove_secretariat", "b@example.org", "p1", CLIENT) in services.asked
    member = gql(client, 'mutation { removeSecretariat(email: "b@example.org") }',
                 token=issue_token(SECRET, "MEMBER", "m", "m1"))
    assert member.json["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_cookie_that_no_longer_signs_in_is_cleared_by_a_page(client, services):
    client.set_cookie(COOKIE, "not-a-token")
    response = client.get("/signin")
    assert response.status_code == 200 and "Sign out</button>" not in response.get_data(as_text=True)
    assert set_cookies(response)[COOKIE][1]["max-age"] == "0"


def test_simple_cookie_parses_what_we_set():
    """A browser's cookie parser reads our header as one cookie with its attributes."""
    parsed = SimpleCookie()
    parsed.load(session_cookie({"COALITION_ENV": "production"}, "a.b.c",
                               datetime.now(timezone.utc) + timedelta(minutes=5)))
    morsel = parsed[COOKIE]
    assert morsel.value == "a.b.c" and morsel["httponly"] and morsel["secure"]
    assert morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert auth.COOKIE == "coalition_session"
