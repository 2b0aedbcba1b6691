"""Signing in (DOMAIN.md section 7) as the tests observe it, over plain HTTP
(no cookie jar: each request says which token or cookie it carries): asking
for a code, reading it from the mail the harness's SMTP server received
(tests/helpers/mail.py), completing it, the session cookie and the plain
pages. Every address and code a test used is kept in `SEEN`, so that a test
can check that none of them reached a log file or the store in clear."""
import os
import re
import time
import uuid
from datetime import datetime

import jwt
import requests

from tests.helpers.notifications import founders_with_addresses
from tests.support import SECRET, refusal

CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}")
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
COOKIE = "coalition_session"

REQUEST = "mutation($e: String!) { requestSignIn(email: $e) }"
PERSON = "person { name email role member { id } preferences { language } }"
VIEWER = "{ viewer { role member { id } %s } }" % PERSON
COMPLETE = ("mutation($c: String!) { completeSignIn(code: $c) { token expiresAt "
            "viewer { role member { id } %s } } }" % PERSON)
SIGN_OUT = "mutation { signOut }"
INVITE = "mutation($e: String!, $n: String!) { inviteSecretariat(email: $e, name: $n) }"
REMOVE = "mutation($e: String!) { removeSecretariat(email: $e) }"
SECRETARIAT = "{ secretariat { name email role member { id } } }"
WITHDRAW = "mutation($m: ID!) { withdrawMembership(memberId: $m) { id status } }"

# what no log file may hold: every address and code used; "secretariat": the
# addresses of secretariat people, which the accounts service keeps (people)
SEEN: dict[str, set[str]] = {"addresses": set(), "codes": set(), "secretariat": set()}


def new_address(kind="si"):
    """An address no one has used, kept in SEEN."""
    address = f"{kind}-{uuid.uuid4().hex[:12]}@example.org"
    SEEN["addresses"].add(address)
    return address


def focal_point(stack, language=None):
    """(member id, its focal point's address) of a new ACTIVE member known to
    every read model (its preferences are the notifications service's)."""
    [(member_id, address)] = founders_with_addresses(stack, 1, language)
    SEEN["addresses"].add(address)
    return member_id, address


def add_secretariat(stack, address, name):
    """What `coalition admin add` does: accounts.add_secretariat by RPC."""
    SEEN["addresses"].add(address)
    SEEN["secretariat"].add(address.casefold())
    with stack.rpc() as rpc:
        return rpc.accounts.add_secretariat(address, name, "operator-test", None)


# ---- HTTP ---------------------------------------------------------------------------

def post(url, query, variables=None, token=None, cookie=None, headers=None):
    """POST a GraphQL request to the gateway at `url`, with a Bearer token
    and/or the session cookie, and nothing else (no jar)."""
    h = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        h["Cookie"] = f"{COOKIE}={cookie}"
    return requests.post(url + "/graphql", json={"query": query, "variables": variables},
                         headers=h, timeout=60)


def ok(r):
    """The data of an answer that must have succeeded."""
    body = r.json()
    assert r.status_code == 200 and not body.get("errors"), (r.status_code, body)
    return body["data"]


def refused(r):
    """(code, message, fields) of an answer that must have been refused."""
    return refusal(r.json())


def set_cookies(r):
    """Every Set-Cookie header of an answer, as sent."""
    return r.raw.headers.getlist("Set-Cookie")


def session_cookie(r):
    """(value, {attribute (lower case): value or True}) of the answer's
    coalition_session cookie, or None if it sets none."""
    for header in set_cookies(r):
        first, *rest = [p.strip() for p in header.split(";")]
        name, _, value = first.partition("=")
        if name.strip() == COOKIE:
            attrs = {}
            for part in rest:
                key, eq, val = part.partition("=")
                attrs[key.strip().lower()] = val.strip() if eq else True
            return value.strip(), attrs
    return None


def clears_cookie(r):
    """Whether the answer tells the browser to forget the session cookie."""
    found = session_cookie(r)
    if found is None:
        return False
    value, attrs = found
    expires = str(attrs.get("expires", ""))
    return str(attrs.get("max-age")) == "0" or "1970" in expires or (value in ("", '""')
                                                                   and "max-age" in attrs)


# ---- the flow ----------------------------------------------------------------------

def request_code(url, address, client=None):
    """requestSignIn(address) on the gateway at `url` (from `client`, an
    X-Forwarded-For a trusting gateway believes); it always answers true."""
    headers = {"X-Forwarded-For": client} if client else None
    r = post(url, REQUEST, {"e": address}, headers=headers)
    assert ok(r) == {"requestSignIn": True}
    return r


def codes_of(message):
    """The distinct codes a sign-in mail's text holds (kept in SEEN)."""
    found = set(CODE.findall(message.text or ""))
    SEEN["codes"].update(found)
    return found


def is_sign_in_mail(message, address):
    """Whether `message` went to `address` and holds a sign-in code."""
    return (any(t.casefold() == address.casefold() for t in message.to)
            and CODE.search(message.text or "") is not None)


def wait_code(stack, address, count=1, timeout=30):
    """The code of the `count`-th sign-in mail to `address` (waits for it)."""
    messages = stack.mail.wait_for_messages(count, timeout,
                                            where=lambda m: is_sign_in_mail(m, address))
    message = messages[count - 1]
    found = codes_of(message)
    assert len(found) == 1, (message.subject, found)
    return found.pop()


def mails_to(stack, address, quiet=1.5):
    """The sign-in mails to `address` once no mail arrived for `quiet`
    seconds (or, while other tests' mail keeps coming, `quiet` seconds later)."""
    try:
        stack.mail.settle(quiet=quiet, timeout=10)
    except AssertionError:
        time.sleep(quiet)
    return [m for m in stack.mail.messages_to(address) if is_sign_in_mail(m, address)]


def complete(url, code):
    return post(url, COMPLETE, {"c": code})


def sign_in(stack, address, url=None):
    """The whole flow for a known address: (completeSignIn's Session, the
    response); the mail it waits for is the next one to that address."""
    url = url or stack.url
    before = len([m for m in stack.mail.messages_to(address) if is_sign_in_mail(m, address)])
    request_code(url, address)
    code = wait_code(stack, address, before + 1)
    r = complete(url, code)
    return ok(r)["completeSignIn"], r


def claims(token):
    """The claims of a token the stack signed (and checked here)."""
    return jwt.decode(token, SECRET, algorithms=["HS256"])


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wrong_secret(code, n=1):
    """The same locator (first group) with another secret (the n-th of 31):
    a wrong try that counts on the code's address."""
    locator, rest = code[:4], code[5:]
    last = rest[-1]
    other = ALPHABET[(ALPHABET.index(last) + n) % len(ALPHABET)]
    return f"{locator}-{rest[:-1]}{other}"


def random_code():
    """A well-formed code whose locator matches nothing (almost surely)."""
    symbols = [ALPHABET[b % len(ALPHABET)] for b in os.urandom(12)]
    return "-".join("".join(symbols[i:i + 4]) for i in (0, 4, 8))


def accounts_session(stack, token):
    """The accounts service's stored session of a token (by its sid)."""
    return stack.db("accounts").sessions.find_one({"_id": claims(token)["sid"]})
