"""Signing in end to end (DOMAIN.md section 7): requestSignIn, the mail the
harness's real SMTP server receives, completeSignIn, the session as a Bearer
token and as a cookie, signOut and every other revocation, the limits, and
the plain pages of /signin, through the real stack over HTTP. Every test
signs in with addresses of its own (the per-address limit is per hour), and
the last test reads every log file for the addresses and codes used."""
import re
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from services.common.errors import Conflict
from tests.helpers.sign_in import (
    COOKIE, INVITE, REMOVE, SECRETARIAT, SEEN, SIGN_OUT, VIEWER, WITHDRAW, accounts_session,
    add_secretariat, claims, clears_cookie, complete, focal_point, mails_to,
    new_address, ok, parse_time, post, random_code, refused, request_code, session_cookie,
    sign_in, wait_code, wrong_secret)
from tests.helpers.web import csrf_of, get, post_form, web_session
from tests.support import PUBLIC_URL, another_gateway, wait_for

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
WRONG = "This sign-in code is wrong, used or expired. Ask for a new one."


def assert_bad_code(r, messages=None):
    """The one refusal of a code that does not sign in: BAD_USER_INPUT on
    field `code`; its message is added to `messages` (they must all match)."""
    code, message, fields = refused(r)
    assert code == "BAD_USER_INPUT", r.text
    assert fields == {"code": [message]}, fields
    if messages is not None:
        messages.add(message)
    return message


def the_cookie(r):
    """(value, attributes) of the session cookie the answer must set."""
    found = session_cookie(r)
    assert found and found[0], (r.status_code, r.headers.get("Set-Cookie"))
    return found


def audited(stack, action, person_id):
    """How many times the accounts service audited `action` for a person."""
    return stack.db("accounts").audit.count_documents({"action": action, "person_id": person_id})


def assert_unauthenticated(r):
    code, message, _ = refused(r)
    assert code == "UNAUTHENTICATED" and r.status_code == 401, (r.status_code, r.text)
    return message


# ---- a focal point ------------------------------------------------------------------------

def test_a_focal_point_signs_in_with_the_code_of_its_mail_as_its_member(stack, mail):
    member_id, address = focal_point(stack)
    request_code(stack.url, address)
    code = wait_code(stack, address)
    [message] = stack.mail.messages_to(address)
    assert message.subject == "Your sign-in code"
    assert f"{PUBLIC_URL}/signin?code={code}" in message.text
    assert "30 minutes" in message.text  # SIGN_IN_CODE_MINUTES
    assert "added to the secretariat" not in message.text
    before = datetime.now(timezone.utc)
    r = complete(stack.url, code)
    session = ok(r)["completeSignIn"]
    person = session["viewer"]["person"]
    assert session["viewer"]["role"] == "MEMBER" and session["viewer"]["member"] == {"id": member_id}
    assert person["email"] == address and person["role"] == "MEMBER"
    assert person["member"] == {"id": member_id} and person["name"] == "Focal Point"
    assert person["preferences"]["language"] == "EN"
    # the session: SESSION_HOURS (12) long, a JWT naming the person, its member and the session
    expires = parse_time(session["expiresAt"])
    assert timedelta(hours=11, minutes=55) < expires - before < timedelta(hours=12, minutes=5)
    token = claims(session["token"])
    assert token["role"] == "MEMBER" and token["member_id"] == member_id
    assert token["sub"] == f"focal-point:{member_id}" and token["sid"]
    assert abs(token["exp"] - expires.timestamp()) <= 1
    # as a Bearer token
    viewer = ok(post(stack.url, VIEWER, token=session["token"]))["viewer"]
    assert viewer["role"] == "MEMBER" and viewer["member"] == {"id": member_id}
    assert viewer["person"]["email"] == address and viewer["person"]["role"] == "MEMBER"
    assert viewer["person"]["preferences"]["language"] == "EN"
    # the cookie of the same answer: HttpOnly, SameSite=Lax, Secure outside development
    value, attrs = the_cookie(r)
    assert attrs.get("path") == "/" and attrs.get("httponly") is True and "secure" in attrs
    assert str(attrs.get("samesite")).lower() == "lax"
    assert 12 * 3600 - 300 < int(attrs["max-age"]) <= 12 * 3600
    viewer = ok(post(stack.url, VIEWER, cookie=value))["viewer"]
    assert viewer["role"] == "MEMBER" and viewer["person"]["email"] == address
    assert audited(stack, "CODE_SENT", f"focal-point:{member_id}") == 1
    assert audited(stack, "SIGNED_IN", f"focal-point:{member_id}") == 1
    # a session of a member is not the secretariat's
    code, _, _ = refused(post(stack.url, INVITE, {"e": new_address(), "n": "No One"},
                              token=session["token"]))
    assert code == "FORBIDDEN"


