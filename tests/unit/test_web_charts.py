"""services/web/charts.py: inline SVG charts with text equivalents (issue 17)."""
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from markupsafe import Markup

from services.consultations.domain import required_responses as domain_required
from services.web import charts

NS = {"s": charts.SVG_NS}


def english(msgid, **values):
    return msgid % values if values else msgid


def marked(msgid, **values):
    """A 'translation' that shows it was asked: every word shown comes from here."""
    return "⟦" + (msgid % values if values else msgid) + "⟧"


def money(amount, currency):
    return f"{Decimal(amount):,.2f} {currency}"


def day(value):
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def parse(markup):
    assert isinstance(markup, Markup)
    assert "style=" not in markup and "<script" not in markup
    return ET.fromstring(str(markup))


def labelled(svg):
    """The svg's accessible name: its <title>, found by aria-labelledby."""
    assert svg.tag == f"{{{charts.SVG_NS}}}svg"
    assert svg.get("role") == "img"
    title = svg.find("s:title", NS)
    assert title is not None and title.get("id") == svg.get("aria-labelledby")
    assert list(svg)[0] is title
    return title.text


def widths(svg, prefix="bar-"):
    return {r.get("class")[len(prefix):]: int(r.get("width")) for r in svg.findall("s:rect", NS)
            if (r.get("class") or "").startswith(prefix)}


def texts(svg):
    return [t.text for t in svg.iter() if t.tag.endswith("}text") or t.tag.endswith("}title")]


TALLY = {"eligible": 1000, "responded": 612, "agree": 400, "reservations": 100, "standAside": 80,
         "block": 32, "quorumReached": True}
HIDDEN = {"eligible": 10, "responded": 3, "agree": None, "reservations": None, "standAside": None,
          "block": None, "quorumReached": False}


# ---- the tally ---------------------------------------------------------------------

def test_a_tally_is_a_labelled_svg_whose_parts_fill_the_bar():
    svg = parse(charts.tally_bar(TALLY, 0.5, english, "tally-1"))
    title = labelled(svg)
    assert svg.get("aria-labelledby") == "tally-1-title"
    assert "Agreed: 400" in title and "Blocked: 32" in title and "Responded: 612, eligible: 1000 (61%)" in title
    assert "Responses needed for the quorum: 500 (reached)." in title
    w = widths(svg)
    assert list(w) == ["agree", "reservations", "stand-aside", "block", "not-responded"]
    assert sum(w.values()) == charts.WIDTH
    assert w["agree"] == 240 and w["not-responded"] == round(388 * 600 / 1000)
    quorum = svg.find("s:line[@class='chart-quorum']", NS)
    assert quorum.get("x1") == "300"


def test_the_text_equivalent_is_the_title():
    text = charts.tally_text(TALLY, 0.5, english)
    assert labelled(parse(charts.tally_bar(TALLY, 0.5, english, "t"))) == text


@pytest.mark.parametrize("quorum, eligible", [(0.7, 10), (0.5, 7), (0.3, 10), (1.0, 3), (0.51, 1000), (0.01, 1)])
def test_the_quorum_marker_agrees_with_the_consultations_service(quorum, eligible):
    assert charts.required_responses(quorum, eligible) == domain_required(quorum, eligible)
    tally = {**HIDDEN, "eligible": eligible, "responded": 0}
    needed = domain_required(quorum, eligible)
    svg = parse(charts.tally_bar(tally, quorum, english, "q"))
    assert f"Quorum: {needed}" in texts(svg)
    assert float(svg.find("s:line[@class='chart-quorum']", NS).get("x1")) == pytest.approx(
        needed * 600 / eligible, abs=0.05)


def test_a_hidden_tally_shows_only_who_responded():
    svg = parse(charts.tally_bar(HIDDEN, 0.7, english, "h"))
    assert widths(svg) == {"responded": 180, "not-responded": 420}
    title = labelled(svg)
    assert "Agreed" not in title and "Blocked" not in title
    assert "Responses needed for the quorum: 7 (not reached)." in title and "hidden until the round closes" in title
    legend = str(charts.tally_legend(HIDDEN, english))
    assert "Responded: 3" in legend and "Not responded: 7" in legend and "Agreed" not in legend


