"""Event envelopes as the services publish them, for tests that hand an
event to a handler or to the broker themselves. make_envelope checks each
against the event catalogue, so a test cannot send what no service would."""
import uuid

from services.common.events import make_envelope


def member_event(event_type, member_id=None, status="ACTIVE", mou_signed=True, revision=1,
                 name=None):
    """A members event (any of MEMBER_EVENTS) carrying the member's state;
    a new member unless `member_id`."""
    member_id = member_id or uuid.uuid4().hex
    return make_envelope(event_type, {
        "member_id": member_id, "name": name or f"Network {member_id[:8]}", "status": status,
        "mou_signed": mou_signed, "can_vote": status == "ACTIVE" and mou_signed,
        "revision": revision, "note": None}, source="members")


def round_closed(kind, subject_id, outcome="ADOPTED", consultation_id=None):
    """The round_closed event of a one-voter round about `subject_id`."""
    return make_envelope("round_closed", {
        "consultation_id": consultation_id or uuid.uuid4().hex, "kind": kind,
        "subject_id": subject_id, "round": 1, "outcome": outcome,
        "tally": {"eligible": 1, "responded": 1, "agree": 1, "reservations": 0,
                  "stand_aside": 0, "block": 0}}, source="consultations")
