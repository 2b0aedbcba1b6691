"""Consultations through the gateway, as the tests drive them: open, cast,
close, and the admission consultation of a candidate."""
from datetime import datetime, timedelta, timezone

from tests.support import wait_for

CONSULTATION_FIELDS = """id kind title proposal subjectId status round rule quorum threshold openedAt
    closesAt closedAt outcome
    tally { eligible responded agree reservations standAside block quorumReached }
    rounds { number proposal outcome closedAt tally { eligible responded agree block } }"""
OPEN = f"mutation($i: ConsultationInput!) {{ openConsultation(input: $i) {{ {CONSULTATION_FIELDS} }} }}"
GET = f"query($id: ID!) {{ consultation(id: $id) {{ {CONSULTATION_FIELDS} }} }}"
CAST = """mutation($c: ID!, $v: StanceValue!, $r: String) { castStance(consultationId: $c, value: $v,
    reason: $r) { value reason castAt member { id name } } }"""
CLOSE = f"mutation($id: ID!) {{ closeConsultation(id: $id) {{ {CONSULTATION_FIELDS} }} }}"


def later(seconds=3600):
    """A moment `seconds` from now, as the API takes it."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def open_consultation(stack, **overrides):
    """A GENERAL consultation opened by the ADMIN (its input overridden by `overrides`)."""
    data = {"title": "Strategy 2027", "proposal": "Adopt the 2027 strategy", "closesAt": later()}
    data.update(overrides)
    return stack.gql(OPEN, {"i": data}, stack.admin())["openConsultation"]


def cast(stack, consultation_id, member_id, value="AGREE", reason=None, token=None):
    """The response body of a castStance, with the member's own token unless `token`."""
    return stack.post(CAST, {"c": consultation_id, "v": value, "r": reason},
                      token or stack.member_token(member_id)).json()


def close(stack, consultation_id):
    """closeConsultation by the ADMIN, which must succeed: the consultation closed."""
    return stack.gql(CLOSE, {"id": consultation_id}, stack.admin())["closeConsultation"]


def admission_of(stack, member_id, interval=0.1):
    """The stored MEMBERSHIP_ADMISSION consultation of a candidate (polled until
    consultations has opened it)."""
    return wait_for(lambda: stack.db("consultations").consultations.find_one(
        {"subject_id": member_id, "kind": "MEMBERSHIP_ADMISSION"}), 20, interval,
        "admission consultation")
