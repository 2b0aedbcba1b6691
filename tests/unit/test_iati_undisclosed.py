"""IATI exports of grants with MEMBERS_ONLY members (DOMAIN.md section 11,
services/grants/iati.py): such a member is named "Undisclosed member
organisation" and nothing else anywhere in the activity (no name, id, ref,
type, country or constituency), its money stays in the activity so the
totals stay whole, and the document still validates against the IATI 2.03
schema (../shared/iati/)."""
from decimal import Decimal

from services.common.vocabulary import UNDISCLOSED_MEMBER
from services.grants import iati
from tests.helpers.reports import valid_iati
from tests.unit.test_iati import (NOW, ON_HOLD, PROPOSED, SETTINGS, allocation, disbursement,
                                  grant)

PUBLIC_VIEW = {"id": "m1", "name": "Eurasian Harm Reduction Network", "org_type": "NGO",
               "countries": ["LT"], "constituencies": ["PEOPLE_WHO_USE_DRUGS"],
               "visibility": "PUBLIC"}
HIDDEN_VIEWS = {
    "hidden-sw": {"id": "hidden-sw", "name": "Sex Workers of Tashkent", "acronym": "SWT",
                  "org_type": "COMMUNITY_ORGANISATION", "countries": ["UZ"], "region": "Fergana Valley",
                  "constituencies": ["SEX_WORKERS"], "visibility": "MEMBERS_ONLY"},
    "hidden-lgbt": {"id": "hidden-lgbt", "name": "Rainbow Chechnya Support", "acronym": "RCS",
                    "org_type": "NGO", "countries": ["RU"], "region": "North Caucasus",
                    "constituencies": ["LGBTQI_PEOPLE"], "visibility": "MEMBERS_ONLY"},
}
MEMBERS = {"m1": PUBLIC_VIEW, **HIDDEN_VIEWS}
# everything that would point at a hidden member
SECRETS = ("hidden-sw", "hidden-lgbt", "Sex Workers of Tashkent", "Rainbow Chechnya", "SWT",
           "RCS", "Tashkent", "Chechnya", "UZ", "SEX_WORKERS", "LGBTQI", "Fergana",
           "Caucasus")

ALLOCATIONS = [allocation("a1", "m1", 8645420), allocation("a2", "hidden-sw", 1000000),
               allocation("a3", "hidden-lgbt", 250050, ON_HOLD),
               allocation("a4", "hidden-sw", 700000)]
PAID = [disbursement("d1", ALLOCATIONS[1], 400000, "2016-03-01"),
        disbursement("d2", ALLOCATIONS[0], 4000000, "2016-04-01"),
        disbursement("d3", ALLOCATIONS[2], 250050, "2016-05-01")]


def export(allocations=ALLOCATIONS, disbursements=PAID, members=MEMBERS):
    """(root, its one activity, the XML text) of the grant's export, validated."""
    element = iati.activity(grant(), list(allocations), list(disbursements), members,
                            SETTINGS, NOW)
    text = iati.to_text(iati.document([element], NOW))
    root = valid_iati(text)
    (activity,) = root.findall("iati-activity")
    return root, activity, text


def orgs(activity, path):
    return [(o.attrib, o.findtext("narrative")) for o in activity.iterfind(path)]


def test_nothing_that_names_a_hidden_member_is_anywhere_in_the_document():
    root, activity, text = export()
    for secret in SECRETS:
        assert secret not in text, secret
    assert activity.find(".//recipient-country") is None
    assert activity.find(".//recipient-region") is None
    assert UNDISCLOSED_MEMBER in text


def test_hidden_members_are_one_implementing_org_without_ref_or_type():
    _, activity, _ = export()
    implementing = orgs(activity, "participating-org[@role='4']")
    assert implementing == [({"role": "4", "type": "22"}, "Eurasian Harm Reduction Network"),
                            ({"role": "4"}, UNDISCLOSED_MEMBER)]


def test_transactions_to_hidden_members_stay_with_their_amounts_and_no_ref():
    _, activity, _ = export()
    moves = [(t.find("transaction-type").get("code"), t.findtext("value"),
              dict(t.find("receiver-org").attrib), t.find("receiver-org").findtext("narrative"))
             for t in activity.iterfind("transaction")]
    public = ({"type": "22"}, "Eurasian Harm Reduction Network")
    hidden = ({}, UNDISCLOSED_MEMBER)
    assert moves == [("2", "86454.20", *public), ("2", "10000.00", *hidden),
                     ("2", "2500.50", *hidden), ("2", "7000.00", *hidden),
                     ("3", "4000.00", *hidden), ("3", "40000.00", *public),
                     ("3", "2500.50", *hidden)]


def test_the_totals_stay_whole():
    _, activity, _ = export()

    def total(code):
        return sum(Decimal(t.findtext("value")) for t in activity.iterfind("transaction")
                   if t.find("transaction-type").get("code") == code)
    assert total("2") == Decimal(8645420 + 1000000 + 250050 + 700000) / 100
    assert total("3") == Decimal(400000 + 4000000 + 250050) / 100


def test_only_hidden_members_still_validate():
    _, activity, text = export(allocations=ALLOCATIONS[1:], disbursements=[PAID[0]])
    assert orgs(activity, "participating-org[@role='4']") == [({"role": "4"}, UNDISCLOSED_MEMBER)]
    assert all(secret not in text for secret in SECRETS)


def test_a_hidden_member_with_nothing_committed_is_not_mentioned():
    proposed = [allocation("a1", "m1", 100), allocation("a2", "hidden-sw", 100, PROPOSED)]
    _, activity, text = export(allocations=proposed, disbursements=[])
    assert UNDISCLOSED_MEMBER not in text
    assert [name for _, name in orgs(activity, "participating-org[@role='4']")] == \
        ["Eurasian Harm Reduction Network"]


def test_a_view_without_visibility_is_public():
    older = {"m1": {k: v for k, v in PUBLIC_VIEW.items() if k != "visibility"}}
    _, activity, text = export(allocations=[ALLOCATIONS[0]], disbursements=[], members=older)
    assert UNDISCLOSED_MEMBER not in text
    assert orgs(activity, "transaction/receiver-org") == \
        [({"type": "22"}, "Eurasian Harm Reduction Network")]
