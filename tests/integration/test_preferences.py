"""setPreferences through the real gateway and services (DOMAIN.md sections
6 and 7): a member's switches are kept by notifications and its language on
the member; the secretariat's are all notifications'. A refused request
changes nothing, and one cut short by an outage is completed by repeating
it with the same Idempotency-Key."""
import uuid

from services.common.vocabulary import SECRETARIAT
from tests.helpers.notifications import SET_PREFERENCES, founders_with_addresses
from tests.integration.test_gateway_limits import another_gateway
from tests.support import refusal, wait_for

LANGUAGE = "query($id: ID!) { member(id: $id) { language } }"
DEFAULTS = {"language": "EN", "consultationOpened": True, "reminders": True, "outcomes": True}


def set_preferences(stack, token, **changes):
    return stack.gql(SET_PREFERENCES, {"i": changes}, token)["setPreferences"]


def language(stack, member_id):
    return stack.gql(LANGUAGE, {"id": member_id}, stack.admin())["member"]["language"]


def kept(stack, member_id):
    """What each service keeps: (the member's language, notifications' switches)."""
    doc = stack.db("notifications").preferences.find_one({"_id": member_id}) or {}
    return language(stack, member_id), {k: doc.get(k, True) for k in
                                        ("consultation_opened", "reminders", "outcomes")}


UNCHANGED = ("EN", {"consultation_opened": True, "reminders": True, "outcomes": True})


def test_a_members_switches_are_notifications_and_its_language_the_members(stack):
    [(member_id, _)] = founders_with_addresses(stack, 1)
    token = stack.member_token(member_id)
    assert set_preferences(stack, token, language="RU", reminders=False) == {
        **DEFAULTS, "language": "RU", "reminders": False}
    assert kept(stack, member_id) == ("RU", {**UNCHANGED[1], "reminders": False})
    # the language alone changes no switch; nothing given reads them
    assert set_preferences(stack, token, language="EN")["reminders"] is False
    assert set_preferences(stack, token) == {**DEFAULTS, "reminders": False}
    assert kept(stack, member_id) == ("EN", {**UNCHANGED[1], "reminders": False})


def test_the_secretariats_language_and_switches_are_notifications(stack):
    [(member_id, _)] = founders_with_addresses(stack, 1)
    try:
        assert set_preferences(stack, stack.admin(), language="RU", outcomes=False) == {
            **DEFAULTS, "language": "RU", "outcomes": False}
        doc = stack.db("notifications").preferences.find_one({"_id": SECRETARIAT})
        assert (doc["language"], doc["outcomes"]) == ("RU", False)
        assert language(stack, member_id) == "EN"  # no member's
    finally:
        set_preferences(stack, stack.admin(), language="EN", outcomes=True)


def test_a_refused_request_changes_nothing(stack):
    [(member_id, _)] = founders_with_addresses(stack, 1)
    token = stack.member_token(member_id)
    for bad in ({"language": "FR", "reminders": False},
                {"language": "RU", "reminders": "no"},
                {"language": "RU", "outcomes": False, "colour": "red"}):
        r = stack.post(SET_PREFERENCES, {"i": bad}, token)
        assert r.status_code == 400 and refusal(r.json())[0] == "BAD_USER_INPUT", r.text
    assert kept(stack, member_id) == UNCHANGED
    # withdrawn behind the back of the gateway's status cache (just filled):
    # refused before anything changes, not after the switches
    set_preferences(stack, token)
    with stack.rpc() as rpc:
        rpc.members.withdraw_membership(member_id, "preferences test")
    r = stack.post(SET_PREFERENCES, {"i": {"language": "RU", "reminders": False}}, token)
    assert refusal(r.json())[0] == "UNAUTHENTICATED", r.text
    assert kept(stack, member_id) == UNCHANGED


def test_an_outage_between_is_completed_by_repeating_with_the_same_key(stack):
    """notifications stopped: the switches' call waits in its queue and the
    gateway gives up; the language is not changed meanwhile. Back up, the
    waiting call runs; the repeat under the same key completes the language
    and does not run the switches' call again."""
    [(member_id, _)] = founders_with_addresses(stack, 1)
    token, key = stack.member_token(member_id), uuid.uuid4().hex
    variables = {"i": {"language": "RU", "reminders": False}}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    with another_gateway(stack, RPC_TIMEOUT_SECONDS="2") as url:
        stack.stack.ctl("stop", "notifications", check=True)
        try:
            r = stack.http.post(url + "/graphql", json={"query": SET_PREFERENCES,
                                                        "variables": variables},
                                headers=headers, timeout=60)
            assert refusal(r.json())[0] == "SERVICE_UNAVAILABLE", r.text
            assert language(stack, member_id) == "EN"  # nothing half-done before the outage
        finally:
            stack.stack.ctl("start", "notifications", check=True)
        wait_for(lambda: kept(stack, member_id)[1]["reminders"] is False, 30, 0.2,
                 "the waiting call run")
        switched = stack.db("notifications").preferences.find_one({"_id": member_id})
        again = stack.http.post(url + "/graphql", json={"query": SET_PREFERENCES,
                                                        "variables": variables},
                                headers=headers, timeout=60)
    assert again.status_code == 200 and not again.json().get("errors"), again.text
    assert again.json()["data"]["setPreferences"] == {**DEFAULTS, "language": "RU",
                                                      "reminders": False}
    assert kept(stack, member_id) == ("RU", {**UNCHANGED[1], "reminders": False})
    # the switches' call was answered from what it did, not done again
    assert stack.db("notifications").preferences.find_one({"_id": member_id}) == switched
