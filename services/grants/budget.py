"""A grant's budget lines (DOMAIN.md section 10): yearly (or any) periods of
its own period, each with an amount, as pure rules.

Invariants of the lines a grant holds (checked once, when it is created;
nothing changes them afterwards):
- each line ends on or after the day it starts, and lies inside the grant's
  period (start_date <= period_start <= period_end <= end_date);
- no two lines share a day;
- each amount is > 0 and their sum is <= the grant's amount;
- at most MAX_BUDGET_LINES lines, stored sorted by period_start.
No I/O here; amounts are integer cents (money.py).
"""
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from bson.int64 import Int64

from services.grants import money

MAX_BUDGET_LINES = 50

Line = Mapping[str, Any]  # {"period_start": date, "period_end": date, "amount_cents": int}


def _line_name(number: int) -> str:
    return f"Line {number}"


def budget_error(lines: Sequence[Line], start: date, end: date, amount_cents: int,
                 currency: str = "") -> str | None:
    """Why `lines` cannot be the budget of a grant running from `start` to
    `end` for `amount_cents`, or None if they can. Lines are numbered as
    sent (1-based)."""
    if len(lines) > MAX_BUDGET_LINES:
        return f"At most {MAX_BUDGET_LINES} budget lines."
    for number, line in enumerate(lines, 1):
        message = _line_error(line, start, end)
        if message:
            return f"{_line_name(number)}: {message}"
    message = _overlap_error(lines)
    if message:
        return message
    total = sum(line["amount_cents"] for line in lines)
    if total > amount_cents:
        amount = money.with_currency(amount_cents, currency) if currency else \
            money.render(amount_cents)
        return (f"The budget lines add up to {money.render(total)}, more than the grant's "
                f"amount of {amount}.")
    return None


def _line_error(line: Line, start: date, end: date) -> str | None:
    if line["period_end"] < line["period_start"]:
        return "periodEnd must not be before periodStart."
    if line["period_start"] < start or line["period_end"] > end:
        return (f"the period must lie inside the grant's period ({start.isoformat()} to "
                f"{end.isoformat()}).")
    if line["amount_cents"] <= 0:
        return "amount must be greater than 0."
    return None


def _overlap_error(lines: Iterable[Line]) -> str | None:
    numbered = sorted(enumerate(lines, 1), key=lambda pair: pair[1]["period_start"])
    for (first_no, first), (second_no, second) in zip(numbered, numbered[1:]):
        if second["period_start"] <= first["period_end"]:
            return (f"{_line_name(first_no)} and {_line_name(second_no).lower()} overlap: "
                    "budget periods must not share a day.")
    return None


def stored_lines(lines: Iterable[Line] | None) -> list[dict[str, Any]]:
    """Validated lines as a grant stores them: ISO dates, Int64 cents,
    sorted by period_start."""
    return [{"period_start": line["period_start"].isoformat(),
             "period_end": line["period_end"].isoformat(),
             "amount_cents": Int64(line["amount_cents"])}
            for line in sorted(lines or [], key=lambda line: line["period_start"])]


def line_view(line: Mapping[str, Any]) -> dict[str, str]:
    """A stored line as the grant view shows it."""
    return {"period_start": line["period_start"], "period_end": line["period_end"],
            "amount": money.render(int(line["amount_cents"]))}
