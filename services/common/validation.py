"""marshmallow helpers shared by the services' schemas."""
import pycountry
from email_validator import EmailNotValidError, validate_email
from marshmallow import ValidationError, fields

from services.common.errors import bad_input_from


class Text(fields.String):
    """A string, stripped; refuses non-strings (a `{"$gt": ""}` is not text)."""

    def __init__(self, *args, max_length=None, min_length=None, **kwargs):
        self.max_length = max_length
        self.min_length = min_length
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Must be text.")
        value = value.strip()
        if self.min_length is not None and len(value) < self.min_length:
            raise ValidationError("Must not be empty." if self.min_length == 1
                                  else f"Must be at least {self.min_length} characters.")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValidationError(f"Must be at most {self.max_length} characters.")
        return value


def country_code(value):
    if not isinstance(value, str) or pycountry.countries.get(alpha_2=value.upper()) is None \
            or len(value) != 2:
        raise ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code.")


def email_address(value):
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"Not a valid e-mail address: {exc}")


def load(schema, data, message="Some fields are not valid."):
    """schema.load or BadUserInput naming each bad field."""
    if not isinstance(data, dict):
        from services.common.errors import BadUserInput
        raise BadUserInput("Input must be an object.", {"input": ["Must be an object."]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise bad_input_from(exc, message) from None
