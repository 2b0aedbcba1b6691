"""Erasure of a member's personal data (DOMAIN.md section 11) on the real
stack: after a member applied, was admitted, was mailed, signed in, had its
focal point read by ADMIN (also under an Idempotency-Key, whose kept answer
held it) and withdrew, `eraseMemberData` leaves its focal point's name,
address and phone nowhere in any collection of any database (the services'
and the gateway's), while the organisation's record and history stay; it is
CONFLICT for a member that is ACTIVE, CANDIDATE or SUSPENDED; and
`coalition erasures list` / `replay` apply it again after a restore."""
import json
import uuid

import pytest

from tests.helpers.consultations import admission_of, cast, close, open_consultation
from tests.helpers.reports import run_cli, wait_mail_drained
from tests.helpers.safety import (APPLY, DATABASES, ERASE, EXPORT, FOCAL_POINT, WITHDRAW,
                                  focal_point_texts, secret_member, store_hits)
from tests.helpers.sign_in import sign_in
from tests.support import announced, founders, isolate_voters, refusal, wait_for

SIGN_MOU = "mutation($m: ID!) { signMou(memberId: $m) { id status canVote } }"
SUSPEND = "mutation($m: ID!, $r: String!) { proposeSuspension(memberId: $m, reason: $r) { id } }"
CANCEL = "mutation($id: ID!, $r: String!) { cancelConsultation(id: $id, reason: $r) { status } }"
ERASED = "Personal data erased"


def erase(stack, member_id, token="admin"):
    r = stack.post(ERASE, {"m": member_id}, stack.admin() if token == "admin" else token)
    return r.json()


def erased(stack, member_id):
    body = erase(stack, member_id)
    assert not body.get("errors"), body
    return body["data"]["eraseMemberData"]


def status_of(stack, member_id):
    return stack.db("members").members.find_one({"_id": member_id})["status"]


def caught_up(stack, member_id):
    """Until every read model holds the member's latest revision."""
    revision = stack.db("members").members.find_one({"_id": member_id})["revision"]
    models = [stack.db("consultations").voters, stack.db("grants").members,
              stack.db("notifications").members]
    wait_for(lambda: all((m.find_one({"_id": member_id}) or {}).get("revision") == revision
                         for m in models), 30, 0.2, "the read models caught up")


def admitted_applicant(stack, data):
    """An applicant (anonymous), admitted by the one voter left, its MoU
    signed: mailed as candidate, as member and when a round opens."""
    isolate_voters(stack)
    voter = founders(stack, 1)[0]["id"]
    member = stack.gql(APPLY, {"i": data})["applyForMembership"]["id"]
    admission = admission_of(stack, member)["_id"]
    assert not cast(stack, admission, voter).get("errors")
    assert close(stack, admission)["outcome"] == "ADOPTED"
    wait_for(lambda: status_of(stack, member) == "ACTIVE", 20, 0.1, "admitted")
    stack.gql(SIGN_MOU, {"m": member}, stack.admin())
    open_consultation(stack, title=f"Erasure round {uuid.uuid4().hex[:6]}")
    address = data["focalPoint"]["email"]
    stack.mail.wait_for_messages(3, 30, where=lambda m: address in m.to)
    return member


@pytest.fixture(scope="module")
def withdrawn(stack):
    """(member id, its input, the kept answers' keys) of a member whose
    focal point went everywhere it can go, then withdrew."""
    stack.mail.start()
    stack.mail.accept()
    data = secret_member(visibility="PUBLIC")
    member = admitted_applicant(stack, data)
    sign_in(stack, data["focalPoint"]["email"])
    assert stack.gql(FOCAL_POINT, {"id": member}, stack.admin())["member"]["focalPoint"]
    keys = {"withdraw": f"withdraw-{uuid.uuid4().hex}", "export": f"export-{uuid.uuid4().hex}"}
    r = stack.post(WITHDRAW, {"m": member}, stack.admin(), headers={"Idempotency-Key":
                                                                   keys["withdraw"]})
    assert data["focalPoint"]["email"] in r.text and "WITHDRAWN" in r.text, r.text
    r = stack.post(EXPORT, {"m": member}, stack.admin(), headers={"Idempotency-Key": keys["export"]})
    assert data["focalPoint"]["email"] in r.text, r.text
    texts = focal_point_texts(data)
    assert {h[0] for h in store_hits(stack, texts)} >= {"members", "gateway"}
    wait_mail_drained(stack)
    return member, data, keys


def test_erasure_leaves_no_focal_point_text_anywhere_in_the_store(stack, withdrawn):
    member, data, keys = withdrawn
    answer = erased(stack, member)
    assert answer["member"]["id"] == member and answer["member"]["focalPoint"] is None
    assert answer["member"]["name"] == data["name"]  # the organisation stays accountable
    assert answer["member"]["history"][-1]["status"] == "WITHDRAWN"
    assert answer["member"]["history"][-1]["note"] == ERASED
    assert answer["removed"] and all(isinstance(w, str) and w for w in answer["removed"])
    assert "focal point" in " ".join(answer["removed"])
    caught_up(stack, member)
    wait_mail_drained(stack)
    assert store_hits(stack, focal_point_texts(data), DATABASES) == []
    assert stack.db("members").members.find_one({"_id": member})["name"] == data["name"]
    # a kept answer replayed holds it no more (it is replaced by a refusal)
    r = stack.post(WITHDRAW, {"m": member}, stack.admin(),
                   headers={"Idempotency-Key": keys["withdraw"]})
    assert data["focalPoint"]["email"] not in r.text, r.text
    r = stack.post(EXPORT, {"m": member}, stack.admin(),
                   headers={"Idempotency-Key": keys["export"]})
    assert data["focalPoint"]["email"] not in r.text, r.text
    # nor does a new export, nor a read by ADMIN
    fresh = stack.gql(EXPORT, {"m": member}, stack.admin())["exportMemberData"]
    assert not [t for t in focal_point_texts(data) if t in fresh]
    assert json.loads(fresh)["member_id"] == member
    assert stack.gql(FOCAL_POINT, {"id": member}, stack.admin())["member"]["focalPoint"] is None


