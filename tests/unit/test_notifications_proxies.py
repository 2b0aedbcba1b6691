"""Proxies in the notifications (DOMAIN.md section 9): who is told of a
proxy's change and in which words (services/notifications/proxies.py and the
PROXY template), and who a stance cast by proxy counts for in the reminder."""
import inspect

import pytest

from services.common import events
from services.common.vocabulary import Language, NotificationKind, StanceValue
from services.notifications import content, domain, proxies
from services.notifications.content import render

K = NotificationKind
URL = "https://coalition.example.org/"
LINK = "https://coalition.example.org/consultations/c%2F41"
GRANTER, HOLDER = "m-granter", "m-holder"


def proxy_data(status="OFFERED", actor=GRANTER, **changes):
    """A ProxyChanged event's data, checked against the events catalogue."""
    data = {"proxy_id": "p1", "consultation_id": "c/41", "round": 2, "granter_id": GRANTER,
            "holder_id": HOLDER, "status": status, "actor": actor,
            "title": "Budget lines 2027", **changes}
    return events.validate_data("proxy_offered", data)


def context(event="proxy_offered", name="Harm Reduction Network", **changes):
    return proxies.proxy_context(event, proxy_data(**changes), name, URL)


# ---- who is told ----------------------------------------------------------------------

def test_each_proxy_notice_has_its_recipient_and_revoked_tells_no_one():
    assert set(proxies.TOLD) == set(events.PROXY_NOTICES)
    assert set(events.PROXY_NOTICES) <= set(events.PROXY_EVENTS)
    assert proxies.proxy_parties("proxy_revoked", proxy_data("REVOKED")) is None
    assert proxies.proxy_parties("stance_cast", proxy_data()) is None


def test_an_offer_tells_the_holder_about_the_granter():
    parties = proxies.proxy_parties("proxy_offered", proxy_data())
    assert parties == proxies.Parties(recipient=HOLDER, other=GRANTER)


@pytest.mark.parametrize("event,status", [("proxy_accepted", "ACCEPTED"),
                                          ("proxy_declined", "DECLINED"),
                                          ("proxy_used", "USED")])
def test_acceptance_refusal_and_use_tell_the_granter_about_the_holder(event, status):
    parties = proxies.proxy_parties(event, proxy_data(status, actor=HOLDER))
    assert parties == proxies.Parties(recipient=GRANTER, other=HOLDER)


def test_proxy_notifications_are_always_sent():
    everything_off = {"consultation_opened": False, "reminders": False, "outcomes": False}
    assert domain.opt_out_switch(K.PROXY) is None
    assert domain.receives(everything_off, K.PROXY)


def test_the_service_handles_exactly_the_proxy_notices():
    from services.notifications.service import NotificationsService
    handler = dict(inspect.getmembers(NotificationsService))["on_proxy_event"]
    assert {event for _, event in handler.__subscriptions__} == set(events.PROXY_NOTICES)
    assert {source for source, _ in handler.__subscriptions__} == {"consultations"}


# ---- what it says -------------------------------------------------------------------------

def test_the_context_names_the_event_the_consultation_and_the_other_member():
    assert context() == {"event": "proxy_offered", "title": "Budget lines 2027", "round": 2,
                         "other_name": "Harm Reduction Network", "link": LINK,
                         "preferences_link": "https://coalition.example.org/preferences"}
    assert content.CONTEXTS[K.PROXY] == set(context())
    assert content.EVENTS[K.PROXY] == set(events.PROXY_NOTICES)


def test_an_unknown_or_empty_name_is_none_and_a_missing_title_empty_text():
    assert context(name=None)["other_name"] is None
    assert context(name="")["other_name"] is None
    data = {**proxy_data(), "title": None}
    assert proxies.proxy_context("proxy_used", data, None, URL)["title"] == ""


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("event", events.PROXY_NOTICES)
def test_each_event_renders_with_the_name_the_title_and_the_link(event, language):
    mail = render(K.PROXY, language, context(event))
    assert "Budget lines 2027" in mail.subject
    assert "Harm Reduction Network" in mail.text and "Harm Reduction Network" in mail.html
    assert "Budget lines 2027" in mail.text and LINK in mail.text and f'href="{LINK}"' in mail.html
    assert ("round 2" if language == Language.EN else "раунд 2") in mail.text
    assert mail.text.rstrip().endswith("/preferences")


