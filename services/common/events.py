"""The event catalogue: every event name, its publisher, its payload schema,
and who consumes it. The one place where events are defined.

An event travels as an envelope:
    {event_id, event_type, source, occurred_at, version, data}
`make_envelope` refuses to build an envelope whose data does not match the
catalogue, so a service cannot dispatch an event that breaks its schema.
"""
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

from marshmallow import Schema, ValidationError, fields, validate

from services.common.validation import StrictSchema, one_of
from services.common.explanations import SENTENCES
from services.common.vocabulary import (DEFAULT_LANGUAGE, DEFAULT_VISIBILITY, AllocationStatus,
                                        ConsultationKind, Language, MemberStatus, Outcome,
                                        ProxyStatus, ReportStatus, ResultsVisibility,
                                        StanceValue, Visibility)

ENVELOPE_VERSION: Final = 1

Envelope = dict[str, Any]

MONEY_TEXT: Final = r"^\d+\.\d{2}$"
Money = fields.String(required=True, validate=validate.Regexp(MONEY_TEXT))
DATE_TEXT: Final = r"^\d{4}-\d{2}-\d{2}$"  # "2026-12-31"


def added(**kwargs: Any) -> fields.String:
    """A text field added to an event after it was first published: events
    sent before lack it, and load as None."""
    return fields.String(allow_none=True, load_default=None, **kwargs)


class MemberState(StrictSchema):
    """Member events carry the member's whole voting-relevant state and a
    revision, so a consumer can apply them in any order (newest revision wins)."""
    member_id = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, validate=one_of(MemberStatus))
    mou_signed = fields.Boolean(required=True)
    can_vote = fields.Boolean(required=True)
    revision = fields.Integer(required=True, validate=validate.Range(min=1))
    note = fields.String(allow_none=True, load_default=None)
    # of its e-mails and pages (notifications); never the focal point's address
    language = fields.String(load_default=DEFAULT_LANGUAGE, validate=one_of(Language))
    # who may learn it exists (DOMAIN.md section 11); events sent before it existed: PUBLIC
    visibility = fields.String(load_default=DEFAULT_VISIBILITY, validate=one_of(Visibility))


class TallyData(StrictSchema):
    eligible = fields.Integer(required=True)
    responded = fields.Integer(required=True)
    agree = fields.Integer(required=True)
    reservations = fields.Integer(required=True)
    stand_aside = fields.Integer(required=True)
    block = fields.Integer(required=True)


class ConsultationEvent(StrictSchema):
    """What every consultation event says: which consultation, and about what."""
    consultation_id = fields.String(required=True)
    kind = fields.String(required=True, validate=one_of(ConsultationKind))
    subject_id = fields.String(allow_none=True, required=True)


class ConsultationOpened(ConsultationEvent):
    round = fields.Integer(required=True)
    eligible = fields.Integer(required=True)
    closes_at = fields.String(required=True)
    # what the round's notifications say (None in events sent before they existed)
    title = added()
    proposal = added()
    results_visibility = added(validate=one_of(ResultsVisibility))


class StanceCast(StrictSchema):
    """That a member responded. `value` is None while the round's results are
    hidden (DOMAIN.md section 9: a consumer that needs values waits for
    round_closed); `cast_by` names the proxy holder that cast it, if one did."""
    consultation_id = fields.String(required=True)
    round = fields.Integer(required=True)
    member_id = fields.String(required=True)
    value = fields.String(allow_none=True, required=True, validate=one_of(StanceValue))
    replaced = fields.Boolean(required=True)
    cast_by = added()


class ProxyChanged(StrictSchema):
    """A proxy offered, accepted, declined, revoked or used (DOMAIN.md
    section 9), with the consultation's title for the notifications. `actor`
    is the member that made the change (the granter's own cast revokes).
    Never a stance value."""
    proxy_id = fields.String(required=True)
    consultation_id = fields.String(required=True)
    round = fields.Integer(required=True)
    granter_id = fields.String(required=True)
    holder_id = fields.String(required=True)
    status = fields.String(required=True, validate=one_of(ProxyStatus))
    actor = fields.String(required=True)
    title = fields.String(required=True)


class Explanation(StrictSchema):
    """Why the round closed so: a sentence of services/common/explanations.py
    and its numbers, so that each reader can say it in its own language."""
    key = fields.String(required=True, validate=validate.OneOf(sorted(SENTENCES)))
    params = fields.Dict(keys=fields.String(), required=True)