def test_zero_eligible_draws_an_empty_bar_and_says_so():
    tally = {"eligible": 0, "responded": 0, "agree": 0, "reservations": 0, "standAside": 0, "block": 0,
             "quorumReached": False}
    svg = parse(charts.tally_bar(tally, 0.5, english, "z"))
    assert widths(svg) == {}
    assert svg.find("s:line[@class='chart-quorum']", NS) is None
    assert labelled(svg) == "No member is eligible in this round."
    assert charts.tally_text(tally, 0.5, english) == "No member is eligible in this round."


def test_big_numbers_and_odd_proportions_still_add_up():
    tally = {"eligible": 1_000_003, "responded": 999_999, "agree": 333_333, "reservations": 333_333,
             "standAside": 1, "block": 333_332, "quorumReached": True}
    svg = parse(charts.tally_bar(tally, 0.5, english, "b", format_number=lambda n: f"{n:,}"))
    assert sum(widths(svg).values()) == 600
    assert "Responded: 999,999, eligible: 1,000,003 (100%)." in labelled(svg)
    for values, total in [([1, 1, 1], 3), ([1] * 7, 7), ([0, 5, 0], 5), ([2, 3], 7)]:
        cut = charts.cuts(values, total)
        assert sum(w for _, w in cut) == (600 if sum(values) == total else round(600 * sum(values) / total))
        assert all(x2 == x1 + w1 for (x1, w1), (x2, _) in zip(cut, cut[1:]))


def test_every_word_of_a_chart_is_translated():
    made = [charts.tally_bar(TALLY, 0.5, marked, "a"), charts.tally_bar(HIDDEN, 0.5, marked, "b"),
            charts.grant_split("100.00", "60.00", "10.00", "40.00", "USD", marked, money, "c", title="T"),
            charts.allocations_over_time([("2026-01-02", "5.00", "USD", "APPROVED"),
                                          ("2026-02-02", "5.00", "USD", "APPROVED")],
                                         marked, money, lambda d: marked("%(d)s", d=d), "d")]
    for markup in made:
        for text in texts(parse(markup)):
            assert text.startswith("⟦"), text
            assert not re.sub(r"⟦[^⟦⟧]*(⟦[^⟦⟧]*⟧[^⟦⟧]*)*⟧", "", text).strip(" .;"), text


def test_ids_start_with_the_prefix_so_two_charts_can_share_a_page():
    a, b = charts.tally_bar(TALLY, 0.5, english, "round-1"), charts.tally_bar(TALLY, 0.5, english, "round-2")
    ids = re.findall(r'\bid="([^"]+)"', str(a) + str(b))
    assert ids == ["round-1-title", "round-2-title"]


# ---- a grant ------------------------------------------------------------------------

def test_a_grant_split_adds_up_and_keeps_money_exact():
    svg = parse(charts.grant_split("1455000.00", "1000000.30", "999999.90", "454999.70", "USD",
                                   english, money, "grant-1"))
    w = widths(svg)
    assert list(w) == ["disbursed", "available"] and sum(w.values()) == 600   # 0.40 is no pixel
    title = labelled(svg)
    assert title == ("Grant amount: 1,455,000.00 USD. Disbursed: 999,999.90 USD; "
                     "Allocated, not yet disbursed: 0.40 USD; Available: 454,999.70 USD.")


def test_grant_parts_are_decimals_never_floats():
    parts = charts.grant_parts("0.30", "0.30", "0.10", "0.00", "EUR", english, lambda a, c: a)
    assert [p.value for p in parts] == [Decimal("0.10"), Decimal("0.20"), Decimal("0.00")]
    assert [p.shown for p in parts] == ["0.10", "0.20", "0.00"]   # 0.3 - 0.1 in floats: 0.19999999999999998
    assert all(isinstance(p.value, Decimal) for p in parts)


def test_a_grant_with_nothing_or_too_much_allocated():
    empty = parse(charts.grant_split("0.00", "0.00", "0.00", "0.00", "USD", english, money, "e"))
    assert widths(empty) == {}
    over = parse(charts.grant_split("100.00", "150.00", "0.00", "-50.00", "USD", english, money, "o"))
    assert widths(over) == {"allocated": 600}
    tiny = parse(charts.grant_split("90000000.00", "0.01", "0.00", "89999999.99", "USD", english, money, "t"))
    assert sum(widths(tiny).values()) == 600 and "0.01 USD" in labelled(tiny)


