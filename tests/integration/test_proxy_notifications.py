"""Proxy notifications end to end (DOMAIN.md section 9): an offer tells its
holder, its acceptance, refusal and use tell its granter, by mail (the
tests' real SMTP server) and in the app, each once, in the recipient's
language, never with a stance value and whatever the preferences say; and
the reminder of a round goes to exactly its awaiting members, a granter
whose holder responded for it not among them, in a hidden round too.
Every member here has an address of its own (tests/helpers/notifications.py)."""
import re
from datetime import datetime, timedelta, timezone

from tests.helpers.consultations import close, open_consultation
from tests.helpers.notifications import (
    founders_with_addresses, inbox, mails, received_of, set_preferences, wait_received)
from tests.support import isolate_voters, wait_for

PUBLIC_URL = "https://coalition.test"
CYRILLIC = re.compile("[а-яА-ЯёЁ]")
VALUES = ("AGREE", "RESERVATIONS", "STAND_ASIDE", "BLOCK")

PROXY = "id status granter { id } holder { id }"
GRANT = f"""mutation($c: ID!, $h: ID!) {{ grantProxy(consultationId: $c, holderId: $h) {{
    {PROXY} }} }}"""
ACCEPT = f"mutation($id: ID!) {{ acceptProxy(id: $id) {{ {PROXY} }} }}"
DECLINE = f"mutation($id: ID!) {{ declineProxy(id: $id) {{ {PROXY} }} }}"
CAST_FOR = """mutation($c: ID!, $v: StanceValue!, $for: ID) {
    castStance(consultationId: $c, value: $v, onBehalfOf: $for) {
      member { id } castBy { id } } }"""
AWAITING = "query($id: ID!) { consultation(id: $id) { awaiting { id } } }"


def coalition_of(stack, count, language=None):
    isolate_voters(stack)
    return founders_with_addresses(stack, count, language)


def name_of(stack, member_id):
    """The member's name as the notifications' read model has it."""
    return stack.db("notifications").members.find_one({"_id": member_id})["name"]