class RoundClosed(ConsultationEvent):
    round = fields.Integer(required=True)
    outcome = fields.String(required=True, validate=one_of(Outcome))
    tally = fields.Nested(TallyData, required=True)
    title = added()
    explanation = fields.Nested(Explanation, allow_none=True, load_default=None)


class ConsultationCancelled(ConsultationEvent):
    reason = fields.String(required=True)


class GrantCreated(StrictSchema):
    grant_id = fields.String(required=True)
    currency = fields.String(required=True)
    amount = Money


class GrantActivated(StrictSchema):
    grant_id = fields.String(required=True)


class AllocationProposed(StrictSchema):
    allocation_id = fields.String(required=True)
    grant_id = fields.String(required=True)
    grant_title = fields.String(required=True)
    member_id = fields.String(required=True)
    amount = Money
    currency = fields.String(required=True)
    purpose = fields.String(required=True)
    closes_at = fields.String(allow_none=True, required=True)


class AllocationChanged(StrictSchema):
    allocation_id = fields.String(required=True)
    grant_id = fields.String(required=True)
    member_id = fields.String(required=True)
    status = fields.String(required=True, validate=one_of(AllocationStatus))
    # what the beneficiary's notification says (None in events sent before)
    grant_title = added()
    amount = added(validate=validate.Regexp(MONEY_TEXT))
    currency = added()


class DisbursementRecorded(StrictSchema):
    disbursement_id = fields.String(required=True)
    allocation_id = fields.String(required=True)
    grant_id = fields.String(required=True)
    amount = Money
    paid_on = fields.String(required=True)
    member_id = added()  # the beneficiary
    grant_title = added()
    currency = added()


class GrantClosed(StrictSchema):
    grant_id = fields.String(required=True)


class ReportChanged(StrictSchema):
    """A report on an allocation scheduled, submitted, accepted or sent back
    (DOMAIN.md section 10), with what the beneficiary's notification says:
    the grant's title, the due date and, when reviewed, the secretariat's
    note. Never the narrative, the amount spent or the indicators."""
    report_id = fields.String(required=True)
    allocation_id = fields.String(required=True)
    grant_id = fields.String(required=True)
    member_id = fields.String(required=True)  # the beneficiary
    due_on = fields.String(required=True, validate=validate.Regexp(DATE_TEXT))
    status = fields.String(required=True, validate=one_of(ReportStatus))
    grant_title = fields.String(required=True)
    note = fields.String(allow_none=True, load_default=None)


# member_language_set, member_visibility_set and member_data_erased are not in
# DOMAIN.md section 4: docs/events.md lists the
# events added since, and why
MEMBER_EVENTS: Final = ["member_registered", "membership_applied", "member_admitted",
                        "mou_signed", "member_suspended", "member_reinstated", "member_withdrawn",
                        "member_rejected", "member_language_set", "member_visibility_set",
                        "member_data_erased"]

# a proxy's changes, each an event of its own (consultations/domain.py PROXY_EVENTS)
PROXY_EVENTS: Final = ["proxy_offered", "proxy_accepted", "proxy_declined", "proxy_revoked",
                       "proxy_used"]
# those its granter or holder is told of (DOMAIN.md section 9)
PROXY_NOTICES: Final = ["proxy_offered", "proxy_accepted", "proxy_declined", "proxy_used"]

# a report's changes, each an event of its own (grants/reports.py)
REPORT_EVENTS: Final = ["report_scheduled", "report_submitted", "report_accepted",
                        "report_changes_requested"]

ALLOCATION_DECISIONS: Final = ["allocation_approved", "allocation_rejected", "allocation_held",
                               "allocation_released"]


def _published_by(service: str,
                  schemas: Mapping[str, type[Schema]]) -> dict[str, tuple[str, type[Schema]]]:
    return {event_type: (service, schema) for event_type, schema in schemas.items()}


# event_type -> (publishing service, payload schema)
CATALOGUE: Final[Mapping[str, tuple[str, type[Schema]]]] = {
    **_published_by("members", {name: MemberState for name in MEMBER_EVENTS}),
    **_published_by("consultations", {
        "consultation_opened": ConsultationOpened,
        "stance_cast": StanceCast,
        "round_closed": RoundClosed,
        "consultation_cancelled": ConsultationCancelled,
        **{name: ProxyChanged for name in PROXY_EVENTS},
    }),
    **_published_by("grants", {
        "grant_created": GrantCreated,
        "grant_activated": GrantActivated,
        "allocation_proposed": AllocationProposed,
        "allocation_approved": AllocationChanged,
        "allocation_rejected": AllocationChanged,
        "allocation_held": AllocationChanged,
        "allocation_released": AllocationChanged,
        "disbursement_recorded": DisbursementRecorded,
        "grant_closed": GrantClosed,
        **{name: ReportChanged for name in REPORT_EVENTS},
    }),
}

