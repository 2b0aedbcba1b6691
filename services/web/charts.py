"""Inline SVG charts for the web pages, each with a text equivalent (issue 17).

Pure functions: figures in, markupsafe.Markup out; no I/O, no state.

    tally_bar(tally, quorum, gettext, id_prefix)        a round's stances and participation
    grant_split(amount, allocated, disbursed, available, currency, gettext, format_money, id_prefix)
    allocations_over_time(points, gettext, format_money, format_day, id_prefix)
    tally_text / grant_text / allocations_text           the same figures as one short text
    tally_legend / grant_legend                          the figures as a list beside the chart
    figure(chart, caption)                               <figure class="chart"> with a <figcaption>

`gettext(msgid, **values)` is the page's (page._, or the Jinja `_`): it
translates and fills %(name)s. `format_money(amount, currency)`,
`format_day(date or ISO date)` and `format_number(int)` are the page's filters.

Invariants:
- every chart is one <svg role="img" aria-labelledby="<id_prefix>-title">
  whose first child is that <title>, holding the chart's text equivalent;
  every id starts with `id_prefix`, so two charts on a page never share one;
- no style attribute and no script (CSP style-src 'self'): colours are
  presentation attributes (COLOURS, each at least 3:1 against white, WCAG
  1.4.11), and each part has a class (CLASSES) that static/app.css may restyle;
- every word shown goes through `gettext`, and every text (translations,
  figures, a grant's title) is escaped: "<&>" shows as typed;
- money is Decimal from the API's strings to the text; only a pixel is
  rounded. A bar's parts are cut at rounded cumulative positions, so their
  widths add up to the bar's width exactly;
- what the API hides is never guessed: a tally whose counts are null shows
  only who responded and who did not.
"""
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from math import ceil
from typing import Any, NamedTuple

from markupsafe import Markup, escape

Gettext = Callable[..., str]
Money = Callable[[Any, str], str]
Day = Callable[[Any], str]
Number = Callable[[int], str]

WIDTH = 600           # the viewBox's width; the page scales the chart to its column
BAR_HEIGHT = 28
SVG_NS = "http://www.w3.org/2000/svg"

# part -> fill; contrast against white: green 6.2, blue 5.2, grey 7.1, red 4.9,
# black 19.6; "rest" (#f3f2f1, 1.1) is the empty part of a bar, always inside
# the frame (#505a5f, 7.1), never a figure of its own
COLOURS = {"agree": "#00703c", "reservations": "#1d70b8", "stand-aside": "#505a5f",
           "block": "#d4351c", "not-responded": "#f3f2f1", "responded": "#1d70b8",
           "disbursed": "#00703c", "allocated": "#1d70b8", "available": "#f3f2f1",
           "frame": "#505a5f", "quorum": "#0b0c0c", "line": "#1d70b8", "text": "#0b0c0c"}
CLASSES = ["chart-svg", "chart-frame", "chart-quorum", "chart-label", "chart-line", "chart-dot",
           "chart-axis", "chart-legend", "chart-swatch"] + [f"bar-{k}" for k in (
               "agree", "reservations", "stand-aside", "block", "not-responded", "responded",
               "disbursed", "allocated", "available")]
COUNTED_ALLOCATIONS = ("PROPOSED", "APPROVED", "ON_HOLD")  # DOMAIN.md: allocated; REJECTED never was


class Part(NamedTuple):
    """One part of a bar: its colour key, its translated label, its value and that value as shown."""
    key: str
    label: str
    value: int | Decimal
    shown: str


# ---- the SVG pieces ------------------------------------------------------------------

def _attrs(attrs: Mapping[str, object]) -> str:
    return "".join(f' {name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
                   for name, value in attrs.items() if value is not None)


def _tag(name: str, content: str | None = None, **attrs: object) -> str:
    if content is None:
        return f"<{name}{_attrs(attrs)}/>"
    return f"<{name}{_attrs(attrs)}>{content}</{name}>"


def _svg(id_prefix: str, title: str, height: int, body: Iterable[str]) -> Markup:
    title_id = f"{id_prefix}-title"
    head = (f'<svg xmlns="{SVG_NS}" class="chart-svg" role="img" aria-labelledby="{escape(title_id)}"'
            f' viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"'
            f' preserveAspectRatio="xMinYMin meet">')
    return Markup(head + _tag("title", str(escape(title)), id=title_id) + "".join(body) + "</svg>")


def _text(content: str, x: float | Fraction, y: float | Fraction, anchor: str = "start", cls: str = "chart-label") -> str:
    return _tag("text", str(escape(content)), x=_px(x), y=_px(y), class_=cls,
                text_anchor=anchor, font_size=14, fill=COLOURS["text"])


