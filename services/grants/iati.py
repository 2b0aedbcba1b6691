"""A grant as an IATI 2.03 activity (DOMAIN.md section 10), built with lxml.

Pure: it takes the grant, its allocations and disbursements as the store
keeps them (amounts in integer cents), the members as the members service
shows them ({member_id: view}), the settings and the time, and returns lxml
Elements; nothing here reads the store or calls another service.

Invariants of what it writes (each checked by tests/unit/test_iati.py
against ../shared/iati/iati-activities-schema.xsd):
- children of `iati-activity` in the order of the schema's sequence:
  iati-identifier, reporting-org, title, description, participating-org,
  activity-status, activity-date, sector, budget, transaction;
- iati-identifier is "<COALITION_IATI_REF>-<grant id>", and reporting-org
  has the same ref (the IATI rule that ties them);
- participating orgs: the donor (role 1, Funding) and each member with a
  committed allocation (APPROVED or ON_HOLD: a held allocation stays
  committed), once each (role 4, Implementing), with its IATI organisation
  type (vocabulary.IATI_ORG_TYPES);
- a member whose view says visibility MEMBERS_ONLY (DOMAIN.md section 11) is
  named UNDISCLOSED_MEMBER and nothing else, wherever the activity names it
  (participating-org, a transaction's receiver-org): no ref, no type, no
  country, no constituency; all such members are one participating org.
  Their transactions stay, amounts and all, so the totals stay whole. No
  other element is derived from members (the title and description are the
  grant's own);
- activity status PIPELINE 1, ACTIVE 2, CLOSED 3; activity dates: the
  grant's start (type 2) and end (type 3);
- one budget (type 1 original, status 1 indicative) per budget line, or one
  for the grant's whole period when it has none;
- one transaction of type 2 (Outgoing Commitment) per committed allocation,
  dated the day it was approved, and one of type 3 (Disbursement) per
  disbursement, dated the day it was paid, each to its member (receiver-org);
- every amount is exact, with two decimals ("86454.20"), with the grant's
  currency and a value-date.
"""
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

from lxml import etree

from services.common.vocabulary import (DEFAULT_SECTOR_CODE, IATI_ORG_TYPES, UNDISCLOSED_MEMBER,
                                        AllocationStatus, GrantStatus, Visibility)
from services.grants import money

Doc = Mapping[str, Any]
Element = Any  # lxml's _Element (lxml ships no type information)

IATI_VERSION = "2.03"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
LANGUAGE = "en"
ACTIVITY_STATUS = {GrantStatus.PIPELINE: "1", GrantStatus.ACTIVE: "2", GrantStatus.CLOSED: "3"}
START, END = "2", "3"                      # activity-date types
FUNDING, IMPLEMENTING = "1", "4"           # participating-org roles
COMMITMENT, DISBURSEMENT = "2", "3"        # transaction types
DAC_PURPOSE = "1"                          # sector vocabulary: OECD DAC CRS 5-digit
ORIGINAL, INDICATIVE = "1", "1"            # budget type and status
COMMITTED = frozenset({AllocationStatus.APPROVED, AllocationStatus.ON_HOLD})
ORG_TYPE_CODES: dict[str, str] = {str(kind): code for kind, code in IATI_ORG_TYPES.items()}


def setting(settings: Mapping[str, Any], name: str) -> str:
    """COALITION_NAME, COALITION_IATI_REF or COALITION_ORG_TYPE, as the
    settings hold them (services/common/config.py gives their defaults)."""
    return str(settings[name])


def identifier(settings: Mapping[str, Any], grant_id: str) -> str:
    """The activity's iati-identifier: the reporting org's ref, then the grant's id."""
    return f"{setting(settings, 'COALITION_IATI_REF')}-{grant_id}"


def _child(parent: Element, tag: str, **attributes: str) -> Element:
    return etree.SubElement(parent, tag, {k.replace("_", "-"): v for k, v in attributes.items()})


def _narrative(parent: Element, text: str) -> Element:
    element = _child(parent, "narrative")
    element.text = text
    return parent


def _moment(value: datetime) -> str:
    """An xsd:dateTime in UTC, to the second."""
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def _value(parent: Element, amount_cents: int, currency: str, value_date: str) -> None:
    element = _child(parent, "value", currency=currency, value_date=value_date)
    element.text = money.render(int(amount_cents))


def approved_on(allocation: Doc) -> date:
    """The day (UTC) the allocation was first APPROVED, from its history
    (its creation day if the history does not say)."""
    for entry in allocation.get("history", []):
        if entry["status"] == AllocationStatus.APPROVED:
            moment: datetime = entry["at"]
            return moment.astimezone(timezone.utc).date()
    created: datetime = allocation["created_at"]
    return created.astimezone(timezone.utc).date()


def committed(allocations: Iterable[Doc]) -> list[Doc]:
    """The allocations the activity commits money to, oldest first."""
    return sorted((a for a in allocations if a["status"] in COMMITTED), key=lambda a: a["_id"])


def undisclosed(members: Mapping[str, Doc], member_id: str) -> bool:
    """Whether the member may not be named in public: visibility
    MEMBERS_ONLY, or unknown to members (the safe side, as in the gateway)."""
    member = members.get(member_id)
    return member is None or member.get("visibility") == Visibility.MEMBERS_ONLY


def _org(members: Mapping[str, Doc], member_id: str | None) -> tuple[dict[str, str], str]:
    """(attributes, name) of the organisation element naming the member
    (None: the undisclosed members, named UNDISCLOSED_MEMBER with no attribute)."""
    if member_id is None or undisclosed(members, member_id):
        return {}, UNDISCLOSED_MEMBER
    member = members.get(member_id) or {}
    code = ORG_TYPE_CODES.get(str(member.get("org_type")))
    name = str(member["name"]) if member.get("name") else UNDISCLOSED_MEMBER
    return ({"type": code} if code else {}), name


