"""The contract's scalars: DateTime (ISO-8601, UTC on output), Date, and
Decimal (exact, as a string; never a float)."""
from datetime import date, datetime, timezone
from typing import Any, Callable

import graphene
from graphql import GraphQLError
from graphql.language import ast


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise GraphQLError(f"DateTime must be ISO-8601 with an offset, got {value!r}.")
    else:
        raise GraphQLError("DateTime must be a string.")
    if parsed.tzinfo is None:
        raise GraphQLError(f"DateTime needs a UTC offset, e.g. 2026-11-22T10:00:00+00:00; "
                           f"got {value!r}.")
    return parsed.astimezone(timezone.utc)


def _datetime_text(value: Any) -> str:
    """A DateTime input as the services take it: ISO-8601 in UTC."""
    return _parse_datetime(value).isoformat()


def _date_text(value: Any) -> str:
    """A Date input as the services take it: "2026-11-22"."""
    if not isinstance(value, str):
        raise GraphQLError("Date must be a string like 2026-11-22.")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise GraphQLError(f"Date must look like 2026-11-22, got {value!r}.")


def string_literal(parse: Callable[[str], str], refusal: str) -> Any:
    """`parse_literal` of a scalar a query writes as a string: `parse` it,
    or refuse any other literal with `refusal`."""
    def parse_literal(node: ast.ValueNode, _variables: Any = None) -> str:
        if isinstance(node, ast.StringValueNode):
            return parse(node.value)
        raise GraphQLError(refusal)
    return staticmethod(parse_literal)


class DateTime(graphene.Scalar):
    """ISO-8601 with offset, UTC on output: "2026-11-22T10:00:00+00:00"."""

    @staticmethod
    def serialize(value: Any) -> str:
        return _parse_datetime(value).isoformat(timespec="seconds")

    parse_value = staticmethod(_datetime_text)
    parse_literal = string_literal(_datetime_text, "DateTime must be a string.")


class Date(graphene.Scalar):
    """"2026-11-22"."""

    @staticmethod
    def serialize(value: Any) -> str:
        return value.isoformat() if isinstance(value, date) else str(value)

    parse_value = staticmethod(_date_text)
    parse_literal = string_literal(_date_text, "Date must be a string like 2026-11-22.")


class Decimal(graphene.Scalar):
    """Exact decimal as a string: "86454.20" (never a float). Input is passed
    on as the text the client wrote, so the service can refuse "1e309" or a
    third decimal with a message on the field."""

    @staticmethod
    def serialize(value: Any) -> str:
        return str(value)

    @staticmethod
    def parse_value(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise GraphQLError("Decimal must be sent as a string, e.g. \"86454.20\" "
                               "(a JSON number may already have lost exactness).")
        return str(value)

    @staticmethod
    def parse_literal(node: ast.ValueNode, _variables: Any = None) -> str:
        if isinstance(node, (ast.StringValueNode, ast.IntValueNode, ast.FloatValueNode)):
            return node.value
        raise GraphQLError("Decimal must be a string, e.g. \"86454.20\".")