@pytest.mark.parametrize("language", list(Language))
def test_each_event_has_its_own_subject_and_text(language):
    mails = [render(K.PROXY, language, context(event)) for event in events.PROXY_NOTICES]
    assert len({mail.subject for mail in mails}) == len(events.PROXY_NOTICES)
    assert len({mail.text for mail in mails}) == len(events.PROXY_NOTICES)


def test_english_and_russian_say_who_offers_and_who_accepted():
    offered = render(K.PROXY, Language.EN, context())
    assert offered.subject == "Proxy offered to you: Budget lines 2027"
    assert "offered the proxy of Harm Reduction Network for round 2" in offered.text
    assert "accept or decline" in offered.text
    accepted = render(K.PROXY, Language.EN, context("proxy_accepted"))
    assert "was accepted by Harm Reduction Network." in accepted.text
    russian = render(K.PROXY, Language.RU, context())
    assert russian.subject == "Вам предложена доверенность в консультации «Budget lines 2027»"
    assert "её предлагает Harm Reduction Network." in russian.text
    used = render(K.PROXY, Language.RU, context("proxy_used"))
    assert "использована" in used.text and "(Harm Reduction Network)" in used.text


@pytest.mark.parametrize("language,neutral", [(Language.EN, "another member of the coalition"),
                                              (Language.RU, "другой участник коалиции")])
def test_a_member_not_heard_of_yet_is_named_neutrally(language, neutral):
    for event in events.PROXY_NOTICES:
        mail = render(K.PROXY, language, context(event, name=None))
        assert neutral in mail.text and neutral in mail.html and "None" not in mail.text


def test_names_and_titles_are_escaped_in_html_and_kept_in_text():
    mail = render(K.PROXY, Language.EN, context(name="Aid <Net> & co", title="A <b>title</b>"))
    assert "Aid <Net> & co" in mail.text and "Aid &lt;Net&gt; &amp; co" in mail.html
    assert "<b>" not in mail.html and "A &lt;b&gt;title&lt;/b&gt;" in mail.html


def test_no_proxy_mail_shows_a_stance_value_and_a_context_cannot_carry_one():
    for event in events.PROXY_NOTICES:
        for language in Language:
            mail = render(K.PROXY, language, context(event))
            for stance in StanceValue:
                assert stance not in mail.text and stance not in mail.html
    with pytest.raises(ValueError):
        render(K.PROXY, Language.EN, {**context(), "value": StanceValue.BLOCK})
    with pytest.raises(ValueError):
        render(K.PROXY, Language.EN, context(event="proxy_revoked"))
    with pytest.raises(ValueError):
        render(K.PROXY, Language.EN, {**context(), "other_name": 7})


# ---- reminders: a stance by proxy is the granter's response ---------------------------------

def stance_cast(member_id, cast_by=None, value=None):
    """A stance_cast event's data as consultations emits it (value None: hidden round)."""
    return events.validate_data("stance_cast", {
        "consultation_id": "c1", "round": 1, "member_id": member_id, "value": value,
        "replaced": False, "cast_by": cast_by})


def test_a_stance_by_proxy_is_the_granters_response_not_the_holders():
    assert proxies.responder(stance_cast(GRANTER, cast_by=HOLDER)) == GRANTER
    assert proxies.responder(stance_cast(HOLDER)) == HOLDER
    assert proxies.responder(stance_cast(GRANTER, value=StanceValue.AGREE)) == GRANTER


def test_the_reminder_goes_to_the_awaiting_members_that_can_still_respond():
    """awaiting = the snapshot less those who responded; a proxy's granter has
    responded when its holder cast for it, the holder has not."""
    snapshot = [GRANTER, HOLDER, "m-voted", "m-silent", "m-suspended"]
    casts = [stance_cast(GRANTER, cast_by=HOLDER), stance_cast("m-voted", value="AGREE")]
    responded = {proxies.responder(data) for data in casts}
    awaiting = [member for member in snapshot if member not in responded]
    assert awaiting == [HOLDER, "m-silent", "m-suspended"]
    assert domain.reminder_recipients(snapshot, responded, {"m-suspended"}) == [
        HOLDER, "m-silent"]


def test_nothing_in_the_notifications_reads_a_stance_value():
    """stance_cast's value may be None (a hidden round): the handler keeps who
    responded only, and no function of the service reads `value`."""
    from services.notifications import dependencies, service
    for module in (service, dependencies, domain, proxies):
        source = inspect.getsource(module)
        assert '["value"]' not in source and '.get("value")' not in source
