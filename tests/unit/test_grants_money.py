"""Exact money of the grants service: parsing, refusals, rendering."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import BadUserInput
from services.grants import money


@pytest.mark.parametrize("text, cents", [
    ("1455000", 145500000),
    ("86454.2", 8645420),
    ("86454.20", 8645420),
    ("0.01", 1),
    ("0.1", 10),
    ("007.50", 750),
    ("  12.5 ", 1250),
    ("999999999999999.99", 99999999999999999),
    (5, 500),
    (999999999999999, 99999999999999900),
])
def test_accepts_decimals_with_at_most_two_places(text, cents):
    assert money.cents(text) == cents


@pytest.mark.parametrize("value", [
    "1e309", "1e3", "1E3", "1.5e2", "NaN", "nan", "Infinity", "-Infinity", "inf",
    "-5", "-0.01", "+5", "1.234", "0.001", "1234567890123456", "1234567890123456.00",
    "", "   ", "12.", ".5", "1,000", "1 000", "1_000", "0x10", "١٢٣", "１２", "12.5.1",
    "5 USD", "$5",
])
def test_refuses_everything_else_as_text(value):
    with pytest.raises(money.InvalidMoney):
        money.cents(value)


@pytest.mark.parametrize("value", [1.5, 0.1, 5.0, float("nan"), float("inf"), True, False, None,
                                   Decimal("1.50"), [1], {"$gt": ""}, -1, 10 ** 15])
def test_refuses_non_text_values_floats_included(value):
    with pytest.raises(money.InvalidMoney):
        money.cents(value)


@pytest.mark.parametrize("value", ["0", "0.00", "000", 0])
def test_zero_is_refused_where_meaningless_and_allowed_when_asked(value):
    with pytest.raises(money.InvalidMoney, match="greater than 0"):
        money.cents(value)
    assert money.cents(value, positive=False) == 0


def test_float_message_says_why():
    with pytest.raises(money.InvalidMoney, match="not a floating-point number"):
        money.cents(0.1)


def test_too_many_places_message():
    with pytest.raises(money.InvalidMoney, match="At most 2 decimal places"):
        money.cents("86454.201")


def test_parse_names_the_field_as_the_client_names_it():
    with pytest.raises(BadUserInput) as info:
        money.parse("1e309", field="amount")
    assert set(info.value.fields) == {"amount"}
    assert info.value.code == "BAD_USER_INPUT"
    assert money.parse("86454.2") == 8645420


@pytest.mark.parametrize("cents, text", [
    (0, "0.00"), (1, "0.01"), (10, "0.10"), (8645420, "86454.20"), (145500000, "1455000.00"),
    (-150, "-1.50"), (99999999999999999, "999999999999999.99"),
])
def test_render_has_exactly_two_places(cents, text):
    assert money.render(cents) == text


@pytest.mark.parametrize("value", [1.5, "100", None, True])
def test_render_takes_integer_cents_only(value):
    with pytest.raises(TypeError):
        money.render(value)


def test_with_currency():
    assert money.with_currency(120000, "USD") == "1200.00 USD"


two_place_decimals = st.builds(
    lambda whole, cents: f"{whole}.{cents:02d}",
    st.integers(min_value=0, max_value=10 ** 15 - 1), st.integers(min_value=0, max_value=99),
).filter(lambda s: s != "0.00")


@given(two_place_decimals)
def test_render_parse_round_trips(text):
    assert money.render(money.parse(text)) == text


@given(st.integers(min_value=1, max_value=money.MAX_CENTS))
def test_parse_render_round_trips_cents(cents):
    assert money.cents(money.render(cents)) == cents


@given(st.integers(min_value=0, max_value=10 ** 15 - 1), st.integers(min_value=0, max_value=9))
def test_one_place_means_tenths(whole, tenth):
    text = f"{whole}.{tenth}"
    if text in ("0.0",):
        return
    assert money.render(money.cents(text)) == f"{whole}.{tenth}0"


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_always_refused(value):
    with pytest.raises(money.InvalidMoney):
        money.cents(value)


@given(st.integers(min_value=1, max_value=10 ** 15 - 1), st.integers(min_value=0, max_value=99),
       st.integers(min_value=0, max_value=9))
def test_three_places_are_always_refused(whole, cents, extra):
    with pytest.raises(money.InvalidMoney):
        money.cents(f"{whole}.{cents:02d}{extra}")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2,
                   min_value=Decimal("0.01"), max_value=Decimal("999999999999999.99")))
def test_matches_decimal_arithmetic(value):
    assert money.cents(str(value)) == int(value * 100)