def _px(value: float | Fraction) -> str:
    """A coordinate as the SVG holds it: at most one decimal."""
    return f"{round(float(value), 1):g}"


def cuts(values: Sequence[int | Decimal], total: int | Decimal, width: int = WIDTH) -> list[tuple[int, int]]:
    """(x, width) of each value in a bar `width` wide standing for `total`:
    cut at the rounded cumulative positions (exact fractions until then), so
    the widths add up to `width` when the values add up to `total`."""
    if total <= 0:
        return [(0, 0) for _ in values]
    out, before, running = [], 0, Fraction(0)
    for value in values:
        running += Fraction(max(value, 0))
        edge = min(width, round(running * width / Fraction(total)))
        out.append((before, edge - before))
        before = edge
    return out


def _bar(parts: Sequence[Part], total: int | Decimal, y: int) -> list[str]:
    """The rectangles of the parts (a white gap between them), then the frame."""
    body = []
    for part, (x, w) in zip(parts, cuts([p.value for p in parts], total)):
        if w > 0:
            body.append(_tag("rect", x=x, y=y, width=w, height=BAR_HEIGHT, class_=f"bar-{part.key}",
                             fill=COLOURS[part.key], stroke="#ffffff", stroke_width=1))
    body.append(_tag("rect", x=0.5, y=y + 0.5, width=WIDTH - 1, height=BAR_HEIGHT - 1,
                     class_="chart-frame", fill="none", stroke=COLOURS["frame"], stroke_width=1))
    return body


def _items(parts: Sequence[Part], gettext: Gettext) -> str:
    return "; ".join(gettext("%(label)s: %(value)s", label=p.label, value=p.shown) for p in parts)


def legend(parts: Sequence[Part], gettext: Gettext) -> Markup:
    """The parts as a list: a colour swatch (decorative) and "label: value" each."""
    rows = []
    for p in parts:
        swatch = (f'<svg xmlns="{SVG_NS}" class="chart-swatch" width="14" height="14" aria-hidden="true">'
                  + _tag("rect", x=0.5, y=0.5, width=13, height=13, class_=f"bar-{p.key}",
                         fill=COLOURS[p.key], stroke=COLOURS["frame"], stroke_width=1) + "</svg>")
        text = gettext("%(label)s: %(value)s", label=p.label, value=p.shown)
        rows.append(f"<li>{swatch} {escape(text)}</li>")
    return Markup('<ul class="chart-legend">' + "".join(rows) + "</ul>")


def figure(chart: Markup, caption: Markup | str) -> Markup:
    """A chart and its visible text equivalent (a legend or a sentence)."""
    return Markup('<figure class="chart">%s<figcaption>%s</figcaption></figure>') % (chart, caption)


# ---- a round's tally ---------------------------------------------------------------

def required_responses(quorum: float, eligible: int) -> int:
    """ceil(quorum x eligible) in exact arithmetic, as services/consultations/domain.py."""
    return ceil(Fraction(Decimal(str(quorum))) * eligible)


def hidden(tally: Mapping[str, Any]) -> bool:
    return any(tally.get(k) is None for k in ("agree", "reservations", "standAside", "block"))


def tally_parts(tally: Mapping[str, Any], gettext: Gettext, format_number: Number = str) -> list[Part]:
    """The bar's parts, in order; a hidden tally has only responded / not responded."""
    eligible, responded = int(tally.get("eligible") or 0), int(tally.get("responded") or 0)
    rest = max(0, eligible - responded)

    def part(key: str, label: str, n: int) -> Part:
        return Part(key, label, n, format_number(n))
    if hidden(tally):
        return [part("responded", gettext("Responded"), responded),
                part("not-responded", gettext("Not responded"), rest)]
    return [part("agree", gettext("Agreed"), int(tally["agree"])),
            part("reservations", gettext("Agreed with reservations"), int(tally["reservations"])),
            part("stand-aside", gettext("Stood aside"), int(tally["standAside"])),
            part("block", gettext("Blocked"), int(tally["block"])),
            part("not-responded", gettext("Not responded"), rest)]


