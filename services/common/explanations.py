"""Why a round closed as it did, as one sentence, in any shipped language.

consultations decides the outcome and says why as a key and its numbers
(`consultations.domain.explanation`); the API shows the English sentence,
and notifications translates the same sentence by its English text (the
gettext msgid) into the recipient's language. The sentences are written here
once; `N_` only marks them for extraction (services/notifications/locale).
"""
from collections.abc import Callable, Mapping
from typing import Any, Final


def N_(text: str) -> str:
    """Mark `text` for translation without translating it here."""
    return text


SENTENCES: Final[Mapping[str, str]] = {
    "no_quorum": N_("{responded} of {eligible} responded; {needed} were needed for quorum."),
    "blocked": N_("Blocks: {block}."),
    "below_threshold": N_("{consenting} of {deciding} consented, below the threshold of "
                          "{threshold}."),
    "none_consented": N_("No one consented: every response was a stand-aside."),
    "adopted": N_("Adopted with {agree} agree and {reservations} with reservations."),
    "late": N_("The deadline had passed before the round opened; no one could respond."),
}


def sentence(key: str, params: Mapping[str, Any],
             gettext: Callable[[str], str] = lambda text: text) -> str:
    """The sentence `key` with its numbers, through `gettext` (English without one)."""
    return gettext(SENTENCES[key]).format(**params)
