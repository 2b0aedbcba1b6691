"""services/web/diff.py: the word diff of a proposal between rounds (issue 17)."""
import re
import time
import xml.etree.ElementTree as ET

from markupsafe import Markup

from services.web.diff import word_diff


def english(msgid, **values):
    return msgid % values if values else msgid


def russian(msgid, **values):
    return {"Removed:": "Удалено:", "Added:": "Добавлено:"}[msgid]


def tree(html):
    """The diff parsed as XML (it is well-formed: <br> written <br/> for the parser)."""
    return ET.fromstring("<div>" + str(html).replace("<br>", "<br/>") + "</div>")


def visible(html, drop):
    """The text a sighted reader sees, without the <del> (drop="del") or <ins> parts."""
    root = tree(html)
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == drop or child.get("class") == "visually-hidden":
                children = list(parent)
                before = children[children.index(child) - 1] if children.index(child) else None
                if before is None:  # keep what followed the removed element, in its place
                    parent.text = (parent.text or "") + (child.tail or "")
                else:
                    before.tail = (before.tail or "") + (child.tail or "")
                parent.remove(child)
    return " ".join("".join(root.itertext()).split())


def parts(html, tag):
    return ["".join(e.itertext()) for e in tree(html).iter(tag)]


def test_unchanged_text_is_itself_and_not_changed():
    found = word_diff("Adopt the workplan.", "Adopt the workplan.", english)
    assert found == (Markup("Adopt the workplan."), False)
    assert isinstance(found.html, Markup)


def test_a_replaced_word_is_removed_then_added_with_words_for_screen_readers():
    html, changed = word_diff("Adopt the 2026 workplan.", "Adopt the 2027 workplan.", english)
    assert changed
    assert html == Markup(
        'Adopt the <del><span class="visually-hidden">[Removed: </span>2026'
        '<span class="visually-hidden">]</span></del> <ins><span class="visually-hidden">[Added: </span>2027'
        '<span class="visually-hidden">]</span></ins> workplan.')
    assert parts(html, "del") == ["[Removed: 2026]"] and parts(html, "ins") == ["[Added: 2027]"]


def test_the_hidden_words_are_translated():
    html, _ = word_diff("один два", "один три", russian)
    assert parts(html, "del") == ["[Удалено: два]"] and parts(html, "ins") == ["[Добавлено: три]"]


def test_outside_del_the_later_text_outside_ins_the_earlier():
    earlier = "The coalition adopts the workplan, and the budget of 10 USD.\nSigned: the board."
    later = "The coalition adopts the amended workplan and a budget of 12 USD.\nSigned, the board!"
    html, changed = word_diff(earlier, later, english)
    assert changed
    assert visible(html, "del") == " ".join(later.split())
    assert visible(html, "ins") == " ".join(earlier.split())


def test_additions_and_removals_at_either_end_keep_their_spaces():
    cases = {("a b c", "a c"): "a [-b] c", ("a b", "b"): "[-a] b", ("a b", "a"): "a [-b]",
             ("b", "a b"): "[+a] b", ("a", "a b"): "a [+b]", ("a b.", "a."): "a [-b].",
             ("", "new text"): "[+new text]", ("old text", ""): "[-old text]"}
    for (earlier, later), expected in cases.items():
        html, changed = word_diff(earlier, later, english)
        shown = re.sub(r'<span class="visually-hidden">[^<]*</span>', "", str(html))
        shown = shown.replace("<del>", "[-").replace("</del>", "]").replace("<ins>", "[+").replace("</ins>", "]")
        assert (shown, changed) == (expected, True), (earlier, later)


def test_text_is_escaped():
    html, _ = word_diff("Pay <b>10</b> & go", 'Pay <script>alert("x")</script> & go', english)
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;" in html and "&gt;" in html and "&amp; go" in html and "&#34;x&#34;" in html
    tree(html)
    assert visible(html, "ins") == "Pay <b>10</b> & go"


def test_line_breaks_become_br_and_spacing_alone_is_no_change():
    html, changed = word_diff("First.\n\nSecond  line.", "First.\r\n\r\nSecond line.\n", english)
    assert not changed
    assert html == Markup("First.<br>\n<br>\nSecond line.<br>\n")
    html, changed = word_diff("a b", "a\nb", english)
    assert not changed and html == Markup("a<br>\nb")
    html, _ = word_diff("one", "one\ntwo\nthree", english)
    assert parts(html, "ins") == ["[Added: two\nthree]"] and "<br>" in html


def test_punctuation_and_cyrillic_words_are_words():
    html, _ = word_diff("Принять план работы.", "Принять план работы!", english)
    assert parts(html, "del") == ["[Removed: .]"] and parts(html, "ins") == ["[Added: !]"]
    html, _ = word_diff("Принять план работы.", "Принять новый план работы.", english)
    assert parts(html, "ins") == ["[Added: новый]"] and not parts(html, "del")


def test_none_is_empty():
    assert word_diff(None, None, english) == (Markup(""), False)
    assert word_diff(None, "x", english).changed


def test_the_longest_proposals_are_quick():
    earlier = " ".join(f"word{i % 700} of the coalition," for i in range(1000))[:20000]
    later = earlier.replace("word5 ", "changed ").replace("word77 ", "")
    started = time.perf_counter()
    html, changed = word_diff(earlier, later, english)
    assert changed and time.perf_counter() - started < 1.0
    assert visible(html, "del") == " ".join(later.split())
