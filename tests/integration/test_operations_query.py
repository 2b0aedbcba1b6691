"""`Query.operations` (services/gateway/operations.py) through the real stack:
the count of failed mails and of parked dead letters, for ADMIN only."""
import uuid
from datetime import datetime, timezone

from services.common.vocabulary import SERVICES
from tests.support import member_input, wait_for

OPERATIONS = "{ operations { failedMails deadLetters } }"


def counts(stack):
    return stack.gql(OPERATIONS, token=stack.admin())["operations"]


def test_a_member_is_forbidden_and_anonymous_unauthenticated(stack):
    member = stack.gql("mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id } }",
                       {"i": member_input()}, stack.admin())["registerFoundingMember"]
    code, _ = stack.gql_error(OPERATIONS, token=stack.member_token(member["id"]))
    assert code == "FORBIDDEN"
    code, _ = stack.gql_error(OPERATIONS)
    assert code == "UNAUTHENTICATED"
    code, _ = stack.gql_error("{ operations { deadLetters } }",
                              token=stack.member_token(member["id"]))
    assert code == "FORBIDDEN"


def test_failed_mails_counts_the_mails_refused_for_good(stack, mail):
    before = counts(stack)["failedMails"]
    refused = f"ops-{uuid.uuid4().hex[:12]}@example.org"
    mail.refuse(lambda address: address == refused)
    data = member_input(focalPoint={"name": "Focal Point", "email": refused, "phone": None})
    candidate = stack.gql("mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }",
                          {"i": data})["applyForMembership"]["id"]
    wait_for(lambda: stack.mail_queue(recipient=candidate, status="FAILED"), 30, 0.2,
             "the refused mail FAILED")
    after = counts(stack)["failedMails"]
    assert after >= before + 1
    assert after == len(stack.mail_queue(status="FAILED"))


def test_dead_letters_sums_the_parked_letters_of_every_service(stack):
    before = counts(stack)["deadLetters"]
    assert before == sum(stack.db(s).dead_letters.count_documents({"status": "parked"})
                         for s in SERVICES)
    ours = []
    for service, status in (("members", "parked"), ("accounts", "parked"),
                            ("grants", "replayed")):
        doc = {"_id": str(uuid.uuid4()), "consumer": "test", "queue": "test",
               "event_type": "test_event", "source": "test", "event_id": str(uuid.uuid4()),
               "payload": {}, "error": "RuntimeError: test", "attempts": 5, "status": status,
               "failed_at": datetime.now(timezone.utc)}
        stack.db(service).dead_letters.insert_one(doc)
        ours.append((service, doc["_id"]))
    try:
        assert counts(stack)["deadLetters"] == before + 2  # a replayed letter is not counted
        only = stack.gql("{ operations { deadLetters } }", token=stack.admin())
        assert only == {"operations": {"deadLetters": before + 2}}
    finally:
        for service, letter_id in ours:
            stack.db(service).dead_letters.delete_one({"_id": letter_id})
    assert counts(stack)["deadLetters"] == before
