"""Languages shown to people: Babel catalogues compiled in memory, and dates,
numbers and money in a language (DOMAIN.md sections 1, 7 and 8).

Used by the notifications' mails (services/notifications/content.py) and the
web app's pages (services/web/i18n.py), so a date or an amount reads the same
in a mail and on the page it links to.

Invariants:
- dates are shown in UTC with the zone named ("3 December 2026, 18:00 UTC",
  "3 декабря 2026 г., 18:00 UTC"): a naive datetime is refused, never guessed;
- money is exact (Decimal, never a float) with two decimals at least and its
  currency code;
- a catalogue is compiled from its .po (read_po -> write_mo -> Translations)
  when it is loaded; no .mo file is kept and fuzzy entries are not used; the
  source language (English) needs none: its msgids are its text.
"""
from datetime import date, datetime, timezone
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Final, Mapping

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from services.common.vocabulary import Language

DOMAIN: Final = "messages"
SOURCE_LANGUAGE: Final = Language.EN

# the Babel locale of each language: dates, numbers, plural rules
LOCALES: Final[Mapping[Language, str]] = {Language.EN: "en_GB", Language.RU: "ru"}


def catalogue_path(locale_dir: Path, language: Language) -> Path:
    """Where `language`'s catalogue of a package lies: <dir>/<code>/LC_MESSAGES/messages.po."""
    return locale_dir / language.lower() / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogue(locale_dir: Path, language: Language) -> NullTranslations:
    """The translations of `language`, compiled in memory from its .po."""
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    with catalogue_path(locale_dir, language).open("rb") as po:
        catalogue = read_po(po, locale=LOCALES[language], domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def locale_of(language: Language) -> Locale:
    return Locale.parse(LOCALES[language])


def when(moment: datetime, locale: Locale) -> str:
    """An aware datetime in UTC, the zone named: "3 December 2026, 18:00 UTC"."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"a date to show must be an aware datetime, not {moment!r}")
    utc = moment.astimezone(timezone.utc)
    joined = locale.datetime_formats["medium"].format(format_time(utc, "HH:mm", locale=locale),
                                                      format_date(utc, "long", locale=locale))
    return f"{joined} UTC"


def day(value: date, locale: Locale) -> str:
    """A calendar date in words: "3 December 2026", "3 декабря 2026 г."."""
    if isinstance(value, datetime):
        raise ValueError("a day to show is a date, not a datetime")
    return format_date(value, "long", locale=locale)


def number(value: int | float | str | Decimal, locale: Locale) -> str:
    """A number in the locale's digits ("1 000", "0,75"), as written (a float by
    its repr, so 0.67 stays 0.67)."""
    return format_decimal(Decimal(str(value)), locale=locale, decimal_quantization=False)


def money(amount: str | Decimal, currency: str | None, locale: Locale) -> str:
    """An exact amount ("86454.20") with two decimals at least and its
    currency code: "86,454.20 USD", "86 454,20 USD"."""
    if isinstance(amount, float):
        raise ValueError("money is never a float")
    shown = format_decimal(Decimal(amount), format="#,##0.00", locale=locale,
                           decimal_quantization=False)
    return f"{shown} {currency}" if currency else shown
