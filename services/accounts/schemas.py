"""The accounts service's boundaries: RPC input and output.

No message here repeats what it refuses: an e-mail address or a code is
never echoed, in an error or anywhere else.

Over RPC (JSON) every moment is ISO 8601 text with its offset
(`2026-12-04T10:30:00.123000+00:00`), as the other services' views give
them: `expires_at` of complete_sign_in and session, `added_at`, `at`.
"""
from email_validator import EmailNotValidError, validate_email
from marshmallow import Schema, ValidationError, fields, validate

from services.common.validation import StrictSchema, Text

MAX_ADDRESS = 254
MAX_CLIENT = 100
MAX_SID = 100
MAX_AUDIT = 1000


def address_shape(value: str) -> None:
    """An e-mail address, refused without repeating it (it is personal data)."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError("Not a valid e-mail address.") from None


def address() -> Text:
    return Text(required=True, min_length=3, max_length=MAX_ADDRESS, validate=address_shape)


def client() -> Text:
    """The caller's client address (the gateway's), kept in the audit."""
    return Text(load_default=None, allow_none=True, max_length=MAX_CLIENT)


class SignInRequest(StrictSchema):
    address = address()
    client = client()


class CodeInput(StrictSchema):
    code = Text(required=True, max_length=100)
    client = client()


class SidInput(StrictSchema):
    sid = Text(required=True, min_length=1, max_length=MAX_SID)
    client = client()


class PersonInput(StrictSchema):
    email = address()
    name = Text(required=True, min_length=1, max_length=200)
    by = Text(required=True, min_length=1, max_length=200)
    client = client()


class RemoveInput(StrictSchema):
    email = address()
    by = Text(required=True, min_length=1, max_length=200)
    client = client()


class MemberIdInput(StrictSchema):
    """A member's id (of member_data and erase_member_data)."""
    member_id = Text(required=True, min_length=1, max_length=MAX_SID)


class AuditQuery(StrictSchema):
    limit = fields.Integer(load_default=100, strict=True, validate=validate.Range(
        min=1, max=MAX_AUDIT, error=f"From 1 to {MAX_AUDIT} entries at a time."))


class PersonView(Schema):
    """A secretariat person: {id, email, name, added_at}."""
    id = fields.String(attribute="_id")
    email = fields.String()
    name = fields.String()
    added_at = fields.AwareDateTime()


class SignedInView(Schema):
    """complete_sign_in's answer, from which the gateway mints the JWT
    (`exp` = expires_at): {sid, expires_at, person_id, role, member_id}."""
    sid = fields.String(attribute="_id")
    expires_at = fields.AwareDateTime()
    person_id = fields.String()
    role = fields.String()
    member_id = fields.String(allow_none=True)


class SessionView(SignedInView):
    """session(sid)'s answer: besides SignedInView, the secretariat person's
    name and email (None for a focal point: the gateway reads its member)."""
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)


class AuditView(Schema):
    at = fields.AwareDateTime()
    action = fields.String()
    person_id = fields.String(allow_none=True)
    client = fields.String(allow_none=True)
