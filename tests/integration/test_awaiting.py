"""Consultation.awaiting (DOMAIN.md section 9) and the gateway's inSnapshot,
through the real stack: who has not responded is shown to ADMIN and to
members in the snapshot, to no one else, and only as many as asked for."""
from tests.helpers.consultations import cast, open_consultation
from tests.support import founders

AWAITING = """query($id: ID!, $first: Int) { consultation(id: $id) {
  inSnapshot awaiting(first: $first) { id } tally { eligible responded } } }"""


def seen(stack, consultation_id, token=None, first=None):
    return stack.gql(AWAITING, {"id": consultation_id, "first": first}, token)["consultation"]


def test_awaiting_is_the_snapshot_less_those_who_responded(stack):
    a, b, c = (m["id"] for m in founders(stack, 3))
    consultation = open_consultation(stack)["id"]
    assert cast(stack, consultation, a).get("data"), "the first stance"
    admin = seen(stack, consultation, stack.admin())
    waiting = {m["id"] for m in admin["awaiting"]}
    assert {b, c} <= waiting and a not in waiting and admin["inSnapshot"] is False
    assert len(waiting) == admin["tally"]["eligible"] - admin["tally"]["responded"]
    # a member in the snapshot sees the same, and that it is in the snapshot
    member = seen(stack, consultation, stack.member_token(b))
    assert {m["id"] for m in member["awaiting"]} == waiting and member["inSnapshot"] is True
    assert seen(stack, consultation, stack.member_token(a))["inSnapshot"] is True
    # anonymous: no one
    anonymous = seen(stack, consultation)
    assert anonymous["awaiting"] == [] and anonymous["inSnapshot"] is False
    # only as many as asked for
    assert len(seen(stack, consultation, stack.admin(), first=1)["awaiting"]) == 1


def test_a_member_outside_the_snapshot_sees_no_one(stack):
    consultation = open_consultation(stack)["id"]
    [late] = founders(stack, 1)  # joined after the round opened: not in its snapshot
    outside = seen(stack, consultation, stack.member_token(late["id"]))
    assert outside == {**outside, "awaiting": [], "inSnapshot": False}
