"""Typed domain errors that cross nameko RPC with their type and fields.

nameko serialises an exception as its class path plus `args`; classes
registered with `deserialize_to_instance` are rebuilt on the caller's side
from those args. So every error here keeps *all* its state in `args`:
(message,) or (message, fields). The gateway maps `code` to
`extensions.code` in one table (services/gateway/errors.py).
"""
from collections.abc import Mapping, Sequence
from typing import Any

from marshmallow import ValidationError
from nameko.exceptions import deserialize_to_instance

FieldMessages = dict[str, list[str]]  # "a.b" -> messages about that field

# The refusals of a registration or an application whose name, or focal
# point's address, a member has already (DOMAIN.md section 1). They tell the
# caller that the coalition knows that organisation or address, whatever the
# member's visibility (section 11), so the gateway never gives an anonymous
# client's application back to its hourly limit for them (docs/safety.md).
NAME_TAKEN = "A member with this name already exists."
FOCAL_POINT_TAKEN = "This focal point's e-mail address is already used by another member."
TELLS_WHO_IS_KNOWN = frozenset({NAME_TAKEN, FOCAL_POINT_TAKEN})


class DomainError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *rest: object) -> None:
        super().__init__(message, *rest)

    @property
    def message(self) -> str:
        return str(self.args[0])

    def __str__(self) -> str:
        return self.message


@deserialize_to_instance
class BadUserInput(DomainError):
    """Invalid input; `fields` maps field name -> list of messages."""
    code = "BAD_USER_INPUT"

    def __init__(self, message: str,
                 fields: Mapping[str, Any] | Sequence[Any] | None = None) -> None:
        super().__init__(message, normalise_fields(fields or {}))

    @property
    def fields(self) -> FieldMessages:
        fields: FieldMessages = self.args[1]
        return fields


@deserialize_to_instance
class NotFound(DomainError):
    code = "NOT_FOUND"


@deserialize_to_instance
class Conflict(DomainError):
    code = "CONFLICT"


@deserialize_to_instance
class Forbidden(DomainError):
    code = "FORBIDDEN"


@deserialize_to_instance
class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


@deserialize_to_instance
class Unavailable(DomainError):
    """A dependency (the store) did not answer; the request may be retried."""
    code = "SERVICE_UNAVAILABLE"


@deserialize_to_instance
class TooManyRequests(DomainError):
    """A per-client limit was reached (HTTP 429); the message says when to retry."""
    code = "TOO_MANY_REQUESTS"


def normalise_fields(messages: Mapping[Any, Any] | Sequence[Any],
                     prefix: str = "") -> FieldMessages:
    """marshmallow's nested messages -> flat {"a.b": ["msg", ...]}."""
    flat: FieldMessages = {}
    if not isinstance(messages, Mapping):  # a list of messages, or of nested ones
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "_"] = list(messages)
            return flat
        messages = dict(enumerate(messages))
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(normalise_fields(value, name))
        elif isinstance(value, (list, tuple)):
            flat.update(normalise_fields(list(value), name))
        else:
            flat[name] = [str(value)]
    return flat


def bad_input_from(validation_error: ValidationError,
                   message: str = "Some fields are not valid.") -> "BadUserInput":
    """A marshmallow ValidationError as BadUserInput naming each bad field."""
    return BadUserInput(message, validation_error.messages)
