"""Idempotency-Key: a client that lost an answer repeats a mutation safely."""
import uuid
from datetime import datetime, timezone

from tests.support import member_input

REGISTER = """mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id name status } }"""
MEMBERS = """query($s: String) { members(search: $s) { totalCount } }"""


def register(stack, name, key, token=None):
    return stack.post(REGISTER, {"i": member_input(name)}, token or stack.admin(),
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


def test_a_key_whose_outcome_is_unknown_is_never_run_again(stack):
    """The record a gateway leaves when it stops mid-request (or when a service
    did not answer in time): a repeat is refused, so the work is not done twice."""
    from services.gateway.auth import Viewer
    from services.gateway.idempotency import fingerprint, owner
    import hashlib
    key, name = uuid.uuid4().hex, f"Idem E {uuid.uuid4().hex[:8]}"
    variables = {"i": member_input(name)}
    stack.db("gateway").idempotency.insert_one({
        "_id": hashlib.sha256(f"{owner(Viewer('ADMIN', None, 'admin-test'), '')}\0{key}"
                              .encode()).hexdigest(),
        "request": fingerprint(REGISTER, variables, None), "state": "running",
        "created_at": datetime.now(timezone.utc)})
    r = stack.post(REGISTER, variables, stack.admin(), headers={"Idempotency-Key": key})
    assert r.status_code == 409 and r.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert count(stack, name) == 0


def test_the_key_is_checked_and_queries_ignore_it(stack):
    bad = register(stack, "Idem F", "x" * 201)
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    for _ in range(2):  # a query is never recorded nor replayed
        r = stack.post(MEMBERS, {"s": "idem"}, stack.admin(), headers={"Idempotency-Key": "q1"})
        assert r.status_code == 200 and "Idempotent-Replay" not in r.headers
