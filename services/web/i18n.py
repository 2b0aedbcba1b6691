"""The web app's words in each language: its Babel catalogue and the Jinja2
environment of each language (autoescape, the i18n extension, the filters).

English is the source: the msgids of templates/ and of the views. Russian is
locale/ru/LC_MESSAGES/messages.po, compiled in memory when this module is
imported (services/common/i18n.py); tests/unit/test_web_i18n.py fails while
any message has no Russian, or the .pot is not current.

Updating the catalogue after a template or a marked string changed (from the
repository's root):

    .venv/bin/pybabel extract -F services/web/babel.cfg --project=coalition \\
        -o services/web/locale/messages.pot services
    .venv/bin/pybabel update -i services/web/locale/messages.pot \\
        -d services/web/locale --ignore-obsolete
    # translate the new entries of locale/ru/LC_MESSAGES/messages.po, check
    # and unmark the ones update marked `#, fuzzy`, then run the tests

Filters, for values as the API gives them (ISO strings, Decimal strings):
`when` (a moment: "3 December 2026, 18:00 UTC"), `day` ("3 December 2026"),
`money(currency)` ("86,454.20 USD"), `number`, `percent` (0.5 -> "50%").
"""
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Final, Mapping

from babel.numbers import format_percent
from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.common import i18n
from services.common.vocabulary import Language

HERE: Final = Path(__file__).resolve().parent
TEMPLATES: Final = HERE / "templates"
LOCALE_DIR: Final = HERE / "locale"


def _moment(value: str | datetime) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _day(value: str | date) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value


def filters(language: Language) -> dict[str, Callable[..., str]]:
    """The formatting filters of one language (None shows as an empty string)."""
    locale = i18n.locale_of(language)

    def unless_none(show: Callable[..., str]) -> Callable[..., str]:
        return lambda value, *args: "" if value is None else show(value, *args)

    return {
        "when": unless_none(lambda v: i18n.when(_moment(v), locale)),
        "day": unless_none(lambda v: i18n.day(_day(v), locale)),
        "money": unless_none(lambda v, currency=None: i18n.money(Decimal(v), currency, locale)),
        "number": unless_none(lambda v: i18n.number(v, locale)),
        "percent": unless_none(lambda v: format_percent(Decimal(str(v)), locale=locale)),
    }


def environment(language: Language, translations: NullTranslations) -> Environment:
    """The Jinja2 environment of one language's pages."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(filters(language))
    env.globals.update(lang=language.lower())
    return env


class Words:
    """One language's translations, environment and filters."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self.translations = i18n.compile_catalogue(LOCALE_DIR, language)
        self.env = environment(language, self.translations)
        self.filters = self.env.filters

    def gettext(self, message: str, **values: Any) -> str:
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text % {"num": n, **values}


# compiled at import: a broken catalogue stops the gateway at its start
WORDS: Final[Mapping[Language, Words]] = {language: Words(language) for language in Language}
