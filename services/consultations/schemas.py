"""Boundaries of the consultations service: RPC input (camelCase, as the API
names fields) and the views it returns."""
from datetime import datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from services.common.validation import Text

RULES = ["CONSENSUS", "MODIFIED_CONSENSUS"]
STANCE_VALUES = ["AGREE", "RESERVATIONS", "STAND_ASIDE", "BLOCK"]
KINDS = ["GENERAL", "MEMBERSHIP_ADMISSION", "MEMBER_SUSPENSION", "GRANT_ALLOCATION"]
STATUSES = ["OPEN", "CLOSED", "CANCELLED"]


class _Input(Schema):
    class Meta:
        unknown = RAISE


def future(value):
    if value <= datetime.now(timezone.utc):
        raise ValidationError("Must be in the future.")


Deadline = lambda **kw: fields.AwareDateTime(validate=future, **kw)  # noqa: E731


class ConsultationInput(_Input):
    title = Text(required=True, min_length=1, max_length=200)
    proposal = Text(required=True, min_length=1, max_length=20000)
    closes_at = Deadline(required=True, data_key="closesAt")
    rule = fields.String(load_default="CONSENSUS", allow_none=True, validate=validate.OneOf(RULES))
    quorum = fields.Float(load_default=0.5, allow_none=True, allow_nan=False)
    threshold = fields.Float(load_default=None, allow_none=True, allow_nan=False)

    @validates("quorum")
    def check_quorum(self, value, **kwargs):
        if value is not None and not 0 < value <= 1:
            raise ValidationError("Must be a fraction greater than 0 and at most 1.")

    @validates_schema
    def check_threshold(self, data, **kwargs):
        rule = data.get("rule") or "CONSENSUS"
        threshold = data.get("threshold")
        if rule == "MODIFIED_CONSENSUS":
            if threshold is None:
                raise ValidationError("Required for MODIFIED_CONSENSUS.", "threshold")
            if not 0.5 < threshold <= 1:
                raise ValidationError("Must be greater than 0.5 and at most 1.", "threshold")
        elif threshold is not None:
            raise ValidationError("Only MODIFIED_CONSENSUS uses a threshold.", "threshold")


class StanceInput(_Input):
    value = fields.String(required=True, validate=validate.OneOf(STANCE_VALUES))
    reason = Text(load_default=None, allow_none=True, max_length=2000)

    @validates_schema
    def block_needs_reason(self, data, **kwargs):
        if data.get("value") == "BLOCK" and not data.get("reason"):
            raise ValidationError("A BLOCK needs a reason: say what principle it protects.",
                                  "reason")


class NextRoundInput(_Input):
    proposal = Text(required=True, min_length=1, max_length=20000)
    closes_at = Deadline(required=True, data_key="closesAt")


class CancelInput(_Input):
    reason = Text(required=True, min_length=1, max_length=2000)


class SuspensionInput(_Input):
    member_id = Text(required=True, min_length=1, max_length=100, data_key="memberId")
    reason = Text(required=True, min_length=1, max_length=2000)
    closes_at = Deadline(load_default=None, allow_none=True, data_key="closesAt")


class ListFilter(_Input):
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(STATUSES))
    kind = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(KINDS))


class TallyView(Schema):
    eligible = fields.Integer()
    responded = fields.Integer()
    agree = fields.Integer()
    reservations = fields.Integer()
    stand_aside = fields.Integer()
    block = fields.Integer()
    quorum_reached = fields.Boolean()


class RoundView(Schema):
    number = fields.Integer()
    proposal = fields.String()
    outcome = fields.String()
    tally = fields.Nested(TallyView)
    closed_at = fields.AwareDateTime()
    explanation = fields.String()


class ConsultationView(Schema):
    id = fields.String(attribute="_id")
    kind = fields.String()
    title = fields.String()
    proposal = fields.String()
    subject_id = fields.String(allow_none=True)
    status = fields.String()
    round = fields.Integer()
    rule = fields.String()
    quorum = fields.Float()
    threshold = fields.Float(allow_none=True)
    opened_at = fields.AwareDateTime()
    closes_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    tally = fields.Nested(TallyView)
    outcome = fields.String(allow_none=True)
    rounds = fields.List(fields.Nested(RoundView))
    cancel_reason = fields.String(allow_none=True)


class StanceView(Schema):
    consultation_id = fields.String()
    round = fields.Integer()
    member_id = fields.String()
    value = fields.String()
    reason = fields.String(allow_none=True)
    cast_at = fields.AwareDateTime()