def soon(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def grant(stack, consultation_id, granter, holder):
    return stack.gql(GRANT, {"c": consultation_id, "h": holder},
                     stack.member_token(granter))["grantProxy"]


def act(stack, mutation, proxy_id, holder):
    return stack.gql(mutation, {"id": proxy_id}, stack.member_token(holder))


def cast_for(stack, consultation_id, holder, granter, value):
    return stack.gql(CAST_FOR, {"c": consultation_id, "v": value, "for": granter},
                     stack.member_token(holder))["castStance"]


def proxy_inbox(stack, member_id):
    return [e["node"] for e in inbox(stack, stack.member_token(member_id))["edges"]
            if e["node"]["kind"] == "PROXY"]


def no_stance_value(*texts):
    return not any(value in text for text in texts for value in VALUES)


# ---- offered, accepted, used -------------------------------------------------------------

def test_an_offer_tells_the_holder_and_its_acceptance_and_use_tell_the_granter(stack):
    (granter, granter_at), (holder, holder_at), _ = coalition_of(stack, 3)
    # PROXY is always sent: every switch off changes nothing
    for member_id in (granter, holder):
        set_preferences(stack, stack.member_token(member_id), consultationOpened=False,
                        reminders=False, outcomes=False)
    c = open_consultation(stack, title="Proxy notices 2027")
    link = f"{PUBLIC_URL}/consultations/{c['id']}"
    proxy = grant(stack, c["id"], granter, holder)
    assert proxy["status"] == "OFFERED"

    [offer] = wait_received(stack, holder, "PROXY", holder_at)
    assert "Proxy notices 2027" in offer.subject and name_of(stack, granter) in offer.text
    assert "offered the proxy of" in offer.text and "accept or decline" in offer.text
    assert link in offer.text and link in offer.html
    assert not mails(stack, recipient=granter, kind="PROXY")  # the granter offered it

    assert act(stack, ACCEPT, proxy["id"], holder)["acceptProxy"]["status"] == "ACCEPTED"
    [accepted] = wait_received(stack, granter, "PROXY", granter_at)
    assert "accepted" in accepted.subject and "Proxy notices 2027" in accepted.subject
    assert name_of(stack, holder) in accepted.text and link in accepted.text

    stance = cast_for(stack, c["id"], holder, granter, "RESERVATIONS")
    assert stance == {"member": {"id": granter}, "castBy": {"id": holder}}
    messages = wait_received(stack, granter, "PROXY", granter_at, count=2)
    [used] = [m for m in messages if m.message_id != accepted.message_id]
    assert "used" in used.subject and name_of(stack, holder) in used.text and link in used.text
    for message in (offer, accepted, used):
        assert no_stance_value(message.subject, message.text, message.html)

    # in the app as well, with the same words and link; each (event, recipient) once
    granter_box = proxy_inbox(stack, granter)
    assert len(granter_box) == 2 and {n["link"] for n in granter_box} == {link}
    assert {n["subject"] for n in granter_box} == {accepted.subject, used.subject}
    [holder_note] = proxy_inbox(stack, holder)
    assert holder_note["subject"] == offer.subject and not holder_note["read"]
    assert len(mails(stack, recipient=granter, kind="PROXY")) == 2
    assert len(mails(stack, recipient=holder, kind="PROXY")) == 1
    close(stack, c["id"])


# ---- declined, in the granter's language --------------------------------------------------

def test_a_declined_offer_tells_the_granter_in_its_language(stack):
    (granter, granter_at), (holder, holder_at) = coalition_of(stack, 2, language="RU")
    c = open_consultation(stack, title="Отказ от доверенности")
    proxy = grant(stack, c["id"], granter, holder)
    [offer] = wait_received(stack, holder, "PROXY", holder_at)
    assert CYRILLIC.search(offer.subject.replace("Отказ от доверенности", ""))
    assert act(stack, DECLINE, proxy["id"], holder)["declineProxy"]["status"] == "DECLINED"
    [declined] = wait_received(stack, granter, "PROXY", granter_at)
    assert "отклонена" in declined.subject and name_of(stack, holder) in declined.text
    assert f"{PUBLIC_URL}/consultations/{c['id']}" in declined.text
    assert no_stance_value(declined.text, declined.html)
    close(stack, c["id"])


# ---- the reminder: exactly the awaiting members ------------------------------------------

def test_the_reminder_goes_to_the_awaiting_members_not_to_a_granter_whose_holder_cast(stack):
    """A hidden round (its stance_cast events carry no value) of 60 s: the
    reminder comes about 24 s after it opens (REMINDER_HOURS 0.01 in the
    tests' stack)."""
    people = coalition_of(stack, 4)
    (granter, granter_at), (holder, holder_at), (voted, voted_at), (silent, silent_at) = people
    c = open_consultation(stack, title="Remind the awaiting", closesAt=soon(60),
                          resultsVisibility="HIDDEN_UNTIL_CLOSED")
    proxy = grant(stack, c["id"], granter, holder)
    act(stack, ACCEPT, proxy["id"], holder)
    cast_for(stack, c["id"], holder, granter, "AGREE")
    cast_for(stack, c["id"], voted, None, "STAND_ASIDE")
    awaiting = {m["id"] for m in stack.gql(AWAITING, {"id": c["id"]},
                                           stack.admin())["consultation"]["awaiting"]}
    assert awaiting == {holder, silent}

    [to_holder] = wait_received(stack, holder, "REMINDER", holder_at, timeout=45)
    [to_silent] = wait_received(stack, silent, "REMINDER", silent_at, timeout=45)
    assert "Remind the awaiting" in to_silent.subject + to_silent.text
    # the reminder's mails are queued in one transaction: the others' would be there now
    assert not mails(stack, recipient=granter, kind="REMINDER")
    assert not mails(stack, recipient=voted, kind="REMINDER")
    reminded = {m["recipient"] for m in stack.db("notifications").mails.find(
        {"kind": "REMINDER", "link": f"{PUBLIC_URL}/consultations/{c['id']}"})}
    assert reminded == awaiting
    assert not received_of(stack, granter, "REMINDER", granter_at)
    assert not received_of(stack, voted, "REMINDER", voted_at)
    for message in (to_holder, to_silent):
        assert no_stance_value(message.subject, message.text, message.html)
    # who responded is kept, never how, and never the holder for its granter
    responses = list(stack.db("notifications").responses.find({"consultation_id": c["id"]}))
    assert {r["_id"].rsplit(":", 1)[1] for r in responses} == {granter, voted}
    assert all(set(r) == {"_id", "consultation_id", "round", "at"} for r in responses)
    wait_for(lambda: len(mails(stack, recipient=granter, kind="PROXY")) == 2, 20, 0.1,
             "the granter told of the acceptance and the use")
    close(stack, c["id"])
