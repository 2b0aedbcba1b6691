"""Tokens and who they act for (DOMAIN.md section 5), through the real
gateway: a MEMBER token stops working when its member is gone, casting needs
canVote at the moment of the cast, an empty Authorization header is not
anonymous, and an idempotency key replays only for its own token."""
import uuid

import requests

from tests.helpers.consultations import CAST, admission_of, open_consultation
from tests.support import founders, isolate_voters, member_input, refusal, wait_for

VIEWER = "{ viewer { role member { id status } } }"
WITHDRAW = "mutation($m: ID!) { withdrawMembership(memberId: $m) { id status } }"
SUSPEND = "mutation($m: ID!, $r: String!) { proposeSuspension(memberId: $m, reason: $r) { id } }"
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }"
TALLY = "query($id: ID!) { consultation(id: $id) { tally { responded } } }"


def responded(stack, consultation_id):
    return stack.gql(TALLY, {"id": consultation_id})["consultation"]["tally"]["responded"]


def test_a_member_that_withdrew_cannot_cast_with_its_old_token(stack):
    voter, other = founders(stack, 2)
    consultation = open_consultation(stack, title=f"Withdrawal {uuid.uuid4().hex[:6]}")
    token = stack.member_token(voter["id"])
    assert stack.post(VIEWER, token=token).status_code == 200  # its status is now cached
    assert stack.post(WITHDRAW, {"m": voter["id"]}, token).status_code == 200
    # at once, on whichever worker: the cast reads the status fresh
    r = stack.post(CAST, {"c": consultation["id"], "v": "AGREE"}, token)
    assert refusal(r.json())[0] in ("UNAUTHENTICATED", "FORBIDDEN"), r.text
    assert responded(stack, consultation["id"]) == 0
    # and within the cache's lifetime (2 s) every request with that token is refused
    wait_for(lambda: stack.post(VIEWER, token=token).status_code == 401, 5, 0.2, "token refused")
    for _ in range(6):  # on every worker
        r = stack.post(VIEWER, token=token)
        assert r.status_code == 401 and refusal(r.json())[0] == "UNAUTHENTICATED"
        assert "WITHDRAWN" in r.json()["errors"][0]["message"]
    # the other member still votes
    assert not stack.post(CAST, {"c": consultation["id"], "v": "AGREE"},
                          stack.member_token(other["id"])).json().get("errors")


def test_a_member_suspended_mid_round_cannot_cast_again(stack):
    isolate_voters(stack)  # so that the three others make the quorum
    members = founders(stack, 4)
    subject = members[0]
    consultation = open_consultation(stack, title=f"Mid-round {uuid.uuid4().hex[:6]}")
    token = stack.member_token(subject["id"])
    assert not stack.post(CAST, {"c": consultation["id"], "v": "AGREE"}, token).json().get("errors")
    # suspend it: the others adopt a suspension consultation about it
    suspension = stack.gql(SUSPEND, {"m": subject["id"], "r": "test"}, stack.admin())
    for m in members[1:]:
        body = stack.post(CAST, {"c": suspension["proposeSuspension"]["id"], "v": "AGREE"},
                          stack.member_token(m["id"])).json()
        assert not body.get("errors"), body
    closed = stack.gql("mutation($id: ID!) { closeConsultation(id: $id) { outcome } }",
                       {"id": suspension["proposeSuspension"]["id"]}, stack.admin())
    assert closed["closeConsultation"]["outcome"] == "ADOPTED"
    # closeConsultation returned once the suspension was applied
    assert stack.db("members").members.find_one({"_id": subject["id"]})["status"] == "SUSPENDED"
    r = stack.post(CAST, {"c": consultation["id"], "v": "BLOCK", "r": "no"}, token)
    code, message, _ = refusal(r.json())
    assert code == "FORBIDDEN" and "SUSPENDED" in message
    # a suspended member still reads with its token; its earlier stance stays counted
    assert stack.post(VIEWER, token=token).status_code == 200
    assert responded(stack, consultation["id"]) == 1


def test_tokens_of_members_that_are_not_there_are_unauthenticated(stack):
    for member_id in (uuid.uuid4().hex, "not-an-id"):
        r = stack.post(VIEWER, token=stack.member_token(member_id))
        assert r.status_code == 401 and refusal(r.json())[0] == "UNAUTHENTICATED"
    # a REJECTED member: its admission consultation was cancelled
    applicant = stack.gql(APPLY, {"i": member_input()})["applyForMembership"]
    consultation = admission_of(stack, applicant["id"])
    token = stack.member_token(applicant["id"])
    assert stack.post(VIEWER, token=token).status_code == 200  # a CANDIDATE acts
    stack.gql("mutation($id: ID!) { closeConsultation(id: $id) { outcome } }",
              {"id": consultation["_id"]}, stack.admin())
    stack.gql('mutation($id: ID!) { cancelConsultation(id: $id, reason: "no") { status } }',
              {"id": consultation["_id"]}, stack.admin())
    wait_for(lambda: stack.post(VIEWER, token=token).status_code == 401, 20, 0.2, "rejected")


def test_an_empty_authorization_header_is_not_anonymous(stack):
    for header in ("", "Bearer", "Basic abc"):
        r = requests.post(stack.url + "/graphql", json={"query": VIEWER},
                          headers={"Authorization": header}, timeout=10)
        assert r.status_code == 401 and refusal(r.json())[0] == "UNAUTHENTICATED", (header, r.text)


def test_status_checks_are_cached_not_one_rpc_per_request(stack):
    (member,) = founders(stack, 1)
    token = stack.member_token(member["id"])

    def lookups():
        text = stack.http.get(stack.url + "/metrics", timeout=10).text
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("coalition_gateway_member_status_lookups_total"))
    before = lookups()
    for _ in range(30):
        assert stack.post(VIEWER, token=token).status_code == 200
    # 30 requests in well under 2 s: at most one lookup per worker and TTL
    assert lookups() - before <= 4, lookups() - before


def test_an_idempotency_key_replays_only_for_its_own_token(stack):
    """The finding: a MEMBER token with the ADMIN's `sub` got the ADMIN's
    kept answer back, a focal point's e-mail included."""
    (member,) = founders(stack, 1)
    q = "mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id focalPoint { email } } }"
    variables, key = {"i": member_input(f"Keyed {uuid.uuid4().hex[:6]}")}, uuid.uuid4().hex
    admin = stack.token("ADMIN", sub="shared-sub")
    first = stack.post(q, variables, admin, headers={"Idempotency-Key": key})
    assert first.status_code == 200 and not first.json().get("errors")
    intruder = stack.token("MEMBER", member["id"], sub="shared-sub")
    r = stack.post(q, variables, intruder, headers={"Idempotency-Key": key})
    assert "Idempotent-Replay" not in r.headers
    assert refusal(r.json())[0] == "FORBIDDEN" and "focal" not in r.text.lower()
    # the ADMIN's repeat is still replayed
    again = stack.post(q, variables, admin, headers={"Idempotency-Key": key})
    assert again.headers.get("Idempotent-Replay") == "true" and again.json() == first.json()