def test_text_is_escaped_everywhere():
    title = 'Fund <script>alert("x")</script> & "Co"'
    markup = charts.grant_split("10.00", "5.00", "1.00", "5.00", "<&>", english, money, 'g"1', title=title)
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    svg = parse(markup)
    assert labelled(svg).startswith(title + ": 10.00 <&> in total.")
    assert svg.get("aria-labelledby") == 'g"1-title'
    legend = charts.grant_legend("10.00", "5.00", "1.00", "5.00", "<&>", english, money)
    assert "&lt;&amp;&gt;" in legend and "<&>" not in legend
    ET.fromstring(f"<div>{legend}</div>")
    sneaky = charts.tally_bar(TALLY, 0.5, lambda m, **v: "<b>&" + english(m, **v), "s")
    assert "<b>" not in sneaky and all(t.startswith("<b>&") for t in texts(parse(sneaky)))


def test_a_legend_and_a_figure():
    legend = charts.tally_legend(TALLY, english)
    root = ET.fromstring(str(legend))
    assert root.tag == "ul" and root.get("class") == "chart-legend"
    items = ["".join(li.itertext()).strip() for li in root]
    assert items == ["Agreed: 400", "Agreed with reservations: 100", "Stood aside: 80", "Blocked: 32",
                     "Not responded: 388"]
    assert all(li.find(f"{{{charts.SVG_NS}}}svg").get("aria-hidden") == "true" for li in root)
    fig = charts.figure(charts.tally_bar(TALLY, 0.5, english, "f"), legend)
    assert fig.startswith('<figure class="chart"><svg') and "<figcaption><ul" in fig
    assert "&lt;" in charts.figure(Markup("<svg/>"), "a < b")


# ---- allocations over time ---------------------------------------------------------------

POINTS = [("2026-01-10", "1500.00", "USD", "APPROVED"),
          (date(2026, 3, 1), "2500.10", "USD", "PROPOSED"),
          (datetime(2026, 2, 1, 12, tzinfo=timezone.utc), "900.00", "EUR", "APPROVED"),
          ("2026-03-01T10:00:00Z", "0.20", "USD", "ON_HOLD"),
          ("2026-04-01", "100.00", "USD", "REJECTED")]


def test_allocations_one_panel_per_currency_on_one_time_axis():
    assert charts.series(POINTS) == {
        "EUR": [(date(2026, 2, 1), Decimal("900.00"))],
        "USD": [(date(2026, 1, 10), Decimal("1500.00")), (date(2026, 3, 1), Decimal("4000.30"))]}
    svg = parse(charts.allocations_over_time(POINTS, english, money, day, "alloc"))
    title = labelled(svg)
    assert title == ("Allocations over time. EUR: 900.00 EUR allocated on 2026-02-01. "
                     "USD: 4,000.30 USD allocated in total, from 2026-01-10 to 2026-03-01.")
    assert len(svg.findall("s:path[@class='chart-line']", NS)) == 2
    assert len(svg.findall("s:circle", NS)) == 3
    shown = texts(svg)
    assert "EUR: 900.00 EUR in total" in shown and "USD: 4,000.30 USD in total" in shown
    assert "2026-01-10" in shown and "2026-03-01" in shown
    eur_dot = svg.find("s:circle", NS)
    assert 8 < float(eur_dot.get("cx")) < 592      # 1 February, between 10 January and 1 March


def test_no_allocations_is_a_sentence_without_svg():
    for points in ([], [("2026-01-01", "10.00", "USD", "REJECTED")]):
        out = charts.allocations_over_time(points, english, money, day, "none")
        assert out == Markup('<p class="muted">No allocations yet.</p>')
        assert charts.allocations_text(points, english, money, day) == "No allocations yet."
    assert "&lt;" in charts.allocations_over_time([], lambda m: "<" + m, money, day, "x")


def test_one_day_allocations_sit_in_the_middle():
    svg = parse(charts.allocations_over_time([("2026-05-05", "10.00", "KGS", "APPROVED"),
                                              ("2026-05-05", "5.55", "KGS", "APPROVED")],
                                             english, money, day, "one"))
    [dot] = svg.findall("s:circle", NS)
    assert dot.get("cx") == "300"
    assert "KGS: 15.55 KGS allocated on 2026-05-05." in labelled(svg)
    assert texts(svg).count("2026-05-05") == 1
