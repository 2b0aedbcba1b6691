"""The gateway as clients and operators meet it over HTTP (gunicorn):
GraphQL over HTTP, GraphiQL offline, tokens, batching, limits, timeouts,
health and metrics."""
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest

from services.common.vocabulary import SERVICES
from tests.support import (
    ROOT, RPC_TIMEOUT, SECRET, founders, member_input, post_raw, wait_for, wait_read_models)


@pytest.mark.parametrize("data,content_type", [
    ("{not json", "application/json"),
    ('{"variables": {}}', "application/json"),
    ('{"query": ""}', "application/json"),
    ('{"query": "{ viewer { role }"}', "application/json"),          # syntax error
    ('{"query": "{ nope }"}', "application/json"),                   # unknown field
    ('[1, 2]', "application/json"),
    ('{"query": "{ viewer { role } }", "variables": [1]}', "application/json"),
    ("query=1", "application/x-www-form-urlencoded"),
])
def test_malformed_requests_are_4xx_with_errors(stack, data, content_type):
    r = post_raw(stack.url, data, {"Content-Type": content_type})
    assert 400 <= r.status_code < 500
    body = r.json()
    assert body["errors"] and body["errors"][0]["message"]
    assert "Traceback" not in r.text


def test_post_and_get_queries(stack):
    r = stack.post("query Who { viewer { role member { id } } }")
    assert r.status_code == 200 and r.json() == {"data": {"viewer": {"role": "ANONYMOUS", "member": None}}}
    r = stack.http.get(stack.url + "/graphql", params={"query": "{ viewer { role } }"},
                       headers={"Accept": "application/json"}, timeout=10)
    assert r.json()["data"]["viewer"]["role"] == "ANONYMOUS"
    r = stack.http.get(stack.url + "/graphql", params={"query": 'mutation { signMou(memberId: "x") { id } }'},
                       headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 405


def test_operation_name_selects_the_operation(stack):
    q = "query A { viewer { role } } query B { members(first: 0) { totalCount } }"
    body = stack.http.post(stack.url + "/graphql", json={"query": q, "operationName": "B"}, timeout=10).json()
    assert set(body["data"]) == {"members"}


def test_graphiql_is_served_offline(stack):
    r = stack.http.get(stack.url + "/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert "graphiql" in r.text.lower() and "/graphql/static/" in r.text
    assert "https://" not in r.text and "http://" not in r.text.replace("http://www.w3.org", "")
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js",
                  "react-dom.production.min.js"):
        a = stack.http.get(f"{stack.url}/graphql/static/{asset}", timeout=10)
        assert a.status_code == 200 and len(a.content) > 1000
    assert stack.http.get(f"{stack.url}/graphql/static/../app.py", timeout=10).status_code == 404


def token(claims, secret=SECRET, alg="HS256"):
    base = {"sub": "x", "role": "ADMIN", "exp": datetime.now(timezone.utc) + timedelta(minutes=5)}
    return jwt.encode({**base, **claims}, secret, algorithm=alg)


@pytest.mark.parametrize("bad", [
    token({"exp": datetime.now(timezone.utc) - timedelta(minutes=1)}),
    token({}, secret="another-secret-" + "y" * 40),
    token({"role": "ROOT"}),
    token({"role": "MEMBER"}),                                     # no member_id
    jwt.encode({"sub": "x", "role": "ADMIN"}, SECRET, algorithm="HS256"),  # no exp
    jwt.encode({"sub": "x", "role": "ADMIN", "exp": 4102444800}, None, algorithm="none"),
    "garbage",
])
def test_bad_tokens_are_unauthenticated_never_anonymous(stack, bad):
    r = stack.post("{ viewer { role } }", headers={"Authorization": f"Bearer {bad}"})
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in r.json() or r.json().get("data") is None


def test_viewer_for_each_role(stack):
    m = founders(stack, 1)[0]
    assert stack.gql("{ viewer { role } }", token=stack.admin())["viewer"]["role"] == "ADMIN"
    v = stack.gql("{ viewer { role member { id name focalPoint { email } } } }",
                  token=stack.member_token(m["id"]))["viewer"]
    assert v == {"role": "MEMBER", "member": {"id": m["id"], "name": m["name"],
                                              "focalPoint": {"email": m["focal_point"]["email"]}}}


def test_query_depth_is_limited_before_execution(stack):
    deep = ("{ members { edges { node { allocations { grant { allocations { member { allocations "
            "{ grant { allocations { member { id } } } } } } } } } } } }")
    r = stack.post(deep)
    assert r.status_code == 400 and "depth" in r.json()["errors"][0]["message"]
    assert r.headers.get("X-RPC-Calls") is None


@pytest.mark.parametrize("query,variables", [
    ("{ members(first: 201) { totalCount } }", None),
    ("query($n: Int) { grants(first: $n) { totalCount } }", {"n": 5000}),
    ("{ consultations(first: -1) { totalCount } }", None),
])
def test_page_size_is_capped_before_execution(stack, query, variables):
    r = stack.post(query, variables)
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "first" in err["extensions"]["fields"]


def _members_with_allocations(stack, count, tag):
    with stack.rpc() as rpc:
        grant = rpc.grants.create_grant({"title": f"Batch {tag}", "donor": "Robert Carr Fund",
                                         "currency": "USD", "amount": "1000000",
                                         "startDate": "2026-01-01", "endDate": "2027-12-31"})
        members = [rpc.members.register_founding_member(member_input(name=f"Batch {tag} {i}"))
                   for i in range(count)]
        for m in members:
            wait_read_models(stack, m["id"], status="ACTIVE")
            rpc.grants.propose_allocation({"grantId": grant["id"], "memberId": m["id"],
                                           "amount": "100.00", "purpose": "Community monitoring"})
    return members


def test_rpc_calls_are_bounded_by_depth_not_list_size(stack):
    q = """query($s: String) { members(first: 50, search: $s) { edges { node { id
           allocations { amount grant { title } } } } } }"""
    calls = {}
    for count in (5, 50):
        tag = uuid.uuid4().hex[:8]
        _members_with_allocations(stack, count, tag)
        r = stack.post(q, {"s": f"batch {tag}"})
        body = r.json()
        assert not body.get("errors"), body
        edges = body["data"]["members"]["edges"]
        assert len(edges) == count
        assert all(e["node"]["allocations"][0]["grant"]["title"] == f"Batch {tag}" for e in edges)
        calls[count] = int(r.headers["X-RPC-Calls"])
    assert calls[5] == calls[50] == 3, calls


def test_health_and_metrics(stack):
    assert stack.http.get(stack.url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = stack.http.get(stack.url + "/readyz", timeout=10).json()
    assert ready["status"] == "ok"
    assert set(ready["checks"]) == {"broker", *SERVICES, "store"}
    stack.post("{ nope }")
    metrics = stack.http.get(stack.url + "/metrics", timeout=10).text
    assert "coalition_gateway_requests_total" in metrics
    assert "coalition_gateway_request_seconds_bucket" in metrics
    assert "coalition_gateway_errors_total" in metrics


def test_a_silent_service_gives_a_clear_error_not_a_hung_request(stack):
    stack.stack.ctl("stop", "grants")
    try:
        started = time.time()
        r = stack.post('{ members(first: 1) { totalCount } grant(id: "anything") { id } }')
        elapsed = time.time() - started
        body = r.json()
        assert elapsed < RPC_TIMEOUT + 6, elapsed
        assert body["data"]["members"]["totalCount"] >= 0 and body["data"]["grant"] is None
        err = body["errors"][0]
        assert err["extensions"]["code"] == "SERVICE_UNAVAILABLE" and "grants" in err["message"]
        assert err["path"] == ["grant"]
        ready = stack.http.get(stack.url + "/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["grants"] == {"ok": False, "error": "no reply"}
        assert ready.json()["checks"]["members"] == {"ok": True}
        # liveness does not depend on the services
        assert stack.http.get(stack.url + "/healthz", timeout=5).status_code == 200
    finally:
        stack.stack.ctl("start", "grants")
    wait_for(lambda: stack.stack.healthz() and stack.stack.healthz()["status"] == "ok", 30, 0.5)


def test_gateway_refuses_to_start_in_production_with_a_weak_secret(tmp_path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    for secret in ("", "short-secret"):
        env = {**os.environ, "COALITION_ENV": "production", "COALITION_JWT_SECRET": secret,
               "GATEWAY_BIND": "127.0.0.1:0"}
        r = subprocess.run([str(gunicorn), "--config", "python:services.gateway.gunicorn_conf",
                            "services.gateway.app:application"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert "COALITION_JWT_SECRET" in r.stderr
