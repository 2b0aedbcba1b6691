"""The words of notifications (services/notifications/content.py): every kind
in every language, the catalogues complete and current, escaping, dates,
money, plurals and the contexts refused."""
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2.exceptions import UndefinedError

from services.common.explanations import SENTENCES, sentence
from services.common.vocabulary import Language, NotificationKind, Outcome, StanceValue
from services.notifications import content
from services.notifications.content import CONTEXTS, EVENTS, render
from tests.helpers import catalogues

K = NotificationKind
SERVICES = Path(content.__file__).resolve().parents[1]
NOTIFICATIONS = SERVICES / "notifications"
POT = NOTIFICATIONS / "locale" / "messages.pot"
TRANSLATED = [language for language in Language if language != content.SOURCE_LANGUAGE]
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)

BASE = "https://coalition.example.org"
CLOSES_AT = datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc)
FOOTER = {"preferences_link": f"{BASE}/preferences"}
EXPLANATION_PARAMS = {
    "no_quorum": {"responded": 3, "eligible": 12, "needed": 6},
    "blocked": {"block": 2},
    "below_threshold": {"consenting": 4, "deciding": 7, "threshold": 0.67},
    "none_consented": {},
    "adopted": {"agree": 5, "reservations": 1},
    "late": {},
}

# kind -> (a sample context, the key that names what the mail is about)
SAMPLES = {
    K.CONSULTATION_OPENED: ({"title": "Budget lines 2027", "proposal": "Share the grant:\n\n"
                             "- 60% to the regional networks\n- 40% to the national ones",
                             "round": 2, "closes_at": CLOSES_AT,
                             "link": f"{BASE}/consultations/c-41", **FOOTER}, "title"),
    K.REMINDER: ({"title": "Budget lines 2027", "closes_at": CLOSES_AT,
                  "link": f"{BASE}/consultations/c-41", **FOOTER}, "title"),
    K.ROUND_CLOSED: ({"title": "Budget lines 2027", "round": 1, "outcome": Outcome.BLOCKED,
                      "explanation": {"key": "blocked", "params": {"block": 2}},
                      "link": f"{BASE}/consultations/c-41", **FOOTER}, "title"),
    K.MEMBERSHIP: ({"event": "member_admitted", "member_name": "Harm Reduction Network",
                    "note": None, "for_secretariat": False,
                    "link": f"{BASE}/members/m-7", **FOOTER}, "member_name"),
    K.ALLOCATION: ({"event": "allocation_approved", "grant_title": "Robert Carr Fund 2026",
                    "amount": "86454.20", "currency": "USD",
                    "link": f"{BASE}/grants/g-3#allocation-a-9", **FOOTER}, "grant_title"),
    K.PROXY: ({"event": "proxy_offered", "title": "Budget lines 2027", "round": 2,
               "other_name": "Harm Reduction Network",
               "link": f"{BASE}/consultations/c-41", **FOOTER}, "title"),
    K.REPORT: ({"event": "report_changes_requested", "grant_title": "Robert Carr Fund 2026",
                "due_on": date(2026, 12, 11), "note": "Please add the people reached.",
                "link": f"{BASE}/reports/r-5", **FOOTER}, "grant_title"),
    K.SIGN_IN: ({"code": "K7QF-2M9D", "link": f"{BASE}/signin?code=K7QF-2M9D",
                 "minutes": 30, "invited": None, "signin_link": f"{BASE}/signin"}, "code"),
}
INVITATION = {**SAMPLES[K.SIGN_IN][0], "invited": "Aigul <Sadykova> & co"}


def sample(kind, **changes):
    return {**SAMPLES[kind][0], **changes}


