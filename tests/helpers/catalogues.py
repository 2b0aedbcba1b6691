"""A service's gettext catalogues as its tests check them: the messages
extracted anew as `pybabel extract -F <service>/babel.cfg ... services` does,
the committed .pot's ids, and what is wrong with a language's .po
(untranslated or fuzzy, plural forms, placeholders, markup)."""
import re

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

PERCENT = r"%\(\w+\)s"
PERCENT_OR_BRACES = r"%\(\w+\)s|\{\w+\}"


def extracted(babel_cfg, services):
    """The messages below `services` as the mapping `babel_cfg` extracts them, by id."""
    with babel_cfg.open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    catalogue = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
            services, method_map, options_map):
        catalogue.add(message, None, [(filename, lineno)], auto_comments=comments,
                      context=context)
    return {message.id: message for message in catalogue if message.id}


def committed_ids(pot):
    """The message ids of a committed .pot."""
    with pot.open("rb") as file:
        return {message.id for message in read_po(file) if message.id}


def placeholders(text, pattern):
    return sorted(re.findall(pattern, text))


def translation_problems(po_path, locale, messages, pattern, markup_refused=False):
    """What is wrong with the translations in `po_path` of the extracted `messages`:
    one line a message; `pattern` finds placeholders; `markup_refused`: a
    translation holding < or & is wrong too (shown unescaped in HTML)."""
    with po_path.open("rb") as po:
        catalogue = read_po(po, locale=locale)
    problems = []
    for message_id, source in messages.items():
        message = catalogue.get(message_id)
        forms = message.string if message and isinstance(message.string, tuple) else \
            (message.string,) if message else ()
        source_text = source.id if isinstance(source.id, str) else source.id[1]
        if message is None or message.fuzzy or not forms or not all(forms):
            problems.append(f"untranslated or fuzzy: {message_id!r}")
        elif isinstance(message_id, tuple) and len(forms) != catalogue.num_plurals:
            problems.append(f"{catalogue.num_plurals} plural forms needed: {message_id!r}")
        elif any(placeholders(form, pattern) != placeholders(source_text, pattern)
                 for form in forms):
            problems.append(f"placeholders differ: {message_id!r}")
        elif markup_refused and any(re.search("[<&]", form) for form in forms):
            problems.append(f"markup in a translation (shown unescaped in HTML): {message_id!r}")
    return problems