def test_a_focal_point_of_a_russian_member_gets_its_code_in_russian(stack, mail):
    member_id, address = focal_point(stack, language="RU")
    session, _ = sign_in(stack, address)
    [message] = stack.mail.messages_to(address)
    assert CYRILLIC.search(message.subject + message.text), message.text
    assert session["viewer"]["person"]["preferences"]["language"] == "RU"


def test_a_code_typed_in_lower_case_with_spaces_is_the_same_code(stack, mail):
    _, address = focal_point(stack)
    request_code(stack.url, address)
    code = wait_code(stack, address)
    typed = " " + code.lower().replace("-", " ") + " "
    assert ok(complete(stack.url, typed))["completeSignIn"]["viewer"]["role"] == "MEMBER"


# ---- the secretariat ----------------------------------------------------------------------

def test_the_secretariat_signs_in_invites_lists_and_removes(stack, mail):
    tag = uuid.uuid4().hex[:6]
    first_address, invited_address = new_address("sec"), new_address("inv")
    SEEN["secretariat"].add(invited_address)  # invited below
    first = add_secretariat(stack, first_address, f"First {tag}")
    assert first["email"] == first_address and first["name"] == f"First {tag}" and first["id"]
    # the first person signs in as ADMIN
    session, _ = sign_in(stack, first_address)
    person = session["viewer"]["person"]
    assert session["viewer"]["role"] == "ADMIN" and session["viewer"]["member"] is None
    assert person["email"] == first_address and person["name"] == f"First {tag}"
    assert person["role"] == "ADMIN" and person["member"] is None
    assert person["preferences"]["language"] in ("EN", "RU")
    token = claims(session["token"])
    assert token["role"] == "ADMIN" and token["sub"] == first["id"] and token["sid"]
    admin = session["token"]
    # an address already in the secretariat is CONFLICT, by RPC and by invitation
    with pytest.raises(Conflict):
        add_secretariat(stack, first_address.upper(), "Again")
    assert refused(post(stack.url, INVITE, {"e": first_address.upper(), "n": "Again"},
                        token=admin))[0] == "CONFLICT"
    # the invitation is a sign-in mail that says who was added
    assert ok(post(stack.url, INVITE, {"e": invited_address, "n": f"Invited {tag}"},
                   token=admin)) == {"inviteSecretariat": True}
    code = wait_code(stack, invited_address)
    [invitation] = stack.mail.messages_to(invited_address)
    assert f"added to the secretariat of the coalition as Invited {tag}" in invitation.text
    assert re.search(re.escape(f"{PUBLIC_URL}/signin") + r"(?![?\w/])", invitation.text), (
        "the invitation says where to ask for a new code")
    invited = ok(complete(stack.url, code))["completeSignIn"]
    assert invited["viewer"]["role"] == "ADMIN"
    assert invited["viewer"]["person"]["name"] == f"Invited {tag}"
    assert ok(post(stack.url, VIEWER, token=invited["token"]))["viewer"]["role"] == "ADMIN"
    # both are listed, to ADMIN only
    people = ok(post(stack.url, SECRETARIAT, token=admin))["secretariat"]
    listed = {p["email"]: p for p in people}
    assert listed[first_address]["name"] == f"First {tag}"
    assert listed[invited_address] == {"name": f"Invited {tag}", "email": invited_address,
                                       "role": "ADMIN", "member": None}
    assert refused(post(stack.url, SECRETARIAT))[0] == "UNAUTHENTICATED"
    member_id, _ = focal_point(stack)
    assert refused(post(stack.url, SECRETARIAT, token=stack.member_token(member_id)))[0] == "FORBIDDEN"
    # removing the invited person ends their session at once, on every worker
    assert ok(post(stack.url, REMOVE, {"e": invited_address}, token=admin)) == {
        "removeSecretariat": True}
    for _ in range(6):
        message = assert_unauthenticated(post(stack.url, VIEWER, token=invited["token"]))
    assert "session has ended" in message.lower()
    assert invited_address not in {p["email"] for p in
                                   ok(post(stack.url, SECRETARIAT, token=admin))["secretariat"]}
    assert refused(post(stack.url, REMOVE, {"e": invited_address}, token=admin))[0] == "NOT_FOUND"
    # and a removed person's address asks for a code in vain
    request_code(stack.url, invited_address)
    assert len(mails_to(stack, invited_address)) == 1
    # the last person cannot be removed: remove every other one first (CLI token)
    for p in ok(post(stack.url, SECRETARIAT, token=stack.admin()))["secretariat"]:
        if p["email"] != first_address:
            ok(post(stack.url, REMOVE, {"e": p["email"]}, token=stack.admin()))
    code, message, _ = refused(post(stack.url, REMOVE, {"e": first_address}, token=admin))
    assert code == "CONFLICT" and "at least one person" in message
    assert [p["email"] for p in ok(post(stack.url, SECRETARIAT, token=admin))["secretariat"]] == [
        first_address]
    assert ok(post(stack.url, VIEWER, token=admin))["viewer"]["role"] == "ADMIN"