def tally_text(tally: Mapping[str, Any], quorum: float, gettext: Gettext,
               format_number: Number = str) -> str:
    """One short text: the stances (unless hidden), participation, quorum."""
    eligible, responded = int(tally.get("eligible") or 0), int(tally.get("responded") or 0)
    if eligible <= 0:
        return gettext("No member is eligible in this round.")
    sentences = [] if hidden(tally) else [_items(tally_parts(tally, gettext, format_number)[:-1], gettext) + "."]
    percent = round(Fraction(responded, eligible) * 100)
    sentences.append(gettext("Responded: %(responded)s, eligible: %(eligible)s (%(percent)s%%).",
                             responded=format_number(responded), eligible=format_number(eligible),
                             percent=percent))
    needed = format_number(required_responses(quorum, eligible))
    sentences.append(gettext("Responses needed for the quorum: %(needed)s (reached).", needed=needed)
                     if tally.get("quorumReached") or responded >= required_responses(quorum, eligible)
                     else gettext("Responses needed for the quorum: %(needed)s (not reached).", needed=needed))
    if hidden(tally):
        sentences.append(gettext("The stances are hidden until the round closes."))
    return " ".join(sentences)


def tally_legend(tally: Mapping[str, Any], gettext: Gettext, format_number: Number = str) -> Markup:
    return legend(tally_parts(tally, gettext, format_number), gettext)


def tally_bar(tally: Mapping[str, Any], quorum: float, gettext: Gettext, id_prefix: str,
              format_number: Number = str) -> Markup:
    """A bar of `eligible` cut into the stances (or responded, when hidden)
    and not responded, a marker at the quorum's response, participation below."""
    eligible, responded = int(tally.get("eligible") or 0), int(tally.get("responded") or 0)
    parts = tally_parts(tally, gettext, format_number)
    total = max(eligible, sum(int(p.value) for p in parts))
    body = _bar(parts, total, 24)
    if eligible > 0:
        needed = required_responses(quorum, eligible)
        x = Fraction(needed * WIDTH, total)
        anchor = "start" if x < 120 else "end" if x > WIDTH - 120 else "middle"
        body.append(_tag("line", x1=_px(x), x2=_px(x), y1=18, y2=58, class_="chart-quorum",
                         stroke=COLOURS["quorum"], stroke_width=3))
        body.append(_text(gettext("Quorum: %(needed)s", needed=format_number(needed)), x, 14, anchor))
        body.append(_text(gettext("Responded: %(responded)s of %(eligible)s",
                                  responded=format_number(responded), eligible=format_number(eligible)),
                          0, 76))
    else:
        body.append(_text(gettext("No member is eligible in this round."), 0, 76))
    return _svg(id_prefix, tally_text(tally, quorum, gettext, format_number), 84, body)


# ---- a grant's amount ---------------------------------------------------------------

def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _at_least_zero(value: Decimal) -> Decimal:
    """The value, or a zero with its places ("-5.00" -> "0.00")."""
    return value if value >= 0 else abs(value) * 0


def grant_parts(amount: Any, allocated: Any, disbursed: Any, available: Any, currency: str,
                gettext: Gettext, format_money: Money) -> list[Part]:
    """Disbursed, allocated and not yet disbursed, available: exact Decimals."""
    allocated, disbursed, available = _dec(allocated), _dec(disbursed), _dec(available)
    values = [("disbursed", gettext("Disbursed"), _at_least_zero(disbursed)),
              ("allocated", gettext("Allocated, not yet disbursed"), _at_least_zero(allocated - disbursed)),
              ("available", gettext("Available"), _at_least_zero(available))]
    return [Part(key, label, v, format_money(str(v), currency)) for key, label, v in values]


def grant_text(amount: Any, allocated: Any, disbursed: Any, available: Any, currency: str,
               gettext: Gettext, format_money: Money, title: str | None = None) -> str:
    shown = format_money(str(_dec(amount)), currency)
    head = (gettext("%(title)s: %(amount)s in total.", title=title, amount=shown) if title
            else gettext("Grant amount: %(amount)s.", amount=shown))
    parts = grant_parts(amount, allocated, disbursed, available, currency, gettext, format_money)
    return f"{head} {_items(parts, gettext)}."


def grant_legend(amount: Any, allocated: Any, disbursed: Any, available: Any, currency: str,
                 gettext: Gettext, format_money: Money) -> Markup:
    return legend(grant_parts(amount, allocated, disbursed, available, currency, gettext, format_money),
                  gettext)


def grant_split(amount: Any, allocated: Any, disbursed: Any, available: Any, currency: str,
                gettext: Gettext, format_money: Money, id_prefix: str, title: str | None = None) -> Markup:
    """The grant's amount as one bar: disbursed, allocated and not yet
    disbursed, available (the parts as given, if they exceed the amount the
    bar stands for their sum)."""
    parts = grant_parts(amount, allocated, disbursed, available, currency, gettext, format_money)
    total = max(_dec(amount), sum((_dec(p.value) for p in parts), Decimal(0)))
    text = grant_text(amount, allocated, disbursed, available, currency, gettext, format_money, title)
    return _svg(id_prefix, text, BAR_HEIGHT + 8, _bar(parts, total, 4))


