"""marshmallow helpers shared by the services' schemas."""
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import pycountry
from email_validator import EmailNotValidError, validate_email
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.common.errors import BadUserInput, bad_input_from


class StrictSchema(Schema):
    """Input at a boundary: a field the schema does not name is refused
    (BAD_USER_INPUT naming it), never silently dropped."""

    class Meta:
        unknown = RAISE


# What no text of ours may hold: the control characters other than tab,
# line feed and carriage return, lone surrogates, and U+FFFE/U+FFFF. XML 1.0
# cannot carry them (an IATI export would fail on one), and no name, title
# or proposal needs them.
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Text(fields.String):
    """A string, stripped; refuses non-strings (a `{"$gt": ""}` is not text)
    and characters that are not text (NOT_TEXT)."""

    def __init__(self, *args: Any, max_length: int | None = None, min_length: int | None = None,
                 **kwargs: Any) -> None:
        self.max_length = max_length
        self.min_length = min_length
        super().__init__(*args, **kwargs)

    def _deserialize(self, value: object, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Must be text.")
        value = value.strip()
        if NOT_TEXT.search(value):
            raise ValidationError("Must not contain control characters.")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValidationError("Must not be empty." if self.min_length == 1
                                  else f"Must be at least {self.min_length} characters.")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValidationError(f"Must be at most {self.max_length} characters.")
        return value


def country_code(value: object) -> None:
    if not isinstance(value, str) or pycountry.countries.get(alpha_2=value.upper()) is None \
            or len(value) != 2:
        raise ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code.")


def email_address(value: str) -> None:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"Not a valid e-mail address: {exc}")


def load(schema: Schema, data: object, message: str = "Some fields are not valid.") -> Any:
    """schema.load or BadUserInput naming each bad field."""
    if not isinstance(data, dict):
        raise BadUserInput("Input must be an object.", {"input": ["Must be an object."]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise bad_input_from(exc, message) from None


def one_of(values: Iterable[str]) -> validate.OneOf:
    """marshmallow's OneOf for an enum of the vocabulary (or any words)."""
    return validate.OneOf([str(v) for v in values])


class Deadline(fields.AwareDateTime):
    """A deadline a person gives: an aware date-time in the future. Checked at
    the boundary, so a past one is reported with every other bad field and
    before any work (one that comes in an event may have passed meanwhile:
    the services decide what that means)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        if moment <= datetime.now(timezone.utc):
            raise ValidationError("Must be in the future.")
        return moment
