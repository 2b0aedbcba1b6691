"""A report's indicators (DOMAIN.md section 10): exact decimals, as money is.

An indicator value crosses the API as text ("150000", "12.5"), lives in
Mongo as a BSON Decimal128 (never a float) and is rendered back as plain
text without an exponent or trailing zeros. Refused: floats, booleans,
exponents, NaN, Infinity, signs (a value is never negative), more than
MAX_INTEGER_DIGITS digits before the point or MAX_FRACTION_DIGITS after it.

Pure: no I/O. `rows` checks a whole list and names each bad row
("Row 2: actual must not be negative."), so one answer lists every mistake.
"""
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128

from services.common.validation import NOT_TEXT

MAX_INDICATORS = 100
MAX_NAME = 200
MAX_UNIT = 50
MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 6
_MAX_TEXT = 40
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_FIELDS = ("name", "unit", "target", "actual")
EXAMPLE = '"150000" or "12.5"'


class InvalidDecimal(ValueError):
    """Not an acceptable indicator value; str() says why."""


def parse(value: object) -> Decimal:
    """Text like "12.5" (or an int) -> an exact Decimal >= 0; InvalidDecimal if not."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidDecimal(f"must be an exact number written as text, like {EXAMPLE}")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidDecimal(f"must be a number written as text, like {EXAMPLE}")
    text = value.strip()
    if text.startswith("-"):
        raise InvalidDecimal("must not be negative")
    match = _DECIMAL.fullmatch(text) if len(text) <= _MAX_TEXT else None
    if match is None:
        raise InvalidDecimal(f"must be a decimal number like {EXAMPLE} (no sign, exponent, "
                             "spaces or thousands separators)")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise InvalidDecimal(f"at most {MAX_INTEGER_DIGITS} digits before the decimal point")
    if len(fraction) > MAX_FRACTION_DIGITS:
        raise InvalidDecimal(f"at most {MAX_FRACTION_DIGITS} digits after the decimal point")
    return Decimal(text)


def stored(value: Decimal) -> Decimal128:
    """The value as Mongo keeps it (exact, without trailing zeros)."""
    return Decimal128(_plain(value))


def render(value: Decimal128 | Decimal | None) -> str | None:
    """A stored value as plain text: "150000", "12.5", "0"."""
    if value is None:
        return None
    number = value.to_decimal() if isinstance(value, Decimal128) else value
    return _plain(number)


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _text(row: Mapping[str, Any], name: str, low: int, high: int) -> tuple[str | None, str | None]:
    """(stripped text or None when empty, error or None) of the row's field."""
    value = row.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        return None, f"{name} must be text"
    value = value.strip()
    if NOT_TEXT.search(value):
        return None, f"{name} must not contain control characters"
    if len(value) < low:
        return None, f"{name} must not be empty"
    if len(value) > high:
        return None, f"{name} must be at most {high} characters"
    return value or None, None


def _number(row: Mapping[str, Any], name: str, required: bool) -> tuple[Decimal | None,
                                                                          str | None]:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (f"{name} is required" if required else None)
    try:
        return parse(value), None
    except InvalidDecimal as exc:
        return None, f"{name} {exc}"


def row(data: object) -> tuple[dict[str, Any] | None, list[str]]:
    """(the row as stored, []) or (None, [what is wrong with it, ...])."""
    if not isinstance(data, Mapping):
        return None, ["must be an object with name, unit, target and actual"]
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    errors = [f"{name} is not a field of an indicator" for name in unknown]
    name, name_error = _text(data, "name", 1, MAX_NAME)
    unit, unit_error = _text(data, "unit", 0, MAX_UNIT)
    target, target_error = _number(data, "target", required=False)
    actual, actual_error = _number(data, "actual", required=True)
    errors += [e for e in (name_error, unit_error, target_error, actual_error) if e]
    if errors:
        return None, errors
    assert actual is not None
    return {"name": name, "unit": unit,
            "target": None if target is None else stored(target), "actual": stored(actual)}, []


def rows(data: object) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows as stored, messages): each message names its row, 1-based:
    "Row 2: actual must not be negative."."""
    if not isinstance(data, (list, tuple)):
        return [], ["Must be a list of indicators."]
    if len(data) > MAX_INDICATORS:
        return [], [f"At most {MAX_INDICATORS} indicators."]
    result, messages = [], []
    for number, item in enumerate(data, 1):
        loaded, errors = row(item)
        messages += [f"Row {number}: {error}." for error in errors]
        if loaded is not None:
            result.append(loaded)
    return result, messages


def view(stored_row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored indicator as the report view shows it (decimals as plain text)."""
    return {"name": stored_row["name"], "unit": stored_row.get("unit"),
            "target": render(stored_row.get("target")), "actual": render(stored_row["actual"])}
