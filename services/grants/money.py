"""Exact money (DOMAIN.md section 3): decimals with at most 2 places.

Amounts cross the API as strings ("86454.20"), live in Mongo as integer
cents (int64) and are rendered back with exactly two places. No float is
ever involved: a Python float is refused outright (0.1 + 0.2 is not money),
and so are exponents, NaN, Infinity, signs and more than 2 places.

Pure: no I/O. `cents` raises `InvalidMoney` (a ValueError) with a message a
person can act on; `parse` turns that into BadUserInput naming the field.
"""
import re

from services.common.errors import BadUserInput

MAX_INTEGER_DIGITS = 15
MAX_CENTS = 10 ** MAX_INTEGER_DIGITS * 100 - 1  # 999999999999999.99, far below int64
_MAX_TEXT = 40  # longer strings are refused before any parsing

# ASCII digits only (\d would accept Arabic-Indic and other digits), an
# integer part, optionally a point and one or two decimals; nothing else.
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?", re.ASCII)
_LOOKS_DECIMAL = re.compile(r"[0-9]+\.[0-9]+", re.ASCII)

EXAMPLE = '"86454.20"'


class InvalidMoney(ValueError):
    """The value is not an acceptable amount; str() says why."""


def cents(value: object, positive: bool = True) -> int:
    """An amount (str like "86454.2", or int) -> integer cents.

    positive=True (every amount in this service): zero is refused too."""
    if isinstance(value, bool):
        raise InvalidMoney(f"Must be an amount written as text, like {EXAMPLE}.")
    if isinstance(value, float):
        raise InvalidMoney(f"Must be an exact amount written as text, like {EXAMPLE}, "
                           "not a floating-point number.")
    if isinstance(value, int):
        if value < 0:
            raise InvalidMoney("Must not be negative.")
        if value > MAX_CENTS // 100:
            raise InvalidMoney(f"At most {MAX_INTEGER_DIGITS} digits before the decimal point.")
        result = value * 100
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidMoney(f"Must not be empty; write an amount like {EXAMPLE}.")
        if len(text) > _MAX_TEXT:
            raise InvalidMoney(f"At most {MAX_INTEGER_DIGITS} digits before the decimal point "
                               "and 2 after it.")
        if text.startswith("-"):
            raise InvalidMoney("Must not be negative.")
        match = _DECIMAL.fullmatch(text)
        if match is None:
            if _LOOKS_DECIMAL.fullmatch(text):
                raise InvalidMoney("At most 2 decimal places.")
            raise InvalidMoney(f"Must be a decimal number with at most 2 decimal places, like "
                               f"{EXAMPLE} (no sign, exponent, spaces or thousands separators).")
        whole, fraction = match.group(1), match.group(2) or ""
        if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
            raise InvalidMoney(f"At most {MAX_INTEGER_DIGITS} digits before the decimal point.")
        result = int(whole) * 100 + int(fraction.ljust(2, "0"))
    else:
        raise InvalidMoney(f"Must be an amount written as text, like {EXAMPLE}.")
    if positive and result == 0:
        raise InvalidMoney("Must be greater than 0.")
    return result


def parse(value: object, field: str = "amount", positive: bool = True) -> int:
    """Like `cents`, but a refusal is BadUserInput naming `field` (as the client names it)."""
    try:
        return cents(value, positive=positive)
    except InvalidMoney as exc:
        raise BadUserInput(f"{field} is not a valid amount: {exc}", {field: [str(exc)]}) from None


def render(amount_cents: int) -> str:
    """Integer cents -> "86454.20" (exactly two places)."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise TypeError(f"cents must be an int, not {type(amount_cents).__name__}")
    sign = "-" if amount_cents < 0 else ""
    whole, fraction = divmod(abs(amount_cents), 100)
    return f"{sign}{whole}.{fraction:02d}"


def with_currency(amount_cents: int, currency: str) -> str:
    """"1200.00 USD", for messages."""
    return f"{render(amount_cents)} {currency}"
