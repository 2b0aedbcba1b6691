"""The input types of ../shared/api/schema.graphql, and their conversion to
what the services load.

graphene hands a resolver its inputs with snake_case keys and enum members;
the services' marshmallow schemas load camelCase keys and plain values
(`wire`). Values are checked by the services, not here: the gateway only
carries them (a Decimal stays the text the client wrote, services/gateway/scalars.py).
"""
import enum
from typing import Any

from graphene import ID, Boolean, Float, InputObjectType, List, NonNull, String

from services.common import vocabulary
from services.common.vocabulary import (DEFAULT_LANGUAGE, DEFAULT_QUORUM, DEFAULT_RULE,
                                        DEFAULT_SECTOR_CODE, DEFAULT_VISIBILITY)
from services.gateway.scalars import DateTime, Decimal
from services.gateway.types import (BudgetLineFields, Constituency, DecisionRule,
                                    DisbursementRecord, FocalPointFields, GrantTerms,
                                    IndicatorFields, Language, OrgType, ResultsVisibility,
                                    Visibility, req_list)


def plain(value: Any) -> Any:
    """Enum members and graphene inputs -> plain JSON values for RPC."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def camel(name: str) -> str:
    """snake_case -> camelCase."""
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def wire(value: Any) -> Any:
    """A graphene input (snake_case keys) -> the camelCase dict services load."""
    if isinstance(value, dict):
        return {camel(k): wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire(v) for v in value]
    return plain(value)


# No docstrings on the types below: graphene would publish them as descriptions.

class FocalPointInput(FocalPointFields, InputObjectType):
    pass


class MemberInput(InputObjectType):
    name = String(required=True)
    acronym = String()
    org_type = OrgType(required=True)
    countries = req_list(String)
    region = String()
    constituencies = req_list(Constituency)
    focal_point = FocalPointInput(required=True)
    language = Language(default_value=DEFAULT_LANGUAGE)
    # MEMBERS_ONLY: invisible to ANONYMOUS (DOMAIN.md section 11)
    visibility = Visibility(default_value=DEFAULT_VISIBILITY)


class ConsultationInput(InputObjectType):
    title = String(required=True)
    proposal = String(required=True)
    closes_at = DateTime(required=True)
    rule = DecisionRule(default_value=DEFAULT_RULE)
    quorum = Float(default_value=DEFAULT_QUORUM)
    threshold = Float()
    # chosen at opening, never changed afterwards (DOMAIN.md section 9)
    results_visibility = ResultsVisibility(default_value=vocabulary.ResultsVisibility.OPEN)


class AllocationInput(InputObjectType):
    grant_id = ID(required=True)
    member_id = ID(required=True)
    amount = Decimal(required=True)
    purpose = String(required=True)
    closes_at = DateTime()


class BudgetLineInput(BudgetLineFields, InputObjectType):
    pass


class GrantInput(GrantTerms, InputObjectType):
    sector_code = String(default_value=DEFAULT_SECTOR_CODE)
    budget_lines = List(NonNull(BudgetLineInput))


class OfAllocation:  # first in DisbursementInput (see types.py on the order of fields)
    allocation_id = ID(required=True)


class DisbursementInput(DisbursementRecord, OfAllocation, InputObjectType):
    pass


class PreferencesInput(InputObjectType):
    language = Language()
    consultation_opened = Boolean()
    reminders = Boolean()
    outcomes = Boolean()


class IndicatorInput(IndicatorFields, InputObjectType):
    pass


class ReportInput(InputObjectType):
    narrative = String(required=True)
    spent = Decimal(required=True)
    indicators = req_list(IndicatorInput)
