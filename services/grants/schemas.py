"""The grants service's boundaries: RPC input (camelCase, as the API names
fields, so errors name the fields the client sent) and RPC output (snake_case
views; money as "x.xx" strings, dates as "YYYY-MM-DD")."""
import re
from datetime import date

import pycountry
from marshmallow import Schema, ValidationError, fields, post_load, validates_schema

from services.common.validation import Deadline, StrictSchema, Text, one_of
from services.common.vocabulary import GrantStatus
from services.grants import domain, money

# ISO 4217 codes that are not money one can be granted
NOT_CURRENCIES = {"XXX", "XTS"}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def currency_code(value):
    code = value.upper()
    if (len(code) != 3 or not code.isascii() or not code.isalpha() or code in NOT_CURRENCIES
            or pycountry.currencies.get(alpha_3=code) is None):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code.")


class Money(fields.Field):
    """An exact amount: loads "86454.2" (or an int) as integer cents, dumps
    cents as "86454.20". Floats, exponents, NaN, signs and > 2 places are refused."""

    def __init__(self, *args, positive=True, **kwargs):
        self.positive = positive
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return money.cents(value, positive=self.positive)
        except money.InvalidMoney as exc:
            raise ValidationError(str(exc)) from None

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else money.render(value)


class IsoDate(fields.Field):
    """A calendar date written exactly as "2016-01-01"; loads a datetime.date."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValidationError('Must be a date written as "2016-01-01".')
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError("Not a valid date.") from None

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if isinstance(value, date) else value


class Id(Text):
    """An id as sent: any text. One that names nothing (whatever its shape) is
    NOT_FOUND later, never BAD_USER_INPUT; a non-string is not an id at all."""


class GrantInput(StrictSchema):
    title = Text(required=True, min_length=1, max_length=200)
    donor = Text(required=True, min_length=1, max_length=200)
    currency = Text(required=True, validate=currency_code)
    amount_cents = Money(required=True, data_key="amount")
    start_date = IsoDate(required=True, data_key="startDate")
    end_date = IsoDate(required=True, data_key="endDate")

    @validates_schema
    def period(self, data, **kwargs):
        message = domain.period_error(data.get("start_date"), data.get("end_date"))
        if message:
            raise ValidationError(message, "endDate")

    @post_load
    def normalise(self, data, **kwargs):
        data["currency"] = data["currency"].upper()
        return data


class AllocationInput(StrictSchema):
    grant_id = Id(required=True, data_key="grantId")
    member_id = Id(required=True, data_key="memberId")
    amount_cents = Money(required=True, data_key="amount")
    purpose = Text(required=True, min_length=1, max_length=2000)
    closes_at = Deadline(load_default=None, allow_none=True, data_key="closesAt")


class DisbursementInput(StrictSchema):
    allocation_id = Id(required=True, data_key="allocationId")
    amount_cents = Money(required=True, data_key="amount")
    paid_on = IsoDate(required=True, data_key="paidOn")
    reference = Text(load_default=None, allow_none=True, max_length=200)

    @post_load
    def normalise(self, data, **kwargs):
        data["reference"] = data.get("reference") or None
        return data


class ListFilter(StrictSchema):
    status = fields.String(load_default=None, allow_none=True,
                           validate=one_of(GrantStatus))


class GrantView(Schema):
    id = fields.String(attribute="_id")
    title = fields.String()
    donor = fields.String()
    currency = fields.String()
    amount = Money(attribute="amount_cents")
    start_date = fields.String()
    end_date = fields.String()
    status = fields.String()
    allocated = Money(attribute="allocated_cents")   # PROPOSED + APPROVED + ON_HOLD
    disbursed = Money(attribute="disbursed_cents")
    available = fields.Method("get_available")       # amount - allocated

    def get_available(self, grant):
        return money.render(domain.available_cents(grant))


class AllocationView(Schema):
    id = fields.String(attribute="_id")
    grant_id = fields.String()
    member_id = fields.String()
    amount = Money(attribute="amount_cents")
    purpose = fields.String()
    status = fields.String()
    disbursed = Money(attribute="disbursed_cents")
    created_at = fields.AwareDateTime()


class DisbursementView(Schema):
    id = fields.String(attribute="_id")
    allocation_id = fields.String()
    amount = Money(attribute="amount_cents")
    paid_on = fields.String()
    reference = fields.String(allow_none=True)
    recorded_at = fields.AwareDateTime()
