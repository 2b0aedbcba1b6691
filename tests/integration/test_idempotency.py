"""Idempotency-Key: a client that lost an answer repeats a mutation safely."""
import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.common.errors import Conflict
from services.common.store import REQUEST_CONTEXT_KEY
from services.gateway.idempotency import RUNNING_LIMIT_SECONDS
from tests.support import founders, member_input

REGISTER = """mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id name status } }"""
MEMBERS = """query($s: String) { members(search: $s) { totalCount } }"""


_INPUTS = {}  # name -> its input: a repeat must send the very same request


def same_input(name):
    """The same input for the same name (member_input draws a new focal-point
    address each time, and a repeat with another one is another request)."""
    return _INPUTS.setdefault(name, member_input(name))


def register(stack, name, key, token=None):
    return stack.post(REGISTER, {"i": same_input(name)}, token or stack.admin(),
                      headers={"Idempotency-Key": key})


def count(stack, name):
    return stack.db("members").members.count_documents({"name": name})


def test_a_repeated_mutation_is_answered_again_not_done_again(stack):
    name, key = f"Idem Network {uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    first = register(stack, name, key)
    assert first.status_code == 200 and not first.json().get("errors"), first.text
    again = register(stack, name, key)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replay") == "true"
    assert count(stack, name) == 1
    # without the key the same mutation is a new request (refused: the name is taken)
    plain = stack.post(REGISTER, {"i": member_input(name)}, stack.admin()).json()
    assert plain["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_key_reused_for_another_request_is_refused(stack):
    key = uuid.uuid4().hex
    assert register(stack, f"Idem A {uuid.uuid4().hex[:8]}", key).status_code == 200
    other_name = f"Idem B {uuid.uuid4().hex[:8]}"
    r = register(stack, other_name, key)
    assert r.status_code == 422
    assert r.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert count(stack, other_name) == 0


def test_keys_belong_to_their_caller(stack):
    key = uuid.uuid4().hex
    a, b = f"Idem C {uuid.uuid4().hex[:8]}", f"Idem D {uuid.uuid4().hex[:8]}"
    assert register(stack, a, key, stack.token("ADMIN", sub="admin-one")).status_code == 200
    other = register(stack, b, key, stack.token("ADMIN", sub="admin-two"))
    assert other.status_code == 200 and not other.json().get("errors")
    assert count(stack, a) == count(stack, b) == 1


def keep_record(stack, key, variables, state, age_seconds=0):
    """The record a gateway leaves for `key` when it stops mid-request
    (running) or when a service did not answer in time (unknown)."""
    from services.gateway.auth import Viewer
    from services.gateway.idempotency import fingerprint, owner
    doc_id = hashlib.sha256(f"{owner(Viewer('ADMIN', None, 'admin-test'), '')}\0{key}"
                            .encode()).hexdigest()
    stack.db("gateway").idempotency.replace_one({"_id": doc_id}, {
        "_id": doc_id, "request": fingerprint(REGISTER, variables, None), "state": state,
        "created_at": datetime.now(timezone.utc) - timedelta(seconds=age_seconds)}, upsert=True)


def test_a_key_still_running_is_refused_for_a_moment(stack):
    key, name = uuid.uuid4().hex, f"Idem E {uuid.uuid4().hex[:8]}"
    variables = {"i": same_input(name)}
    keep_record(stack, key, variables, "running")
    r = stack.post(REGISTER, variables, stack.admin(), headers={"Idempotency-Key": key})
    assert r.status_code == 409 and r.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert count(stack, name) == 0
    # a gateway that stopped mid-request: past the limit the request runs again
    keep_record(stack, key, variables, "running", age_seconds=RUNNING_LIMIT_SECONDS + 1)
    r = stack.post(REGISTER, variables, stack.admin(), headers={"Idempotency-Key": key})
    assert r.status_code == 200 and not r.json().get("errors"), r.text
    assert count(stack, name) == 1


def test_a_repeat_of_work_done_but_unanswered_gets_the_work_not_a_second_one(stack):
    """The service did the work, then the answer was lost (the gateway's
    record says unknown): the repeat under the same key runs again, and the
    members service hands back the member it created instead of a refusal or
    a second member."""
    key, name = uuid.uuid4().hex, f"Idem G {uuid.uuid4().hex[:8]}"
    variables = {"i": same_input(name)}
    first = register(stack, name, key)
    assert first.status_code == 200 and not first.json().get("errors"), first.text
    keep_record(stack, key, variables, "unknown")
    again = register(stack, name, key)
    assert again.status_code == 200 and not again.json().get("errors"), again.text
    assert "Idempotent-Replay" not in again.headers  # it ran again ...
    assert again.json() == first.json()              # ... and got the same member back
    assert count(stack, name) == 1


def test_a_redelivered_call_does_its_change_once(stack):
    """What RabbitMQ does when a service dies after committing but before
    acknowledging: the same named call arrives again. The allocation is
    reserved and stored once, and the second delivery gets the first's answer."""
    with stack.rpc() as rpc:
        grant = rpc.grants.create_grant({"title": "Redelivery fund", "donor": "RCF", "currency": "USD",
                                         "amount": "5000.00", "startDate": "2027-01-01",
                                         "endDate": "2027-12-31"})
        rpc.grants.activate_grant(grant["id"])
    member = founders(stack, 1)[0]
    data = {"grantId": grant["id"], "memberId": member["id"], "amount": "3000.00",
            "purpose": "Outreach", "closesAt": (datetime.now(timezone.utc) + timedelta(days=9)).isoformat()}
    name = f"test-{uuid.uuid4().hex}:grants.propose_allocation:1"
    answers = []
    for _ in range(2):
        with stack.rpc(context_data={REQUEST_CONTEXT_KEY: name}) as rpc:
            answers.append(rpc.grants.propose_allocation(data))
    assert answers[0] == answers[1]
    assert stack.db("grants").allocations.count_documents({"grant_id": grant["id"]}) == 1
    assert stack.db("grants").grants.find_one({"_id": grant["id"]})["allocated_cents"] == 300000
    # another name is another change: refused, the grant has 2000.00 left
    with stack.rpc(context_data={REQUEST_CONTEXT_KEY: name + "-other"}) as rpc:
        with pytest.raises(Conflict, match="Only 2000.00 USD"):
            rpc.grants.propose_allocation(data)


def test_the_key_is_checked_and_queries_ignore_it(stack):
    bad = register(stack, "Idem F", "x" * 201)
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    for _ in range(2):  # a query is never recorded nor replayed
        r = stack.post(MEMBERS, {"s": "idem"}, stack.admin(), headers={"Idempotency-Key": "q1"})
        assert r.status_code == 200 and "Idempotent-Replay" not in r.headers