# ---- a member's allocations over time ---------------------------------------------------

def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def series(points: Iterable[Sequence[Any]]) -> dict[str, list[tuple[date, Decimal]]]:
    """Currency -> [(day, running total)], one entry per day (its allocations
    summed), by day; only the statuses that count as allocated."""
    by_day: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for when, amount, currency, status in points:
        if str(status) in COUNTED_ALLOCATIONS:
            by_day[str(currency)][_day(when)] += _dec(amount)
    out = {}
    for currency in sorted(by_day):
        running, steps = Decimal(0), []
        for day in sorted(by_day[currency]):
            running += by_day[currency][day]
            steps.append((day, running))
        out[currency] = steps
    return out


def allocations_text(points: Iterable[Sequence[Any]], gettext: Gettext, format_money: Money,
                     format_day: Day) -> str:
    found = series(points)
    if not found:
        return gettext("No allocations yet.")
    sentences = []
    for currency, steps in found.items():
        total = format_money(str(steps[-1][1]), currency)
        if len(steps) == 1:
            sentences.append(gettext("%(currency)s: %(total)s allocated on %(day)s.", currency=currency,
                                     total=total, day=format_day(steps[0][0])))
        else:
            sentences.append(gettext("%(currency)s: %(total)s allocated in total, from %(first)s to %(last)s.",
                                     currency=currency, total=total, first=format_day(steps[0][0]),
                                     last=format_day(steps[-1][0])))
    return " ".join([gettext("Allocations over time.")] + sentences)


PANEL = 74      # height of one currency's panel
PLOT = 44       # height of its plot area
LEFT, RIGHT = 8, WIDTH - 8


def _panel(currency: str, steps: list[tuple[date, Decimal]], top: int, first: date, span: int,
           gettext: Gettext, format_money: Money) -> list[str]:
    """One currency: its name and total, a cumulative step line with a dot per day."""
    bottom, peak = top + 22 + PLOT, steps[-1][1] or Decimal(1)

    def x(day: date) -> Fraction:
        return Fraction(LEFT + RIGHT, 2) if span == 0 else LEFT + Fraction((day - first).days * (RIGHT - LEFT), span)

    def y(total: Decimal) -> Fraction:
        return bottom - Fraction(max(total, Decimal(0))) * PLOT / Fraction(peak)
    path, level, dots = [f"M{LEFT} {bottom}"], Fraction(bottom), []
    for day, total in steps:
        path += [f"H{_px(x(day))}", f"V{_px(y(total))}"]
        level = y(total)
        dots.append(_tag("circle", cx=_px(x(day)), cy=_px(level), r=4, class_="chart-dot", fill=COLOURS["line"]))
    path.append(f"H{RIGHT}")
    label = gettext("%(currency)s: %(total)s in total", currency=currency,
                    total=format_money(str(steps[-1][1]), currency))
    return [_text(label, 0, top + 14),
            _tag("line", x1=LEFT, x2=RIGHT, y1=bottom, y2=bottom, class_="chart-axis",
                 stroke=COLOURS["frame"], stroke_width=1),
            _tag("path", d=" ".join(path), class_="chart-line", fill="none", stroke=COLOURS["line"],
                 stroke_width=3), *dots]


def allocations_over_time(points: Iterable[Sequence[Any]], gettext: Gettext, format_money: Money,
                          format_day: Day, id_prefix: str) -> Markup:
    """A panel per currency (amounts in different currencies are never added
    or drawn on one scale), sharing one time axis: the running total of the
    member's allocations, a step and a dot per day. None: a sentence, no SVG."""
    points = list(points)
    found = series(points)
    if not found:
        return Markup('<p class="muted">%s</p>') % gettext("No allocations yet.")
    days = [day for steps in found.values() for day, _ in steps]
    first, last = min(days), max(days)
    body: list[str] = []
    for i, (currency, steps) in enumerate(found.items()):
        body += _panel(currency, steps, i * PANEL, first, (last - first).days, gettext, format_money)
    axis = len(found) * PANEL + 16
    body.append(_text(format_day(first), LEFT, axis, "start"))
    if last != first:
        body.append(_text(format_day(last), RIGHT, axis, "end"))
    text = allocations_text(points, gettext, format_money, format_day)
    return _svg(id_prefix, text, axis + 6, body)
