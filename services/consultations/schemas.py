"""Boundaries of the consultations service: RPC input (camelCase, as the API
names fields) and the views it returns.

A deadline given by a person must be in the future (validation.Deadline),
checked here with every other field, before any work."""
from marshmallow import (
    Schema, ValidationError, fields, pre_load, validates, validates_schema)

from services.common.validation import Deadline, StrictSchema, Text, one_of
from services.common.vocabulary import (
    DEFAULT_QUORUM, DEFAULT_RULE, ConsultationKind, ConsultationStatus, DecisionRule,
    ResultsVisibility, StanceValue)
from services.consultations import domain

MAX_TITLE = 200
MAX_PROPOSAL = 20000
MAX_REASON = 2000


class ConsultationInput(StrictSchema):
    title = Text(required=True, min_length=1, max_length=MAX_TITLE)
    proposal = Text(required=True, min_length=1, max_length=MAX_PROPOSAL)
    closes_at = Deadline(required=True, data_key="closesAt")
    rule = fields.String(load_default=DEFAULT_RULE, validate=one_of(DecisionRule))
    quorum = fields.Float(load_default=DEFAULT_QUORUM, allow_nan=False)
    threshold = fields.Float(load_default=None, allow_none=True, allow_nan=False)
    # chosen here, never changed afterwards (DOMAIN.md section 9)
    results_visibility = fields.String(load_default=ResultsVisibility.OPEN,
                                       validate=one_of(ResultsVisibility),
                                       data_key="resultsVisibility")

    @pre_load
    def null_is_the_default(self, data, **kwargs):
        """`rule: null`, `quorum: null` or `resultsVisibility: null` take the
        default, as leaving them out does."""
        return {k: v for k, v in data.items()
                if v is not None or k not in ("rule", "quorum", "resultsVisibility")}

    @validates("quorum")
    def check_quorum(self, value, **kwargs):
        if not 0 < value <= 1:
            raise ValidationError("Must be a fraction greater than 0 and at most 1.")

    @validates_schema
    def check_threshold(self, data, **kwargs):
        threshold = data.get("threshold")
        if data.get("rule") == DecisionRule.MODIFIED_CONSENSUS:
            if threshold is None:
                raise ValidationError("Required for MODIFIED_CONSENSUS.", "threshold")
            if not 0.5 < threshold <= 1:
                raise ValidationError("Must be greater than 0.5 and at most 1.", "threshold")
        elif threshold is not None:
            raise ValidationError("Only MODIFIED_CONSENSUS uses a threshold.", "threshold")


class StanceInput(StrictSchema):
    value = fields.String(required=True, validate=one_of(StanceValue))
    reason = Text(load_default=None, allow_none=True, max_length=MAX_REASON)

    @validates_schema
    def block_needs_reason(self, data, **kwargs):
        if data.get("value") == StanceValue.BLOCK and not data.get("reason"):
            raise ValidationError("A BLOCK needs a reason: say what principle it protects.",
                                  "reason")


class NextRoundInput(StrictSchema):
    proposal = Text(required=True, min_length=1, max_length=MAX_PROPOSAL)
    closes_at = Deadline(required=True, data_key="closesAt")


class CancelInput(StrictSchema):
    reason = Text(required=True, min_length=1, max_length=MAX_REASON)


class SuspensionInput(StrictSchema):
    member_id = Text(required=True, min_length=1, max_length=100, data_key="memberId")
    reason = Text(required=True, min_length=1, max_length=MAX_REASON)
    closes_at = Deadline(load_default=None, allow_none=True, data_key="closesAt")


class ListFilter(StrictSchema):
    status = fields.String(load_default=None, allow_none=True, validate=one_of(ConsultationStatus))
    kind = fields.String(load_default=None, allow_none=True, validate=one_of(ConsultationKind))


class TallyView(Schema):
    eligible = fields.Integer()
    responded = fields.Integer()
    # None while a HIDDEN_UNTIL_CLOSED round is open (domain.shown_tally)
    agree = fields.Integer(allow_none=True)
    reservations = fields.Integer(allow_none=True)
    stand_aside = fields.Integer(allow_none=True)
    block = fields.Integer(allow_none=True)
    quorum_reached = fields.Boolean()


class RoundView(Schema):
    number = fields.Integer()
    proposal = fields.String()
    outcome = fields.String()
    tally = fields.Nested(TallyView)
    closed_at = fields.AwareDateTime()
    explanation = fields.String()


class ConsultationView(Schema):
    # what it is about
    id = fields.String(attribute="_id")
    kind = fields.String()
    subject_id = fields.String(allow_none=True)
    # the member the case is about (admission, suspension, an allocation's
    # member), or None (GENERAL); what the gateway hides from ANONYMOUS when
    # that member is MEMBERS_ONLY (DOMAIN.md section 11)
    beneficiary_id = fields.String(allow_none=True, dump_default=None)
    title = fields.String()
    proposal = fields.String()
    # how it decides: the rule (with its threshold under MODIFIED_CONSENSUS) and the quorum
    rule = fields.String()
    threshold = fields.Float(allow_none=True)
    quorum = fields.Float()
    # where it stands: its current round (a live tally while OPEN), or the last one
    status = fields.String()
    round = fields.Integer()
    opened_at = fields.AwareDateTime()
    closes_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    tally = fields.Nested(TallyView)
    results_visibility = fields.String(dump_default=ResultsVisibility.OPEN)
    outcome = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    # every round closed so far
    rounds = fields.List(fields.Nested(RoundView))


class StanceView(Schema):
    consultation_id = fields.String()
    round = fields.Integer()
    member_id = fields.String()
    value = fields.String()
    reason = fields.String(allow_none=True)
    cast_at = fields.AwareDateTime()
    cast_by = fields.String(allow_none=True, dump_default=None)  # the proxy holder, if one cast it


class ProxyState(Schema):
    """What a proxy and each line of its audit trail say: whose, and where it stands."""
    round = fields.Integer()
    granter_id = fields.String()
    holder_id = fields.String()
    status = fields.String()


class ProxyView(ProxyState):
    id = fields.String(attribute="_id")
    consultation_id = fields.String()
    offered_at = fields.AwareDateTime()


class ProxyAuditView(ProxyState):
    proxy_id = fields.String()
    actor = fields.String()  # the member that made the change, or "system" (EXPIRED)
    at = fields.AwareDateTime()


stance_view = StanceView().dump
proxy_view = ProxyView().dump
proxy_audit_view = ProxyAuditView().dump


def consultation_view(doc, tally=None):
    """The public view of a consultation; `tally` is the live one of an OPEN
    round (dependencies.tallies), else the one the document keeps. While its
    round's results are hidden, the four counts are None: the values never
    leave the service, not even for the gateway to filter."""
    tally = tally or domain.Tally.from_doc(doc["tally"])
    shown = domain.shown_tally(domain.tally_view(tally, doc["quorum"]),
                               domain.results_hidden(doc))
    return ConsultationView().dump({**doc, "tally": shown})
