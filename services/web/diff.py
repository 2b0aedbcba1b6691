"""Word diff of two versions of a proposal (issue 17: "a diff of the
proposal between rounds"), as HTML with <del> and <ins>. Pure; stdlib difflib.

    found = word_diff(earlier, later, gettext)
    found.html      Markup: the later text, with what went <del>...</del> and
                    what came <ins>...</ins>, line breaks as <br>
    found.changed   whether any word changed

Invariants:
- the text is escaped; the only tags are <del>, <ins>, <br> and <span
  class="visually-hidden"> (no style attribute: CSP style-src 'self');
- the unit is a word or a punctuation mark (Unicode: Cyrillic words are
  words); what lies between them (spaces, line breaks) is taken from the
  later text, and a change of spacing or line breaks alone is no change;
- every <del> and <ins> carries visually-hidden words, "[Removed: ...]" and
  "[Added: ...]" through the page's `gettext`, because screen readers do not
  announce the two elements;
- read in order, the words outside <del> are the later text's words: nothing
  of the later text is lost, nothing of the earlier one is shown unmarked.
"""
import re
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from typing import NamedTuple

from markupsafe import Markup, escape

Gettext = Callable[..., str]

# (the space before a word, the word): a word is a run of letters and digits,
# or one other visible character (punctuation, a symbol)
TOKEN = re.compile(r"(\s*)(\w+|[^\w\s])")
WORD = re.compile(r"\w")


class Diff(NamedTuple):
    html: Markup
    changed: bool


class Token(NamedTuple):
    space: str
    word: str


def tokens(text: str) -> tuple[list[Token], str]:
    """The text's words each with the space before it, and the space after the last one."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    found = [Token(space, word) for space, word in TOKEN.findall(text)]
    return found, text[len("".join(t.space + t.word for t in found)):]


def space(text: str) -> str:
    """Whitespace as HTML: a <br> for each line break, else one space."""
    if "\n" in text:
        return "<br>\n" * text.count("\n")
    return " " if text else ""


def run(words: Sequence[Token]) -> str:
    """Several words with the space between them (not the space before the first)."""
    return "".join((space(t.space) if i else "") + str(escape(t.word)) for i, t in enumerate(words))


def marked(tag: str, label: str, words: Sequence[Token]) -> str:
    hidden = '<span class="visually-hidden">%s</span>'
    return (f"<{tag}>" + hidden % escape(f"[{label} ") + run(words) + hidden % "]" + f"</{tag}>")


def changed_run(old: Sequence[Token], new: Sequence[Token], after: Token | None,
                labels: tuple[str, str], at_start: bool = False) -> str:
    """One change: the space before it, <del> then <ins> (a space between
    them when the added run starts with a word that stands apart; none
    before punctuation or a word glued to what precedes it); after a removal
    alone, the space the earlier text had before the next word, if the later
    text has none there (a word removed at the start)."""
    out = [space(new[0].space if new else old[0].space)]
    if old:
        out.append(marked("del", labels[0], old))
    if new:
        # "2026 2027", not "20262027"; but "Signed:," and "<b<script" stay glued
        apart = " " if old and WORD.match(new[0].word) and (new[0].space or at_start) else ""
        out.append(apart + marked("ins", labels[1], new))
    elif after is not None and not after.space:
        out.append(" ")
    return "".join(out)


def word_diff(earlier: str | None, later: str | None, gettext: Gettext) -> Diff:
    """The later text with the words removed since the earlier one in <del>
    and those added in <ins> (a replacement: both, removed first)."""
    old, _ = tokens(earlier or "")
    new, tail = tokens(later or "")
    # difflib's autojunk (words in over 1% of a long text anchor no match): ~20 ms
    # for two 20,000-character proposals instead of ~0.6 s, the same changes found
    matcher = SequenceMatcher(None, [t.word for t in old], [t.word for t in new])
    labels = (gettext("Removed:"), gettext("Added:"))
    out, changed = [], False
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append("".join(space(t.space) + str(escape(t.word)) for t in new[j1:j2]))
        else:
            changed = True
            after = new[j2] if j2 < len(new) and i2 < len(old) and old[i2].space else None
            out.append(changed_run(old[i1:i2], new[j1:j2], after, labels, at_start=j1 == 0))
    out.append(space(tail))
    return Diff(Markup("".join(out)), changed)
