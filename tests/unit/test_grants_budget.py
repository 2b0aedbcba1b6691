"""A grant's budget lines as pure rules (services/grants/budget.py): inside
the grant's period, not overlapping, positive, adding up to at most the
grant's amount; stored sorted, shown as money."""
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.grants import budget

START, END = date(2016, 1, 1), date(2018, 12, 31)
AMOUNT = 145500000  # USD 1,455,000.00


def line(start, end, cents=100):
    return {"period_start": date.fromisoformat(start), "period_end": date.fromisoformat(end),
            "amount_cents": cents}


YEARS = [line("2016-01-01", "2016-12-31", 48500000), line("2017-01-01", "2017-12-31", 48500000),
         line("2018-01-01", "2018-12-31", 48500000)]


def error(lines, amount=AMOUNT):
    return budget.budget_error(lines, START, END, amount, "USD")


def test_yearly_lines_that_add_up_to_the_grant_are_fine():
    assert error(YEARS) is None
    assert error([]) is None
    assert error([line("2016-01-01", "2016-01-01", 1)]) is None  # one day
    assert error([line("2016-01-01", "2016-06-30"), line("2016-07-01", "2016-12-31")]) is None


@pytest.mark.parametrize("bad, words", [
    (line("2015-12-31", "2016-12-31"), "Line 1: the period must lie inside the grant's period "
                                       "(2016-01-01 to 2018-12-31)."),
    (line("2018-01-01", "2019-01-01"), "inside the grant's period"),
    (line("2017-12-31", "2017-01-01"), "Line 1: periodEnd must not be before periodStart."),
    (line("2017-01-01", "2017-12-31", 0), "Line 1: amount must be greater than 0."),
])
def test_a_line_outside_the_period_backwards_or_empty_is_refused(bad, words):
    assert words in error([bad])


def test_overlapping_lines_are_refused_even_by_one_day():
    assert error([line("2016-01-01", "2016-12-31"), line("2016-12-31", "2017-06-30")]) == \
        "Line 1 and line 2 overlap: budget periods must not share a day."
    assert "Line 3 and line 1 overlap" in error([line("2017-01-01", "2017-12-31"),
                                                  line("2018-01-01", "2018-03-31"),
                                                  line("2016-06-01", "2017-01-01")])


def test_lines_adding_up_to_more_than_the_grant_are_refused():
    over = YEARS[:2] + [line("2018-01-01", "2018-12-31", 48500001)]
    assert error(over) == ("The budget lines add up to 1455000.01, more than the grant's amount "
                           "of 1455000.00 USD.")


def test_at_most_fifty_lines():
    days = [line(f"2016-{m:02d}-{d:02d}", f"2016-{m:02d}-{d:02d}", 1)
            for m in range(1, 3) for d in range(1, 27)]
    assert error(days[:50]) is None
    assert error(days[:51]) == "At most 50 budget lines."


def test_stored_sorted_in_iso_dates_and_shown_as_money():
    stored = budget.stored_lines([YEARS[2], YEARS[0]])
    assert [s["period_start"] for s in stored] == ["2016-01-01", "2018-01-01"]
    assert budget.line_view(stored[0]) == {"period_start": "2016-01-01",
                                           "period_end": "2016-12-31", "amount": "485000.00"}
    assert budget.stored_lines(None) == []


@given(st.lists(st.tuples(st.integers(0, 1094), st.integers(0, 60), st.integers(1, 10 ** 8)),
                max_size=8))
def test_accepted_lines_never_overlap_leave_the_period_or_exceed_the_grant(spans):
    lines = [{"period_start": date.fromordinal(START.toordinal() + offset),
              "period_end": date.fromordinal(START.toordinal() + offset + length),
              "amount_cents": cents} for offset, length, cents in spans]
    if error(lines) is not None:
        return
    days = [d for ln in lines for d in range(ln["period_start"].toordinal(),
                                             ln["period_end"].toordinal() + 1)]
    assert len(days) == len(set(days))
    assert all(START <= ln["period_start"] <= ln["period_end"] <= END for ln in lines)
    assert sum(ln["amount_cents"] for ln in lines) <= AMOUNT