# (consuming service, handler method) -> events it consumes.
# The publisher declares these queues before it publishes, so an event sent
# while a consumer has never run yet still waits for it. A test checks this
# table against the @consume handlers of every service.
SUBSCRIPTIONS: Final[Mapping[tuple[str, str], list[str]]] = {
    ("consultations", "on_member_event"): MEMBER_EVENTS,
    ("consultations", "on_membership_applied"): ["membership_applied"],
    ("consultations", "on_allocation_proposed"): ["allocation_proposed"],
    ("members", "on_round_closed"): ["round_closed"],
    ("members", "on_consultation_cancelled"): ["consultation_cancelled"],
    ("grants", "on_member_event"): MEMBER_EVENTS,
    ("grants", "on_round_closed"): ["round_closed"],
    ("grants", "on_consultation_cancelled"): ["consultation_cancelled"],
    ("notifications", "on_member_event"): MEMBER_EVENTS,
    ("accounts", "on_member_event"): MEMBER_EVENTS,
    ("notifications", "on_consultation_opened"): ["consultation_opened"],
    ("notifications", "on_stance_cast"): ["stance_cast"],
    ("notifications", "on_round_closed"): ["round_closed"],
    ("notifications", "on_allocation_event"): ALLOCATION_DECISIONS + ["disbursement_recorded"],
    ("notifications", "on_proxy_event"): PROXY_NOTICES,
    ("notifications", "on_report_event"): REPORT_EVENTS,
}


def queue_name(source: str | None, event_type: str | None, service: str, method: str) -> str:
    """The queue name nameko's SERVICE_POOL event_handler uses."""
    return f"evt-{source}-{event_type}--{service}.{method}"


def consumer_queues(source_service: str) -> list[tuple[str, str]]:
    """[(event_type, queue name)] of every subscription to `source_service`'s events."""
    queues = []
    for (service, method), event_types in SUBSCRIPTIONS.items():
        for event_type in event_types:
            if CATALOGUE[event_type][0] == source_service:
                queues.append((event_type, queue_name(source_service, event_type, service, method)))
    return queues


class EnvelopeSchema(StrictSchema):
    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.OneOf(sorted(CATALOGUE)))
    source = fields.String(required=True)
    occurred_at = fields.AwareDateTime(required=True)
    version = fields.Integer(required=True, validate=validate.Equal(ENVELOPE_VERSION))
    data = fields.Dict(required=True)


class EventSchemaError(ValueError):
    """An envelope or its data does not match the catalogue."""


def validate_data(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` loaded with `event_type`'s schema, or EventSchemaError."""
    if event_type not in CATALOGUE:
        raise EventSchemaError(f"unknown event type {event_type!r}")
    try:
        loaded: dict[str, Any] = CATALOGUE[event_type][1]().load(data)
    except ValidationError as exc:
        raise EventSchemaError(f"{event_type}: {exc.messages}") from None
    return loaded


def make_envelope(event_type: str, data: dict[str, Any], source: str,
                  now: datetime | None = None) -> Envelope:
    """A JSON-ready envelope; raises EventSchemaError if data breaks the catalogue."""
    publisher = CATALOGUE.get(event_type, (None,))[0]
    if publisher != source:
        raise EventSchemaError(f"{source} may not publish {event_type!r} (publisher: {publisher})")
    validate_data(event_type, data)
    occurred = now or datetime.now(timezone.utc)
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "source": source,
        "occurred_at": occurred.isoformat(),
        "version": ENVELOPE_VERSION,
        "data": data,
    }


def load_envelope(payload: Any) -> Envelope:
    """Validate a received envelope (whatever came off the wire) and its data;
    returns the envelope dict."""
    try:
        envelope: Envelope = EnvelopeSchema().load(payload)
    except ValidationError as exc:
        raise EventSchemaError(f"bad envelope: {exc.messages}") from None
    validate_data(envelope["event_type"], envelope["data"])
    envelope["event_id"] = str(envelope["event_id"])
    return envelope
