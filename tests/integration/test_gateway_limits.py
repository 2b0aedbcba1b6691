"""The limits of DOMAIN.md section 6 and the answers' headers, through the
real gateway over HTTP: body size and nesting, query cost, anonymous
mutations and the per-address limit on applications (kept in the gateway's
store, so every worker and instance shares it), security headers, health
and readiness."""
import time
import uuid
from contextlib import ExitStack

import pytest
import requests

from services.stack import free_port
from tests.support import another_gateway, member_input, post_raw

APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }"


def test_a_body_over_the_limit_is_413_before_it_is_parsed(stack):
    for size in (1024 * 1024 + 1, 20 * 1024 * 1024):
        body = b'{"query": "{ viewer { role } }", "pad": "' + b"x" * size + b'"}'
        r = post_raw(stack.url, body)
        assert r.status_code == 413, r.text[:200]
        assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    # no Content-Length (chunked): read no further than the limit either
    chunks = (b"x" * 65536 for _ in range(40))
    r = requests.post(stack.url + "/graphql", data=chunks,
                      headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413 and r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    # just under the limit is fine
    body = b'{"query": "{ viewer { role } }", "pad": "' + b"x" * (1024 * 1024 - 100) + b'"}'
    assert post_raw(stack.url, body).status_code == 200


def test_deeply_nested_json_is_400_not_500(stack):
    for depth in (100, 100000):
        body = '{"query": "{ viewer { role } }", "variables": {"a": ' + "[" * depth + "]" * depth + "}}"
        r = post_raw(stack.url, body)
        assert r.status_code == 400, r.text[:300]
        assert "nests deeper" in r.json()["errors"][0]["message"]
    r = stack.http.get(stack.url + "/graphql", timeout=10, headers={"Accept": "application/json"},
                       params={"query": "{ viewer { role } }", "variables": "[" * 300 + "]" * 300})
    assert r.status_code == 400


# ---- the query's cost ------------------------------------------------------------

def test_the_costly_query_of_the_finding_is_refused_before_it_runs(stack):
    aliases = " ".join(f"a{i}: eligibleMembers {{ name countries }}" for i in range(100))
    q = "{ consultations(first: 200) { edges { node { %s } } } }" % aliases
    r = stack.post(q)
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == 20000 and error["extensions"]["cost"] > 20000
    assert "20000" in error["message"] and "X-RPC-Calls" not in r.headers  # nothing ran


def test_the_rulebook_query_runs_under_the_default(stack):
    q = "{ members(first: 50) { edges { node { id name allocations { amount grant { title } } } } } }"
    r = stack.post(q, token=stack.admin())
    assert r.status_code == 200 and not r.json().get("errors"), r.text[:300]


# ---- anonymous requests ------------------------------------------------------------

def test_an_anonymous_request_holds_one_mutation(stack):
    tag = uuid.uuid4().hex[:8]
    fields = " ".join(f'a{i}: applyForMembership(input: $i{i}) {{ id }}' for i in range(30))
    params = ", ".join(f"$i{i}: MemberInput!" for i in range(30))
    variables = {f"i{i}": member_input(f"Batch {tag} {i}") for i in range(30)}
    r = stack.post(f"mutation({params}) {{ {fields} }}", variables)
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert stack.db("members").members.count_documents({"name": {"$regex": f"^Batch {tag}"}}) == 0
    # a token may send several
    two = ("mutation($a: MemberInput!, $b: MemberInput!) { "
           "a: registerFoundingMember(input: $a) { id } b: registerFoundingMember(input: $b) { id } }")
    data = stack.gql(two, {"a": member_input(f"Two {tag} a"), "b": member_input(f"Two {tag} b")},
                     stack.admin())
    assert data["a"]["id"] and data["b"]["id"]
    # and one anonymous mutation is fine
    assert stack.gql(APPLY, {"i": member_input(f"One {tag}")})["applyForMembership"]["id"]


@pytest.fixture(scope="module")
def guarded(stack):
    """Two more gateway instances with the default application limit, behind
    a proxy they trust (127.0.0.1), and without GraphiQL."""
    with ExitStack() as stack_of:
        urls = [stack_of.enter_context(another_gateway(
            stack, TRUSTED_PROXIES="127.0.0.1", GRAPHIQL="false",
            ANONYMOUS_APPLICATIONS_PER_HOUR="5")) for _ in range(2)]
        yield urls


def apply_from(url, address, name, **overrides):
    r = requests.post(url + "/graphql", timeout=60,
                      json={"query": APPLY, "variables": {"i": member_input(name, **overrides)}},
                      headers={"X-Forwarded-For": address})
    return r


def test_anonymous_applications_are_limited_per_address_across_instances(stack, guarded):
    a, b = guarded
    address, tag = f"2001:db8::{uuid.uuid4().hex[:4]}", uuid.uuid4().hex[:8]
    # refused for its content: not counted
    bad = apply_from(a, address, f"Limit {tag} bad", countries=["XX"])
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    for i in range(5):  # three through one instance, two through the other
        r = apply_from(a if i < 3 else b, address, f"Limit {tag} {i}")
        assert r.status_code == 200 and not r.json().get("errors"), r.text
    sixth = apply_from(a, address, f"Limit {tag} 6")
    assert sixth.status_code == 429
    assert sixth.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert 0 < int(sixth.headers["Retry-After"]) <= 3600
    assert stack.db("members").members.count_documents({"name": f"Limit {tag} 6"}) == 0
    # another address is not affected; a token is not limited
    other = apply_from(b, f"2001:db8::{uuid.uuid4().hex[:4]}", f"Limit {tag} other")
    assert other.status_code == 200 and not other.json().get("errors")
    r = requests.post(a + "/graphql", timeout=60, headers={
        "X-Forwarded-For": address, "Authorization": f"Bearer {stack.admin()}"},
        json={"query": APPLY, "variables": {"i": member_input(f"Limit {tag} admin")}})
    assert r.status_code == 200 and not r.json().get("errors")


def test_an_application_refused_for_a_name_already_known_is_counted(stack, guarded):
    """It tells whether the coalition knows the organisation, MEMBERS_ONLY
    ones included (docs/safety.md): each such try costs an application."""
    a, _ = guarded
    address, tag = f"2001:db8::{uuid.uuid4().hex[:4]}", uuid.uuid4().hex[:8]
    hidden = f"Known {tag}"
    stack.gql(APPLY, {"i": member_input(hidden, visibility="MEMBERS_ONLY")})
    for _ in range(5):
        taken = apply_from(a, address, hidden)
        assert taken.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", taken.text
    assert apply_from(a, address, f"Known {tag} new").status_code == 429


def test_forwarded_for_is_ignored_from_an_untrusted_peer(stack):
    """The stack's own gateway trusts no proxy: the address a client writes in
    X-Forwarded-For is not what it is counted as."""
    tag = uuid.uuid4().hex[:8]
    r = stack.http.post(stack.url + "/graphql", timeout=30, headers={"X-Forwarded-For": "192.0.2.77"},
                        json={"query": APPLY, "variables": {"i": member_input(f"Peer {tag}")}})
    assert r.status_code == 200 and not r.json().get("errors")
    counted = [d["_id"] for d in stack.db("gateway").rate_limits.find({})]
    assert any(c.startswith("applyForMembership|127.0.0.1|") for c in counted), counted
    assert not any("192.0.2.77" in c for c in counted)


# ---- headers, GraphiQL, health ---------------------------------------------------------

def test_security_headers(stack, guarded):
    page = stack.http.get(stack.url + "/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives.get("default-src", [])
    assert directives["frame-ancestors"] == ["'none'"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in page.text  # every script is a file of our own
    for r in (page, stack.post("{ viewer { role } }"), stack.post("{ nope }"),
              stack.http.get(stack.url + "/graphql/static/graphiql-init.js", timeout=10),
              stack.http.get(stack.url + "/nowhere", timeout=10),
              stack.http.get(stack.url + "/healthz", timeout=10)):
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.url
    # GraphiQL is a setting
    off = requests.get(guarded[0] + "/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert off.status_code == 404 and "graphiql" not in off.text.lower()


def test_readiness_names_what_is_missing_without_raw_errors(stack):
    closed = free_port()
    with another_gateway(stack, AMQP_URI=f"amqp://nobody:nothing@127.0.0.1:{closed}/",
                         READY_TIMEOUT_SECONDS="1") as url:
        assert requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
        started = time.time()
        r = requests.get(url + "/readyz", timeout=30)
        assert r.status_code == 503 and time.time() - started < 20
        checks = r.json()["checks"]
        assert checks["broker"] == {"ok": False}
        assert checks["members"] == {"ok": False, "error": "broker unreachable"}
        assert checks["store"] == {"ok": True}
        assert "Errno" not in r.text and "refused" not in r.text.lower()
