"""What each notification says: its subject, plain text and HTML, in the
recipient's language (DOMAIN.md section 8).

`render(kind, language, context)` fills templates/<kind>.jinja2 twice: in a
text environment (no escaping) and in an HTML one (autoescape). The kind's
template extends `layout` (layout.txt or layout.html) and writes each
paragraph through the macros of `parts` (parts.txt or parts.html), so the two
parts say the same sentences by construction. Its `subject` block is the
subject. The contexts of each kind are listed in CONTEXTS.

Languages: English is the source (the msgids of templates and of
services/common/explanations.py). Every other Language has a Babel catalogue,
locale/<language>/LC_MESSAGES/messages.po, compiled in memory when this
module is imported (read_po -> write_mo -> babel.support.Translations); no
.mo file is kept, and fuzzy entries are not used. Templates use the Jinja2
i18n extension (newstyle gettext, trimmed blocks); a number shown next to a
noun goes through {% pluralize %} (Russian has three forms).

Invariants:
- a context holds exactly its kind's keys (CONTEXTS): a missing one is an
  UndefinedError (as StrictUndefined raises in a template), another key or a
  text that is not a string (None) a ValueError: never a blank or "None";
- so no context carries a stance value, and no template shows one;
- dates are shown in UTC with the zone named ("3 December 2026, 18:00 UTC",
  "3 декабря 2026 г., 18:00 UTC"; a report's due date, a calendar day, as
  "11 December 2026 (UTC)": overdue is counted in UTC days); money is exact (Decimal, never a float)
  with its currency code;
- every mail but SIGN_IN ends with the line that leads to the preferences
  page; only SIGN_IN lets its reader act (sign in) without signing in, the
  others only link to pages; a SIGN_IN mail with `invited` (an invitation to
  the secretariat) is the same mail with a welcome first and the sign-in
  page's link after its validity.

Updating the catalogues after a template or a marked string changed (from the
repository's root; tests/unit/test_notifications_content.py fails until the
.pot is current and every message has a checked translation):

    .venv/bin/pybabel extract -F services/notifications/babel.cfg --project=coalition \\
        -o services/notifications/locale/messages.pot services
    .venv/bin/pybabel update -i services/notifications/locale/messages.pot \\
        -d services/notifications/locale --ignore-obsolete
    # translate the new entries of locale/ru/LC_MESSAGES/messages.po, check
    # and unmark the ones update marked `#, fuzzy`, then run the tests

A new language: a member of Language, its Babel locale in LOCALES, and
`.venv/bin/pybabel init -i services/notifications/locale/messages.pot
-d services/notifications/locale -l <code>`.
"""
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, NamedTuple

from babel import Locale
from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from jinja2.exceptions import UndefinedError

from services.common import i18n
from services.common.events import PROXY_NOTICES
from services.common.explanations import N_, sentence
from services.common.i18n import LOCALES, SOURCE_LANGUAGE, money, number, when  # noqa: F401
from services.common.i18n import day
from services.common.vocabulary import Language, NotificationKind, Outcome
from services.notifications.reports import REPORT_MAILS

HERE: Final = Path(__file__).resolve().parent
TEMPLATES: Final = HERE / "templates"
LOCALE_DIR: Final = HERE / "locale"

K = NotificationKind

# the context of each kind, exactly these keys; those in TEXT_KEYS must be strings
CONTEXTS: Final[Mapping[NotificationKind, frozenset[str]]] = {
    K.CONSULTATION_OPENED: frozenset({"title", "proposal", "round", "closes_at", "link",
                                      "preferences_link"}),
    K.REMINDER: frozenset({"title", "closes_at", "link", "preferences_link"}),
    K.ROUND_CLOSED: frozenset({"title", "round", "outcome", "explanation", "link",
                               "preferences_link"}),
    K.MEMBERSHIP: frozenset({"event", "member_name", "note", "for_secretariat", "link",
                             "preferences_link"}),
    K.ALLOCATION: frozenset({"event", "grant_title", "amount", "currency", "link",
                             "preferences_link"}),
    K.PROXY: frozenset({"event", "title", "round", "other_name", "link", "preferences_link"}),
    K.REPORT: frozenset({"event", "grant_title", "due_on", "note", "link", "preferences_link"}),
    K.SIGN_IN: frozenset({"code", "link", "minutes", "invited", "signin_link"}),
}
TEXT_KEYS: Final = frozenset({"title", "proposal", "member_name", "grant_title", "link",
                              "preferences_link", "code", "signin_link"})
# keys that are a string or None (None: the paragraph that shows it is left out,
# or for other_name, "another member of the coalition" is said instead)
OPTIONAL_TEXT_KEYS: Final = frozenset({"invited", "other_name", "note"})

# the events a MEMBERSHIP, ALLOCATION, PROXY or REPORT notification may be about
EVENTS: Final[Mapping[NotificationKind, frozenset[str]]] = {
    K.MEMBERSHIP: frozenset({"membership_applied", "member_admitted", "member_rejected",
                             "member_suspended", "member_reinstated"}),
    K.ALLOCATION: frozenset({"allocation_approved", "allocation_rejected", "allocation_held",
                             "allocation_released", "disbursement_recorded"}),
    K.PROXY: frozenset(PROXY_NOTICES),
    K.REPORT: REPORT_MAILS,
}