def _header(activity: Element, grant: Doc, settings: Mapping[str, Any]) -> None:
    """iati-identifier, reporting-org, title and description."""
    _child(activity, "iati-identifier").text = identifier(settings, grant["_id"])
    _narrative(_child(activity, "reporting-org", ref=setting(settings, "COALITION_IATI_REF"),
                      type=setting(settings, "COALITION_ORG_TYPE")),
               setting(settings, "COALITION_NAME"))
    _narrative(_child(activity, "title"), grant["title"])
    summary = (f"{grant['title']}: a grant from {grant['donor']} of "
               f"{money.with_currency(int(grant['amount_cents']), grant['currency'])}, "
               f"{grant['start_date']} to {grant['end_date']}.")
    _narrative(_child(activity, "description", type="1"), summary)


def _participants(activity: Element, grant: Doc, commitments: Sequence[Doc],
                  members: Mapping[str, Doc]) -> None:
    _narrative(_child(activity, "participating-org", role=FUNDING), grant["donor"])
    shown = dict.fromkeys(None if undisclosed(members, a["member_id"]) else a["member_id"]
                          for a in commitments)  # the undisclosed ones once, as None
    for member_id in shown:
        attributes, name = _org(members, member_id)
        _narrative(_child(activity, "participating-org", role=IMPLEMENTING, **attributes), name)


def _status_dates_sector(activity: Element, grant: Doc) -> None:
    _child(activity, "activity-status", code=ACTIVITY_STATUS[grant["status"]])
    _child(activity, "activity-date", type=START, iso_date=grant["start_date"])
    _child(activity, "activity-date", type=END, iso_date=grant["end_date"])
    _child(activity, "sector", vocabulary=DAC_PURPOSE,
           code=grant.get("sector_code") or DEFAULT_SECTOR_CODE)


def _budgets(activity: Element, grant: Doc) -> None:
    lines = grant.get("budget_lines") or [
        {"period_start": grant["start_date"], "period_end": grant["end_date"],
         "amount_cents": grant["amount_cents"]}]
    for line in lines:
        element = _child(activity, "budget", type=ORIGINAL, status=INDICATIVE)
        _child(element, "period-start", iso_date=line["period_start"])
        _child(element, "period-end", iso_date=line["period_end"])
        _value(element, line["amount_cents"], grant["currency"], line["period_start"])


def _transaction(activity: Element, kind: str, on: str, amount_cents: int, currency: str,
                 receiver_id: str, members: Mapping[str, Doc]) -> None:
    element = _child(activity, "transaction")
    _child(element, "transaction-type", code=kind)
    _child(element, "transaction-date", iso_date=on)
    _value(element, amount_cents, currency, on)
    attributes, name = _org(members, receiver_id)
    _narrative(_child(element, "receiver-org", **attributes), name)


def _transactions(activity: Element, grant: Doc, commitments: Sequence[Doc],
                  disbursements: Iterable[Doc], members: Mapping[str, Doc]) -> None:
    """Commitments then disbursements, each in date order."""
    for allocation in sorted(commitments, key=lambda a: (approved_on(a), a["_id"])):
        _transaction(activity, COMMITMENT, approved_on(allocation).isoformat(),
                     allocation["amount_cents"], grant["currency"], allocation["member_id"],
                     members)
    for paid in sorted(disbursements, key=lambda d: (d["paid_on"], d["_id"])):
        _transaction(activity, DISBURSEMENT, paid["paid_on"], paid["amount_cents"],
                     grant["currency"], paid["member_id"], members)


def last_updated(grant: Doc, allocations: Iterable[Doc], disbursements: Iterable[Doc],
                 now: datetime) -> datetime:
    """The latest change of the grant, its allocations or disbursements."""
    moments = [grant.get("updated_at")] + [a.get("updated_at") for a in allocations] + \
        [d.get("recorded_at") for d in disbursements]
    known = [m for m in moments if isinstance(m, datetime)]
    return max(known) if known else now


def activity(grant: Doc, allocations: Sequence[Doc], disbursements: Sequence[Doc],
             members: Mapping[str, Doc], settings: Mapping[str, Any],
             now: datetime) -> Element:
    """The grant as one `iati-activity` element (see the module's invariants)."""
    element = etree.Element("iati-activity", {
        "last-updated-datetime": _moment(last_updated(grant, allocations, disbursements, now)),
        XML_LANG: LANGUAGE, "default-currency": grant["currency"]})
    commitments = committed(allocations)
    _header(element, grant, settings)
    _participants(element, grant, commitments, members)
    _status_dates_sector(element, grant)
    _budgets(element, grant)
    _transactions(element, grant, commitments, disbursements, members)
    return element


def document(activities: Iterable[Element], now: datetime) -> Element:
    """An `iati-activities` document (version 2.03) holding `activities`.
    The schema wants at least one: a document of none (a portfolio without
    grants) is well-formed but does not validate."""
    root = etree.Element("iati-activities", {"version": IATI_VERSION,
                                             "generated-datetime": _moment(now)})
    root.extend(activities)
    return root


def to_text(root: Element) -> str:
    """The document as UTF-8 XML text with its declaration."""
    text: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                 pretty_print=True)
    return text.decode("utf-8")


def member_ids(allocations: Iterable[Doc], disbursements: Iterable[Doc]) -> list[str]:
    """The members an export names: those of committed allocations and of
    disbursements (one call to the members service asks for them all)."""
    ids = [a["member_id"] for a in allocations if a["status"] in COMMITTED]
    ids += [d["member_id"] for d in disbursements]
    return list(dict.fromkeys(ids))