class Visible(HTMLParser):
    """The text a reader sees in an HTML part's body, and its links."""

    def __init__(self):
        super().__init__()
        self.in_body, self.words, self.links, self.tags = False, [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.in_body = self.in_body or tag == "body"
        if tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_data(self, data):
        if self.in_body:
            self.words.extend(data.split())


def visible(html):
    parser = Visible()
    parser.feed(html)
    return parser


def every_rendering():
    return [(kind, language) for kind in SAMPLES for language in Language]


# ---- every kind, every language ---------------------------------------------------------

def test_every_kind_has_content_and_a_sample():
    assert set(SAMPLES) == set(CONTEXTS) == set(K)


@pytest.mark.parametrize("kind,language", every_rendering())
def test_every_kind_renders_in_every_language(kind, language):
    context, named = SAMPLES[kind]
    mail = render(kind, language, context)
    assert mail.subject and mail.text and mail.html
    assert "\n" not in mail.subject and len(mail.subject) < 120
    assert context["link"] in mail.text
    assert f'href="{escape(context["link"])}"' in mail.html
    assert context[named] in mail.text and escape(context[named]) in mail.html
    if kind != K.SIGN_IN:  # a sign-in code stays out of the subject
        assert context[named] in mail.subject
    else:
        assert context[named] not in mail.subject
    if "closes_at" in context:
        assert "18:00 UTC" in mail.text and "18:00 UTC" in mail.html
    if language != Language.EN:
        assert CYRILLIC.search(mail.subject) and CYRILLIC.search(mail.text)
        assert CYRILLIC.search(mail.html)
    else:
        assert not CYRILLIC.search(mail.text)


@pytest.mark.parametrize("kind,language", every_rendering())
def test_every_mail_but_sign_in_ends_with_the_unsubscribe_line(kind, language):
    mail = render(kind, language, SAMPLES[kind][0])
    preferences = FOOTER["preferences_link"]
    if kind == K.SIGN_IN:
        assert preferences not in mail.text and preferences not in mail.html
        return
    last_lines = mail.text.strip().splitlines()[-3:]
    assert last_lines[0] == "-- " and last_lines[-1].endswith(f": {preferences}")
    assert visible(mail.html).links[-1] == preferences


@pytest.mark.parametrize("kind,language", every_rendering())
def test_the_html_part_says_what_the_text_says(kind, language):
    mail = render(kind, language, SAMPLES[kind][0])
    seen = visible(mail.html)
    text = mail.text.replace("\n-- \n", "\n")
    for link in seen.links:
        text = text.replace(f": {link}", "")
    assert seen.words == text.split()
    assert f'<html lang="{language.lower()}">' in mail.html
    assert "img" not in seen.tags and "script" not in seen.tags
    assert all(link.startswith(BASE) for link in seen.links)


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_only_the_sign_in_mail_links_to_an_action(kind):
    links = set(visible(render(kind, Language.EN, SAMPLES[kind][0]).html).links)
    if kind == K.SIGN_IN:
        assert links == {f"{BASE}/signin?code=K7QF-2M9D"}
    else:
        assert not any("code=" in link or "signin" in link for link in links)


@pytest.mark.parametrize("kind,events", list(EVENTS.items()))
def test_each_event_has_its_own_subject_and_sentence(kind, events):
    for language in Language:
        mails = [render(kind, language, sample(kind, event=event)) for event in sorted(events)]
        assert len({mail.subject for mail in mails}) == len(events)
        assert len({mail.text for mail in mails}) == len(events)


def test_the_secretariat_hears_of_an_application_in_its_own_words():
    context = sample(K.MEMBERSHIP, event="membership_applied")
    for language in Language:
        candidate = render(K.MEMBERSHIP, language, context)
        secretariat = render(K.MEMBERSHIP, language, {**context, "for_secretariat": True})
        assert candidate.subject != secretariat.subject
        assert candidate.text != secretariat.text


def test_a_note_is_shown_when_there_is_one():
    context = sample(K.MEMBERSHIP, event="member_suspended", note="Dues unpaid since March")
    assert "Note: Dues unpaid since March" in render(K.MEMBERSHIP, Language.EN, context).text
    assert "Примечание: Dues unpaid since March" in render(K.MEMBERSHIP, Language.RU,
                                                          context).text


# ---- outcomes and explanations ----------------------------------------------------------

@pytest.mark.parametrize("outcome", list(Outcome))
def test_a_closed_round_gives_its_outcome_in_words(outcome):
    context = sample(K.ROUND_CLOSED, outcome=outcome, explanation=None)
    words = {Outcome.ADOPTED: "принято", Outcome.BLOCKED: "заблокировано",
             Outcome.NO_QUORUM: "нет кворума", Outcome.NOT_ADOPTED: "не принято"}
    english = render(K.ROUND_CLOSED, Language.EN, context)
    russian = render(K.ROUND_CLOSED, Language.RU, context)
    assert f"Outcome: {content.OUTCOME_WORDS[outcome]}.\n" in english.text
    assert f"Итог: {words[outcome]}.\n" in russian.text
    assert russian.subject.startswith(words[outcome].capitalize() + ": «Budget lines 2027»")
    assert outcome not in english.text


@pytest.mark.parametrize("key", sorted(SENTENCES))
def test_the_explanation_follows_the_outcome_in_each_language(key):
    params = EXPLANATION_PARAMS[key]
    context = sample(K.ROUND_CLOSED, explanation={"key": key, "params": params})
    english = render(K.ROUND_CLOSED, Language.EN, context).text
    russian = render(K.ROUND_CLOSED, Language.RU, context).text
    assert f"Outcome: blocked. {sentence(key, params)}\n" in english
    ru_sentence = russian.split("Итог: заблокировано. ")[1].splitlines()[0]
    assert CYRILLIC.search(ru_sentence) and ru_sentence != sentence(key, params)
    assert all(str(value).replace(".", ",") in ru_sentence for value in params.values())


def test_the_explanations_are_the_russian_sentences_of_the_catalogue():
    translations = content.compile_catalogue(Language.RU)
    context = sample(K.ROUND_CLOSED, explanation={"key": "no_quorum",
                                                  "params": EXPLANATION_PARAMS["no_quorum"]})
    expected = sentence("no_quorum", EXPLANATION_PARAMS["no_quorum"], translations.gettext)
    assert expected == "Ответов: 3 из 12; для кворума требовалось 6."
    assert expected in render(K.ROUND_CLOSED, Language.RU, context).text


def test_no_mail_shows_a_stance_value():
    """A context never carries one (refused below); no template names one."""
    for kind, language in every_rendering():
        mail = render(kind, language, SAMPLES[kind][0])
        for stance in StanceValue:
            assert stance not in mail.text and stance not in mail.html
    with pytest.raises(ValueError):
        render(K.ROUND_CLOSED, Language.EN, sample(K.ROUND_CLOSED, stance=StanceValue.BLOCK))


# ---- dates, money, plurals --------------------------------------------------------------

def test_dates_are_in_utc_with_the_zone_named_in_the_readers_language():
    in_moscow = CLOSES_AT.astimezone(timezone(timedelta(hours=3)))
    context = sample(K.REMINDER, closes_at=in_moscow)
    english = render(K.REMINDER, Language.EN, context)
    russian = render(K.REMINDER, Language.RU, context)
    assert english.subject == "Reminder: Budget lines 2027 closes 3 December 2026, 18:00 UTC"
    assert "Responses are open until 3 December 2026, 18:00 UTC." in english.text
    assert russian.subject.endswith(
        "«Budget lines 2027» закрывается 3 декабря 2026\u202fг., 18:00 UTC")
    assert "Ответы принимаются до 3 декабря 2026\u202fг., 18:00 UTC." in russian.text


def test_a_date_without_a_zone_is_refused():
    with pytest.raises(ValueError):
        render(K.REMINDER, Language.EN, sample(K.REMINDER, closes_at=datetime(2026, 12, 3, 18)))


def test_money_is_exact_with_its_currency_code():
    context = sample(K.ALLOCATION, amount="1234567.05", currency="EUR")
    assert "Amount: 1,234,567.05 EUR\n" in render(K.ALLOCATION, Language.EN, context).text
    assert "Сумма: 1\xa0234\xa0567,05 EUR\n" in render(K.ALLOCATION, Language.RU, context).text
    assert content.money(Decimal("0.10"), "USD", content.Locale.parse("en_GB")) == "0.10 USD"
    with pytest.raises(ValueError):
        content.money(86454.2, "USD", content.Locale.parse("en_GB"))


def test_no_amount_no_amount_line():
    context = sample(K.ALLOCATION, event="allocation_held", amount=None, currency=None)
    assert "Amount" not in render(K.ALLOCATION, Language.EN, context).text


@pytest.mark.parametrize("minutes,english,russian", [
    (1, "1 minute", "1 минуту"), (3, "3 minutes", "3 минуты"), (30, "30 minutes", "30 минут"),
    (21, "21 minutes", "21 минуту"), (12, "12 minutes", "12 минут")])
def test_the_sign_in_minutes_take_the_plural_of_each_language(minutes, english, russian):
    context = sample(K.SIGN_IN, minutes=minutes)
    assert f"valid for {english} and can be used once" in render(K.SIGN_IN, "EN", context).text
    assert f"Код действует {russian}," in render(K.SIGN_IN, "RU", context).text


def test_the_sign_in_mail_gives_the_code_the_link_and_what_to_do_if_unasked():
    mail = render(K.SIGN_IN, Language.EN, SAMPLES[K.SIGN_IN][0])
    assert "\n    K7QF-2M9D\n" in mail.text
    assert "If you did not ask to sign in, you can ignore this e-mail." in mail.text
    assert "-- " not in mail.text.splitlines()


def test_a_sign_in_mail_is_no_invitation_without_a_name():
    for language in Language:
        mail = render(K.SIGN_IN, language, SAMPLES[K.SIGN_IN][0])
        assert "secretariat" not in mail.text and "секретариат" not in mail.text
        assert f"{BASE}/signin\n" not in mail.text  # only the link with the code


def test_an_invitation_welcomes_the_person_by_name_then_gives_the_code():
    mail = render(K.SIGN_IN, Language.EN, INVITATION)
    paragraphs = mail.text.strip().split("\n\n")
    assert paragraphs[0] == ("You have been added to the secretariat of the coalition as "
                             "Aigul <Sadykova> & co.")
    assert paragraphs[1] == "To sign in, enter this code:"
    assert "    K7QF-2M9D" in paragraphs
    assert ("Once it has expired, you can ask for a new code on the sign-in page: "
            f"{BASE}/signin") in paragraphs
    assert paragraphs[-1] == "If you did not expect this invitation, you can ignore this e-mail."
    assert "If you did not ask to sign in" not in mail.text
    assert mail.subject == render(K.SIGN_IN, Language.EN, SAMPLES[K.SIGN_IN][0]).subject
    assert "-- " not in mail.text.splitlines()
    # the name is escaped in HTML, and the two links are the code's and the page's
    assert "Aigul &lt;Sadykova&gt; &amp; co" in mail.html and "<Sadykova>" not in mail.html
    assert visible(mail.html).links == [f"{BASE}/signin?code=K7QF-2M9D", f"{BASE}/signin"]


def test_an_invitation_in_russian_and_its_html_says_what_its_text_says():
    mail = render(K.SIGN_IN, Language.RU, INVITATION)
    assert mail.text.startswith("Вас добавили в секретариат коалиции под именем "
                                "Aigul <Sadykova> & co.\n")
    assert f"новый код можно запросить на странице входа: {BASE}/signin\n" in mail.text
    for language in Language:
        mail = render(K.SIGN_IN, language, INVITATION)
        seen = visible(mail.html)
        text = mail.text
        for link in seen.links:
            text = text.replace(f": {link}", "")
        assert seen.words == text.split()


def test_an_invited_name_that_is_not_text_is_refused():
    with pytest.raises(ValueError, match="invited"):
        render(K.SIGN_IN, Language.EN, sample(K.SIGN_IN, invited=42))


# ---- escaping and refused contexts ------------------------------------------------------

def test_a_title_is_escaped_in_html_and_kept_in_text():
    title = "<script>alert('x')</script> & co"
    for kind in (K.CONSULTATION_OPENED, K.REMINDER, K.ROUND_CLOSED):
        mail = render(kind, Language.RU, sample(kind, title=title))
        assert "<script>" not in mail.html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in mail.html
        assert title in mail.text and title in mail.subject
        assert title in " ".join(visible(mail.html).words)


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_a_missing_context_key_is_an_error_not_a_blank(kind):
    for key in CONTEXTS[kind]:
        context = sample(kind)
        del context[key]
        with pytest.raises(UndefinedError, match=key):
            render(kind, Language.EN, context)


def test_the_templates_themselves_refuse_an_undefined_name():
    """StrictUndefined: a template that names a key the context lacks fails."""
    for environment in content.ENVIRONMENTS.values():
        with pytest.raises(UndefinedError):
            environment.get_template("reminder.jinja2").render(closes_at=CLOSES_AT, link="l")


def test_a_text_that_is_none_and_an_unknown_event_are_refused():
    with pytest.raises(ValueError, match="title"):
        render(K.CONSULTATION_OPENED, Language.EN, sample(K.CONSULTATION_OPENED, title=None))
    with pytest.raises(ValueError, match="event"):
        render(K.ALLOCATION, Language.EN, sample(K.ALLOCATION, event="grant_created"))
    with pytest.raises(ValueError):
        render(K.SIGN_IN, "FR", sample(K.SIGN_IN))


def test_a_title_on_several_lines_gives_a_one_line_subject():
    mail = render(K.CONSULTATION_OPENED, Language.EN,
                  sample(K.CONSULTATION_OPENED, title="Budget\n lines\r\n2027"))
    assert mail.subject == "Consultation open: Budget lines 2027"


# ---- the catalogues ---------------------------------------------------------------------

def extracted():
    """The messages of the templates and python, extracted anew as
    `pybabel extract -F services/notifications/babel.cfg ... services` does."""
    return catalogues.extracted(NOTIFICATIONS / "babel.cfg", SERVICES)


def test_the_extraction_finds_the_templates_and_the_explanations():
    ids = extracted()
    assert set(SENTENCES.values()) <= set(ids)
    assert set(content.OUTCOME_WORDS.values()) <= set(ids)
    files = {path for message in ids.values() for path, _ in message.locations}
    assert {"notifications/templates/sign_in.jinja2", "notifications/templates/layout.txt",
            "notifications/content.py", "common/explanations.py"} <= files
    assert any(isinstance(message_id, tuple) for message_id in ids)  # {% pluralize %}


def test_the_committed_pot_is_up_to_date():
    committed = catalogues.committed_ids(POT)
    fresh = set(extracted())
    assert committed == fresh, ("run the commands in services/notifications/content.py: "
                                f"missing {fresh - committed}, stale {committed - fresh}")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_checked_translation(language):
    path = content.catalogue_path(language)
    problems = catalogues.translation_problems(path, content.LOCALES[language], extracted(),
                                               catalogues.PERCENT_OR_BRACES,
                                               markup_refused=True)
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_catalogues_are_compiled_in_memory_only():
    assert not list((NOTIFICATIONS / "locale").rglob("*.mo"))
    assert content.compile_catalogue(Language.RU).gettext("adopted") == "принято"