def test_an_address_of_the_secretariat_and_of_a_focal_point_signs_in_as_the_secretariat(stack, mail):
    member_id, address = focal_point(stack)
    person = add_secretariat(stack, address.upper(), "Both Hats")
    session, _ = sign_in(stack, address)
    assert session["viewer"]["role"] == "ADMIN" and session["viewer"]["member"] is None
    assert claims(session["token"])["sub"] == person["id"]


# ---- what sends nothing -------------------------------------------------------------------

def test_an_unknown_address_is_answered_true_and_mailed_nothing(stack, mail):
    address = new_address("unknown")
    request_code(stack.url, address)
    assert mails_to(stack, address, quiet=2.0) == []
    # nor is anything malformed an error that tells
    for odd in ("not an address", "x" * 400 + "@example.org", ""):
        assert ok(post(stack.url, "mutation($e: String!) { requestSignIn(email: $e) }",
                       {"e": odd})) == {"requestSignIn": True}


# ---- codes that do not sign in ------------------------------------------------------------

def test_codes_used_voided_or_wrong_are_one_refusal_on_the_field_code(stack, mail):
    messages = set()
    _, address = focal_point(stack)
    # used: a code signs in once
    request_code(stack.url, address)
    first = wait_code(stack, address, 1)
    ok(complete(stack.url, first))
    assert_bad_code(complete(stack.url, first), messages)
    # voided by a newer request
    request_code(stack.url, address)
    older = wait_code(stack, address, 2)
    request_code(stack.url, address)
    newer = wait_code(stack, address, 3)
    assert newer != older
    assert_bad_code(complete(stack.url, older), messages)
    assert ok(complete(stack.url, newer))["completeSignIn"]["viewer"]["role"] == "MEMBER"
    # malformed, or well formed but no one's
    for nonsense in ("nonsense", "", "ABCD-EFGH-JKL0", random_code()):
        assert_bad_code(complete(stack.url, nonsense), messages)
    assert messages == {WRONG}, messages