# the outcome of a round in words, lower case ("Outcome: adopted.")
OUTCOME_WORDS: Final[Mapping[Outcome, str]] = {
    Outcome.ADOPTED: N_("adopted"),
    Outcome.BLOCKED: N_("blocked"),
    Outcome.NO_QUORUM: N_("no quorum"),
    Outcome.NOT_ADOPTED: N_("not adopted"),
}


class Rendered(NamedTuple):
    """One notification's words: a one-line subject, the plain text (also the
    in-app body) and the HTML part, which says the same as the text."""
    subject: str
    text: str
    html: str


def catalogue_path(language: Language) -> Path:
    return i18n.catalogue_path(LOCALE_DIR, language)


def compile_catalogue(language: Language) -> NullTranslations:
    """The translations of `language`, compiled in memory from its .po (the
    source language needs none: its msgids are its text)."""
    return i18n.compile_catalogue(LOCALE_DIR, language)


def explain(explanation: Mapping[str, Any], gettext: Callable[[str], str],
            locale: Locale) -> str:
    """The sentence of services/common/explanations.py in the recipient's
    language, its numbers in the locale's digits."""
    params = {name: number(value, locale)
              if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
              else value
              for name, value in explanation["params"].items()}
    return sentence(explanation["key"], params, gettext)


def environment(language: Language, html: bool) -> Environment:
    """The Jinja2 environment of one language and one part (text or HTML)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=html,
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.policies["ext.i18n.trimmed"] = True
    translations = compile_catalogue(language)
    # added by the i18n extension, so unknown to the type checker
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    locale = Locale.parse(LOCALES[language])
    part = "html" if html else "txt"
    env.globals.update(
        layout=f"layout.{part}", parts=f"parts.{part}", lang=language.lower(),
        outcome_word=lambda outcome: translations.gettext(OUTCOME_WORDS[Outcome(outcome)]),
        explain=lambda explanation: explain(explanation, translations.gettext, locale))
    env.filters.update(when=lambda moment: when(moment, locale),
                       day=lambda value: day(value, locale),
                       money=lambda amount, currency: money(amount, currency, locale))
    return env


# compiled at import: a broken catalogue stops the service at its start
ENVIRONMENTS: Final[Mapping[tuple[Language, bool], Environment]] = {
    (language, html): environment(language, html) for language in Language
    for html in (False, True)}


def check(kind: NotificationKind, context: Mapping[str, Any]) -> None:
    """Refuse a context that would make a wrong mail: a key missing
    (UndefinedError, as from a template), a key the kind does not take (so no
    stance value, or anything else, slips into a mail), a text that is not a
    string, an unknown event (ValueError)."""
    if kind not in CONTEXTS:
        raise ValueError(f"no content for {kind} notifications")
    missing, unknown = CONTEXTS[kind] - context.keys(), context.keys() - CONTEXTS[kind]
    if missing:
        raise UndefinedError(f"{kind} notification: no {', '.join(sorted(missing))} "
                             "in the context")
    if unknown:
        raise ValueError(f"{kind} notification: unknown {', '.join(sorted(unknown))}")
    for key in CONTEXTS[kind] & TEXT_KEYS:
        if not isinstance(context[key], str):
            raise ValueError(f"{kind} notification: {key} must be text, not "
                             f"{type(context[key]).__name__}")
    for key in CONTEXTS[kind] & OPTIONAL_TEXT_KEYS:
        if context[key] is not None and not isinstance(context[key], str):
            raise ValueError(f"{kind} notification: {key} must be text or None, not "
                             f"{type(context[key]).__name__}")
    if kind in EVENTS and context["event"] not in EVENTS[kind]:
        raise ValueError(f"{kind} notification: unknown event {context['event']!r}")


LINE_SPACE: Final = re.compile("[ \t\r\n\f\v\x85\u2028\u2029]+")


def subject_of(template: Template, context: Mapping[str, Any]) -> str:
    """The template's `subject` block, on one line (a title's line breaks
    become spaces; the locale's no-break spaces stay)."""
    block = template.blocks["subject"](template.new_context(dict(context)))
    return LINE_SPACE.sub(" ", "".join(block)).strip()


def tidy(text: str) -> str:
    """Paragraphs separated by one blank line, no trailing spaces but the
    signature separator's ("-- ")."""
    lines = [line if line == "-- " else line.rstrip() for line in text.strip().splitlines()]
    kept = [line for index, line in enumerate(lines)
            if line or (index > 0 and lines[index - 1])]
    return "\n".join(kept) + "\n"


def render(kind: NotificationKind | str, language: Language | str,
           context: Mapping[str, Any]) -> Rendered:
    """The subject, text and HTML of a `kind` notification in `language`
    (a ValueError for an unknown kind or language, or a kind without content)."""
    kind, language = NotificationKind(kind), Language(language)
    check(kind, context)
    name = f"{kind.lower()}.jinja2"
    text_template = ENVIRONMENTS[(language, False)].get_template(name)
    html_template = ENVIRONMENTS[(language, True)].get_template(name)
    return Rendered(subject=subject_of(text_template, context),
                    text=tidy(text_template.render(context)),
                    html=html_template.render(context))
