"""The web app's catalogue (services/web/i18n.py): the .pot holds every
message of the templates and views, every message has a checked Russian
translation, and pages render in both languages."""
import pytest

from services.common import i18n as common_i18n
from services.common.vocabulary import Language
from services.web import i18n
from tests.helpers import catalogues

WEB = i18n.HERE
SERVICES = WEB.parent
POT = WEB / "locale" / "messages.pot"
TRANSLATED = [language for language in Language if language != common_i18n.SOURCE_LANGUAGE]


def extracted():
    """The messages extracted anew, as `pybabel extract -F services/web/babel.cfg` does."""
    return catalogues.extracted(WEB / "babel.cfg", SERVICES)


def test_the_extraction_finds_templates_and_views():
    files = {path for message in extracted().values() for path, _ in message.locations}
    assert {"web/templates/base.html", "web/templates/signin/signin.html",
            "web/views/signin.py", "web/page.py"} <= files
    assert "Send sign-in code" in extracted()


def test_the_committed_pot_is_up_to_date():
    committed = catalogues.committed_ids(POT)
    fresh = set(extracted())
    assert committed == fresh, ("run the commands in services/web/i18n.py: "
                                f"missing {fresh - committed}, stale {committed - fresh}")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_checked_translation(language):
    path = common_i18n.catalogue_path(i18n.LOCALE_DIR, language)
    problems = catalogues.translation_problems(path, common_i18n.LOCALES[language],
                                               extracted(), catalogues.PERCENT)
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_the_catalogue_is_compiled_in_memory_only():
    assert not list((WEB / "locale").rglob("*.mo"))
    assert i18n.WORDS[Language.RU].gettext("Send sign-in code") != "Send sign-in code"


def test_dates_and_money_read_as_in_the_mails():
    en, ru = i18n.WORDS[Language.EN].filters, i18n.WORDS[Language.RU].filters
    assert en["when"]("2026-12-03T18:00:00+00:00") == "3 December 2026, 18:00 UTC"
    assert ru["when"]("2026-12-03T21:00:00+03:00").endswith("18:00 UTC")
    assert en["day"]("2026-12-03") == "3 December 2026"
    assert en["money"]("86454.20", "USD") == "86,454.20 USD"
    assert ru["money"]("86454.2", "USD") == "86\xa0454,20 USD"
    assert en["percent"](0.5) == "50%"
    assert en["when"](None) == ""
    with pytest.raises(ValueError):
        en["when"]("2026-12-03T18:00:00")  # no zone: never guessed