def test_five_wrong_codes_for_an_address_void_its_code_and_four_do_not(stack, mail):
    messages = set()
    # four wrong secrets with the right locator: the right code still signs in
    _, four = focal_point(stack)
    request_code(stack.url, four)
    code = wait_code(stack, four)
    for n in range(1, 5):
        assert_bad_code(complete(stack.url, wrong_secret(code, n)), messages)
    assert ok(complete(stack.url, code))["completeSignIn"]["viewer"]["role"] == "MEMBER"
    # a fifth one voids it
    _, five = focal_point(stack)
    request_code(stack.url, five)
    code = wait_code(stack, five)
    for n in range(1, 6):
        assert_bad_code(complete(stack.url, wrong_secret(code, n)), messages)
    assert_bad_code(complete(stack.url, code), messages)
    # codes whose locator matches nothing count on no address
    _, other = focal_point(stack)
    request_code(stack.url, other)
    code = wait_code(stack, other)
    for _ in range(6):
        assert_bad_code(complete(stack.url, random_code()), messages)
    assert ok(complete(stack.url, code))["completeSignIn"]["viewer"]["role"] == "MEMBER"
    assert messages == {WRONG}, messages


# ---- limits ---------------------------------------------------------------------------------

def test_the_sixth_request_for_an_address_in_an_hour_sends_nothing(stack, mail):
    member_id, address = focal_point(stack)
    codes = []
    for i in range(5):
        request_code(stack.url, address)
        codes.append(wait_code(stack, address, i + 1))
    assert len(set(codes)) == 5
    request_code(stack.url, address)  # the sixth, in the same case or not
    request_code(stack.url, address.upper())
    wait_for(lambda: audited(stack, "CODE_LIMITED", f"focal-point:{member_id}") == 2, 20, 0.2,
             "two requests audited as over the limit")
    assert len(mails_to(stack, address, quiet=2.0)) == 5
    assert audited(stack, "CODE_SENT", f"focal-point:{member_id}") == 5
    logged = (stack.stack.var / "logs" / "accounts.log").read_text()
    assert "sign-in request over the per-address limit" in logged
    # the requests over the limit voided nothing: the fifth code is the one that works
    assert_bad_code(complete(stack.url, codes[3]))
    assert ok(complete(stack.url, codes[4]))["completeSignIn"]["viewer"]["role"] == "MEMBER"


@pytest.fixture(scope="module")
def trusting_gateway(stack):
    """Another gateway behind a proxy it trusts (127.0.0.1), so that each
    test names its client in X-Forwarded-For, with 3 sign-in requests per
    client an hour; its log is kept beside the stack's."""
    log = stack.tmp / f"sign-in-gateway-{uuid.uuid4().hex[:6]}.log"
    with another_gateway(stack, log, TRUSTED_PROXIES="127.0.0.1",
                         SIGN_IN_PER_CLIENT_PER_HOUR="3") as url:
        yield url, log


def test_requests_past_the_per_client_limit_answer_true_and_send_nothing(stack, mail,
                                                                        trusting_gateway):
    url, log = trusting_gateway
    client, other_client = (f"2001:db8::{secrets.randbelow(0xf000) + 0x1000:x}" for _ in range(2))
    _, address = focal_point(stack)
    for _ in range(3):
        request_code(url, new_address("unknown"), client=client)
    request_code(url, address, client=client)  # the fourth of this client: nothing is sent
    assert mails_to(stack, address, quiet=2.0) == []
    wait_for(lambda: "sign-in request over the per-client limit" in log.read_text(), 10, 0.2,
             "the refusal logged")
    # another client asks for the same address: the mail goes
    request_code(url, address, client=other_client)
    assert wait_code(stack, address)
    assert len(mails_to(stack, address)) == 1
    counted = {d["_id"].split("|")[1]: d["count"] for d in
               stack.db("gateway").rate_limits.find({"_id": {"$regex": "^sign_in\\|"}})}
    assert counted.get(client, 0) >= 4 and counted.get(other_client) == 1, counted
    text = log.read_text()
    assert address not in text and "@example.org" not in text