def test_erasing_again_changes_nothing_more(stack, withdrawn):
    member, _, _ = withdrawn
    erased(stack, member)  # the first, if this test runs alone
    history = stack.db("members").members.find_one({"_id": member})["history"]
    events = len(announced(stack.db("members"), "member_data_erased", member_id=member))
    again = erased(stack, member)
    assert stack.db("members").members.find_one({"_id": member})["history"] == history
    assert [h["note"] for h in again["member"]["history"]].count(ERASED) == 1
    assert len(announced(stack.db("members"), "member_data_erased", member_id=member)) == events == 1
    assert isinstance(again["removed"], list)
    listed = run_cli(stack, "erasures", "list")
    assert listed.exit_code == 0 and member in listed.output.split(), listed.output


@pytest.mark.parametrize("status", ["ACTIVE", "CANDIDATE", "SUSPENDED"])
def test_erasing_a_member_that_is_not_withdrawn_or_rejected_is_conflict(stack, status):
    member = member_in(stack, status)
    before = stack.db("members").members.find_one({"_id": member})
    code, message, _ = refusal(erase(stack, member))
    assert code == "CONFLICT" and status in message, message
    after = stack.db("members").members.find_one({"_id": member})
    assert after["revision"] == before["revision"] and after["history"] == before["history"]
    assert after.get("focal_point") == before.get("focal_point")
    assert announced(stack.db("members"), "member_data_erased", member_id=member) == []


def member_in(stack, status):
    """A new member in `status` (ACTIVE, CANDIDATE or SUSPENDED)."""
    if status == "CANDIDATE":
        return stack.gql(APPLY, {"i": secret_member()})["applyForMembership"]["id"]
    if status == "ACTIVE":
        return founders(stack, 1)[0]["id"]
    isolate_voters(stack)
    subject, *voters = (m["id"] for m in founders(stack, 3))
    suspension = stack.gql(SUSPEND, {"m": subject, "r": "test"}, stack.admin())
    for voter in voters:
        assert not cast(stack, suspension["proposeSuspension"]["id"], voter).get("errors")
    assert close(stack, suspension["proposeSuspension"]["id"])["outcome"] == "ADOPTED"
    wait_for(lambda: status_of(stack, subject) == "SUSPENDED", 20, 0.1, "suspended")
    return subject


def test_who_may_erase(stack):
    member = founders(stack, 1)[0]["id"]
    stack.gql(WITHDRAW, {"m": member}, stack.admin())
    for token in (stack.member_token(member), None):
        assert refusal(erase(stack, member, token))[0] in ("FORBIDDEN", "UNAUTHENTICATED")
    assert refusal(erase(stack, uuid.uuid4().hex))[0] == "NOT_FOUND"
    assert status_of(stack, member) == "WITHDRAWN"
    assert stack.db("members").members.find_one({"_id": member}).get("erased_at") is None


def test_a_rejected_candidate_is_erased_and_a_replay_after_a_restore_erases_it_again(
        stack, tmp_path):
    isolate_voters(stack)
    founders(stack, 1)  # someone who could vote, and does not
    data = secret_member()
    member = stack.gql(APPLY, {"i": data})["applyForMembership"]["id"]
    admission = admission_of(stack, member)["_id"]
    assert close(stack, admission)["outcome"] == "NO_QUORUM"
    stack.gql(CANCEL, {"id": admission, "r": "No quorum"}, stack.admin())
    wait_for(lambda: status_of(stack, member) == "REJECTED", 20, 0.1, "rejected")
    # erased at once, while its mails may still be on their way (the sender
    # and the erasure touch the same mails: neither may wait on the other)
    backup = stack.db("members").members.find_one({"_id": member})  # a backup, before
    answer = erased(stack, member)
    assert answer["member"]["history"][-1] == {**answer["member"]["history"][-1],
                                               "status": "REJECTED", "note": ERASED}
    listed = run_cli(stack, "erasures", "list")
    assert member in listed.output.split()
    erased_txt = tmp_path / "erased.txt"
    erased_txt.write_text(listed.output)
    # the backup restored: the focal point is back, the erasure forgotten
    stack.db("members").members.replace_one({"_id": member}, backup)
    assert store_hits(stack, focal_point_texts(data), ["members"])
    replay = run_cli(stack, "erasures", "replay", str(erased_txt))
    assert replay.exit_code == 0, replay.output
    assert member in replay.output and data["focalPoint"]["email"] not in replay.output
    assert store_hits(stack, focal_point_texts(data), ["members"]) == []
    assert stack.gql(FOCAL_POINT, {"id": member}, stack.admin())["member"]["focalPoint"] is None
