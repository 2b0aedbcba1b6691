"""The grants service's boundaries: RPC input (camelCase, as the API names
fields, so errors name the fields the client sent) and RPC output (snake_case
views; money as "x.xx" strings, dates as "YYYY-MM-DD")."""
import re
from datetime import date

import pycountry
from marshmallow import Schema, ValidationError, fields, post_load, validates_schema

from services.common.validation import Deadline, StrictSchema, Text, one_of
from services.common.vocabulary import DEFAULT_SECTOR_CODE, GrantStatus
from services.grants import budget, domain, indicators, money
from services.grants.reports import MAX_NARRATIVE, MAX_NOTE

# ISO 4217 codes that are not money one can be granted
NOT_CURRENCIES = {"XXX", "XTS"}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_SECTOR_CODE = re.compile(r"[0-9]{5}", re.ASCII)  # OECD DAC 5-digit purpose code


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


def sector_code(value):
    if not _SECTOR_CODE.fullmatch(value):
        raise ValidationError("Must be an OECD DAC 5-digit purpose code, such as "
                              f"{DEFAULT_SECTOR_CODE}.")


class BudgetLineInput(StrictSchema):
    period_start = IsoDate(required=True, data_key="periodStart")
    period_end = IsoDate(required=True, data_key="periodEnd")
    amount_cents = Money(required=True, data_key="amount")


class BudgetLines(fields.Field):
    """A list of budget lines; a bad one is named by its number ("Line 2:
    periodEnd: ..."), all under the one field (the grant's rules about them
    are GrantInput's)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (list, tuple)):
            raise ValidationError("Must be a list of budget lines.")
        if len(value) > budget.MAX_BUDGET_LINES:
            raise ValidationError(f"At most {budget.MAX_BUDGET_LINES} budget lines.")
        lines, messages = [], []
        for number, line in enumerate(value, 1):
            try:
                lines.append(BudgetLineInput().load(line if isinstance(line, dict) else {}))
            except ValidationError as exc:
                problems = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
                messages += [f"Line {number}: {name}: {' '.join(map(str, why))}"
                             for name, why in sorted(problems.items())]
        if messages:
            raise ValidationError(messages)
        return lines


class GrantInput(StrictSchema):
    title = Text(required=True, min_length=1, max_length=200)
    donor = Text(required=True, min_length=1, max_length=200)
    currency = Text(required=True, validate=currency_code)
    amount_cents = Money(required=True, data_key="amount")
    start_date = IsoDate(required=True, data_key="startDate")
    end_date = IsoDate(required=True, data_key="endDate")
    sector_code = Text(load_default=None, allow_none=True, validate=sector_code,
                       data_key="sectorCode")
    budget_lines = BudgetLines(load_default=None, allow_none=True, data_key="budgetLines")

    @validates_schema
    def period(self, data, **kwargs):
        message = domain.period_error(data.get("start_date"), data.get("end_date"))
        if message:
            raise ValidationError(message, "endDate")

    @validates_schema
    def budget_fits(self, data, **kwargs):
        if data.get("budget_lines") and "start_date" in data and "end_date" in data \
                and data["start_date"] <= data["end_date"]:
            message = budget.budget_error(data["budget_lines"], data["start_date"],
                                          data["end_date"], data["amount_cents"],
                                          data["currency"].upper())
            if message:
                raise ValidationError(message, "budgetLines")

    @post_load
    def normalise(self, data, **kwargs):
        data["currency"] = data["currency"].upper()
        data["sector_code"] = data.get("sector_code") or DEFAULT_SECTOR_CODE
        data["budget_lines"] = data.get("budget_lines") or []
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
    # grants created before issue 19 have none of these: 13040, no lines, open
    sector_code = fields.Function(lambda g: g.get("sector_code") or DEFAULT_SECTOR_CODE)
    budget_lines = fields.Function(lambda g: [budget.line_view(line)
                                              for line in g.get("budget_lines") or []])
    closed_at = fields.Function(lambda g: domain.iso_utc(g.get("closed_at")))

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


# ---- reports (DOMAIN.md section 10; the rules are in reports.py) ----------

class Indicators(fields.Field):
    """Indicator rows (indicators.py): exact decimals; every bad row named
    ("Row 2: actual must not be negative."), all under the one field."""

    def _deserialize(self, value, attr, data, **kwargs):
        rows, messages = indicators.rows(value)
        if messages:
            raise ValidationError(messages)
        return rows


class ReportInput(StrictSchema):
    narrative = Text(required=True, min_length=1, max_length=MAX_NARRATIVE)
    spent_cents = Money(required=True, positive=False, data_key="spent")
    indicators = Indicators(load_default=list)


class ScheduleInput(StrictSchema):
    due_on = IsoDate(required=True, data_key="dueOn")


class Flag(fields.Field):
    """true or false, and nothing that merely looks like one ("yes", 1)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class ReviewInput(StrictSchema):
    accept = Flag(required=True)
    note = Text(load_default=None, allow_none=True, max_length=MAX_NOTE)

    @validates_schema
    def note_when_sent_back(self, data, **kwargs):
        if data.get("accept") is False and not data.get("note"):
            raise ValidationError("Say what should change: a note is required when changes "
                                  "are requested.", "note")

    @post_load
    def normalise(self, data, **kwargs):
        data["note"] = data.get("note") or None
        return data