# ---- revocation -------------------------------------------------------------------------

def test_sign_out_ends_the_session_at_once_in_every_gateway(stack, mail, trusting_gateway):
    other_gateway, _ = trusting_gateway
    member_id, address = focal_point(stack)
    session, _ = sign_in(stack, address)
    token = session["token"]
    for url in (stack.url, other_gateway):
        assert ok(post(url, VIEWER, token=token))["viewer"]["role"] == "MEMBER"
    assert ok(post(stack.url, SIGN_OUT, token=token)) == {"signOut": True}
    for _ in range(6):  # on every worker of each instance
        assert_unauthenticated(post(stack.url, VIEWER, token=token))
        assert_unauthenticated(post(other_gateway, VIEWER, token=token))
    assert accounts_session(stack, token)["revoked_at"] is not None
    assert audited(stack, "SIGNED_OUT", f"focal-point:{member_id}") == 1
    # signing out needs a session: a CLI token has none, and anonymous is no one
    code, message, _ = refused(post(stack.url, SIGN_OUT, token=stack.admin()))
    assert code == "FORBIDDEN" and "not a session" in message
    assert refused(post(stack.url, SIGN_OUT))[0] == "UNAUTHENTICATED"
    # another session of the same person is another session
    again, _ = sign_in(stack, address)
    assert ok(post(stack.url, VIEWER, token=again["token"]))["viewer"]["role"] == "MEMBER"


def test_a_member_that_withdraws_loses_its_sessions_and_its_codes(stack, mail):
    member_id, address = focal_point(stack)
    session, _ = sign_in(stack, address)
    token = session["token"]
    request_code(stack.url, address)
    pending = wait_code(stack, address, 2)
    assert ok(post(stack.url, VIEWER, token=token))["viewer"]["role"] == "MEMBER"
    assert ok(post(stack.url, WITHDRAW, {"m": member_id}, token=stack.admin()))[
        "withdrawMembership"]["status"] == "WITHDRAWN"
    # revoked by accounts (it hears the member event), not only refused for the
    # member's status (which a gateway worker may keep MEMBER_STATUS_TTL_SECONDS)
    wait_for(lambda: (accounts_session(stack, token) or {}).get("revoked_at"), 20, 0.2,
             "the session revoked by accounts")
    for _ in range(6):  # on every worker
        assert_unauthenticated(post(stack.url, VIEWER, token=token))
    assert_bad_code(complete(stack.url, pending))
    # and its address asks for a code in vain
    request_code(stack.url, address)
    assert len(mails_to(stack, address)) == 2


# ---- the plain pages ---------------------------------------------------------------------

def test_the_confirm_page_signs_in_only_on_its_post(stack, mail):
    """The web app's sign-in pages (services/web/views/signin.py), as a browser uses them."""
    _, address = focal_point(stack)
    browser = web_session(stack)
    # asking through the page
    page = post_form(browser, "/signin/request", {"email": address}, page="/signin")
    assert page.status_code == 200 and "code is on its way" in page.text
    code = wait_code(stack, address)
    form = get(browser, "/signin")
    assert form.status_code == 200 and "/signin/request" in form.text
    assert "E-mail address" in form.text and "Send sign-in code" in form.text
    # opening the link (a mail scanner does) shows a page and uses nothing
    for _ in range(2):
        confirm = requests.get(stack.url + "/signin", params={"code": code}, timeout=30,
                               allow_redirects=False)
        assert confirm.status_code == 200 and code in confirm.text
        assert "hidden" in confirm.text and "<script>" not in confirm.text
        assert session_cookie(confirm) is None
    # a POST from another site's page, or without the form's token, is
    # refused and uses nothing either
    token = csrf_of(get(browser, "/signin").text)
    for path, data in (("/signin", {"code": code}), ("/signin/request", {"email": address})):
        r = browser.post(stack.url + path, data={**data, "csrf_token": token},
                         headers={"Origin": "https://evil.example"}, timeout=30,
                         allow_redirects=False)
        assert r.status_code == 403 and session_cookie(r) is None, (path, r.status_code)
        r = browser.post(stack.url + path, data=data, timeout=30, allow_redirects=False)
        assert r.status_code == 403 and session_cookie(r) is None, (path, r.status_code)
    # a wrong code: the page again, with the message
    r = post_form(browser, "/signin", {"code": wrong_secret(code)})
    assert r.status_code == 400 and WRONG in r.text and session_cookie(r) is None
    # the confirmation from the stack's own page (or the public origin) signs in
    r = post_form(browser, "/signin", {"code": code, "next": "/members"},
                  page=f"/signin?code={code}", headers={"Origin": stack.url})
    assert r.status_code == 303 and r.headers["Location"] == "/members?done=signed-in"
    value, attrs = the_cookie(r)
    assert attrs.get("httponly") is True and str(attrs.get("samesite")).lower() == "lax"
    viewer = ok(post(stack.url, VIEWER, cookie=value))["viewer"]
    assert viewer["role"] == "MEMBER" and viewer["person"]["email"] == address
    done = get(browser, "/")
    assert done.status_code == 200 and "/signout" in done.text and "Sign out" in done.text
    # the code is used now
    r = post_form(browser, "/signin", {"code": code}, headers={"Origin": PUBLIC_URL})
    assert r.status_code == 400 and session_cookie(r) is None
    # signing out through the page ends the cookie's session and clears it
    out = post_form(browser, "/signout", {}, page="/")
    assert out.status_code == 303 and out.headers["Location"] == "/?done=signed-out"
    assert clears_cookie(out), out.headers
    dead = post(stack.url, VIEWER, cookie=value)
    assert_unauthenticated(dead)
    assert clears_cookie(dead), dead.headers
    # a Bearer token wins over a cookie
    assert ok(post(stack.url, VIEWER, token=stack.admin(), cookie=value))["viewer"]["role"] == "ADMIN"


def test_sign_out_by_cookie_clears_it(stack, mail):
    _, address = focal_point(stack)
    _, r = sign_in(stack, address)
    value, _ = the_cookie(r)
    out = post(stack.url, SIGN_OUT, cookie=value)
    assert ok(out) == {"signOut": True} and clears_cookie(out), out.headers
    assert_unauthenticated(post(stack.url, VIEWER, cookie=value))


# ---- nothing in clear ----------------------------------------------------------------------

def test_no_code_and_no_address_in_the_store_of_accounts_nor_in_any_log(stack):
    """After every flow above: the accounts service keeps codes, and the
    addresses of focal points, only as keyed hashes (a secretariat person's
    address is theirs to keep), and no log file of the stack holds either."""
    addresses, codes = set(SEEN["addresses"]), set(SEEN["codes"])
    assert codes and addresses

    def needles_of(addresses):
        found = set()
        for address in addresses:
            found.update({address, address.casefold(), address.split("@")[0]})
        for code in codes:
            found.update({code, code.replace("-", ""), code[5:], code[5:].replace("-", "")})
        return found
    stored = needles_of(a for a in addresses if a.casefold() not in SEEN["secretariat"])
    accounts = stack.db("accounts")
    for name in accounts.list_collection_names():
        for doc in accounts[name].find({}):
            text = repr(doc)
            found = [n for n in stored if n in text]
            assert not found, (name, doc.get("_id"))
    needles = needles_of(addresses)
    logs = stack.stack.var / "logs"
    files = [p for p in logs.rglob("*") if p.is_file()]
    files += list(stack.tmp.glob("sign-in-gateway-*.log"))  # the per-client test's gateway
    assert len(files) > 3
    for path in files:
        text = path.read_text(errors="replace")
        found = [n for n in needles if n in text]
        assert not found, (path.name, len(found))
