"""The demo coalition, as plain data: its member organisations (founders
and one applicant), its grants with their budget lines, allocations,
disbursements and reports (one accepted, one overdue, one due later), a
consultation with the stances of two rounds, and a secretariat person to
sign in as. One member (Labrys, an LGBT and transgender organisation in
Kyrgyzstan) is MEMBERS_ONLY, to show what such a member's choice does
(the choice is the demo's, not the organisation's): the public pages leave
it out.
`coalition demo load` loads it through the gateway (services/demo_loader.py)
and adds the person as `coalition admin add` does.

The organisations are real community-led networks; their names, countries,
types and constituencies are public facts, to the best of our knowledge
(`countries` is where the secretariat is registered or hosted). The focal
points are NOT their people: every one is an obviously fictional placeholder
("Focal point, IDPC", focal@idpc.example.org), each address its own, so
that each can sign in as its member (a focal point's address is unique among
members that act). Amounts other than the RCNF grant's total and EHRN's
year-one allocation (USD 86,454.20) are illustrative, and say so; so are the
budget lines, the dates of payments and the reports' words and figures.
"""
from collections.abc import Mapping
from typing import Any

from services.common.vocabulary import (DEFAULT_SECTOR_CODE, Constituency, OrgType, StanceValue,
                                        Visibility)

Record = dict[str, Any]


def _org(name: str, acronym: str | None, slug: str, org_type: OrgType, countries: list[str],
         region: str, constituencies: list[Constituency]) -> Record:
    """A member organisation as MemberInput, with a fictional focal point."""
    return {
        "name": name, "acronym": acronym, "orgType": org_type, "countries": countries,
        "region": region, "constituencies": constituencies,
        "focalPoint": {"name": f"Focal point, {acronym or name}",
                       "email": f"focal@{slug}.example.org", "phone": None},
    }


def _grant(title: str, donor: str, amount: str, start: str, end: str, **more: Any) -> Record:
    """A grant in US dollars, as GrantInput (`more`: sectorCode, budgetLines)."""
    return {"title": title, "donor": donor, "currency": "USD", "amount": amount,
            "startDate": start, "endDate": end, **more}


def _year(year: int, amount: str) -> Record:
    """A budget line for one calendar year, as BudgetLineInput."""
    return {"periodStart": f"{year}-01-01", "periodEnd": f"{year}-12-31", "amount": amount}


# The words of the tables below.
NGO, COMMUNITY = OrgType.NGO, OrgType.COMMUNITY_ORGANISATION
REGIONAL, NATIONAL = OrgType.REGIONAL_NETWORK, OrgType.NATIONAL_NETWORK
PWUD, PLHIV = Constituency.PEOPLE_WHO_USE_DRUGS, Constituency.PEOPLE_LIVING_WITH_HIV
SW, YOUTH, WOMEN = Constituency.SEX_WORKERS, Constituency.YOUNG_PEOPLE, Constituency.WOMEN_AND_GIRLS
AGREE, RESERVATIONS = StanceValue.AGREE, StanceValue.RESERVATIONS
STAND_ASIDE, BLOCK = StanceValue.STAND_ASIDE, StanceValue.BLOCK
EURASIA = "Eastern Europe and Central Asia"
ASIA_PACIFIC = "Asia and the Pacific"
BALKANS = "Western Balkans"
KYRGYZSTAN = "Central Asia"

# The harm-reduction consortium that shared one Robert Carr Fund grant (2016-2018).
HARM_REDUCTION_CONSORTIUM = [
    _org("International Drug Policy Consortium", "IDPC", "idpc", NGO, ["GB"], "Global", [PWUD]),
    _org("Harm Reduction International", "HRI", "hri", NGO, ["GB"], "Global", [PWUD]),
    # a global youth-led network; hosted in London when it was founded
    _org("Youth RISE", None, "youthrise", REGIONAL, ["GB"], "Global", [YOUTH, PWUD]),
    _org("Middle East and North Africa Harm Reduction Association", "MENAHRA", "menahra",
         REGIONAL, ["LB"], "Middle East and North Africa", [PWUD]),
    # renamed Eurasian Harm Reduction Association (EHRA) in 2017; Vilnius
    _org("Eurasian Harm Reduction Network", "EHRN", "ehrn", REGIONAL, ["LT"],
         "Central and Eastern Europe and Central Asia", [PWUD]),
    # registered in the Republic of Ireland in 2022
    _org("European Network of People Who Use Drugs", "EuroNPUD", "euronpud", REGIONAL,
         ["IE"], "Europe", [PWUD]),
    # secretariat and financial agent: EHRN/EHRA in Vilnius
    _org("Eurasian Network of People who Use Drugs", "ENPUD", "enpud", REGIONAL, ["LT"],
         EURASIA, [PWUD]),
]

# Asia-Pacific regional networks of key populations (secretariats in Bangkok).
ASIA_PACIFIC_NETWORKS = [
    _org("Asia Pacific Network of People Living with HIV", "APN+", "apnplus", REGIONAL,
         ["TH"], ASIA_PACIFIC, [PLHIV]),
    _org("Asia Pacific Network of Sex Workers", "APNSW", "apnsw", REGIONAL, ["TH"],
         ASIA_PACIFIC, [SW]),
    _org("APCOM", None, "apcom", REGIONAL, ["TH"], ASIA_PACIFIC,
         [Constituency.MEN_WHO_HAVE_SEX_WITH_MEN, Constituency.LGBT]),
    _org("ICW Asia Pacific", "ICWAP", "icwap", REGIONAL, ["TH"], ASIA_PACIFIC, [PLHIV, WOMEN]),
    _org("Network of Asian People who Use Drugs", "NAPUD", "napud", REGIONAL, ["TH"],
         ASIA_PACIFIC, [PWUD]),
    _org("Youth LEAD", None, "youthlead", REGIONAL, ["TH"], ASIA_PACIFIC, [YOUTH]),
]

# Western Balkans harm-reduction organisations.
WESTERN_BALKANS = [
    _org("Prevent", None, "prevent", NGO, ["RS"], BALKANS, [PWUD, YOUTH]),
    _org("Timočki omladinski centar", "TOC", "toc", NGO, ["RS"], BALKANS, [YOUTH, PWUD]),
    _org("Duga", None, "duga", COMMUNITY, ["BA"], BALKANS, [PWUD]),
    _org("Re Generacija", None, "regeneracija", COMMUNITY, ["RS"], BALKANS, [PWUD]),
    _org("Juventas", None, "juventas", NGO, ["ME"], BALKANS,
         [YOUTH, PWUD, SW, Constituency.PRISONERS]),
    _org("CAZAS", None, "cazas", NGO, ["ME"], BALKANS, [PWUD, PLHIV]),
]

# The Kyrgyz coalition of communities (all in Kyrgyzstan, KG).
KYRGYZ_COALITION = [
    _org("Asteria", None, "asteria", COMMUNITY, ["KG"], KYRGYZSTAN, [SW, PWUD, WOMEN]),
    _org("Tais Plus", None, "taisplus", COMMUNITY, ["KG"], KYRGYZSTAN, [SW]),
    # MEMBERS_ONLY (DOMAIN.md section 11): a visitor sees neither it nor its
    # name anywhere (its allocations are "undisclosed"); members and the
    # secretariat see it as any other
    {**_org("Labrys", None, "labrys", COMMUNITY, ["KG"], KYRGYZSTAN,
            [Constituency.LGBT, Constituency.TRANSGENDER_PEOPLE]),
     "visibility": Visibility.MEMBERS_ONLY},
    _org("Harm Reduction Network Association", None, "hrn-kg", NATIONAL, ["KG"], KYRGYZSTAN,
         [PWUD]),
    _org("Prosvet", None, "prosvet", COMMUNITY, ["KG"], KYRGYZSTAN, [PWUD]),
]

# Signs in as ADMIN (`coalition admin add`); example.org, as the focal points:
# an address of a reserved name such as .test is no valid address.
SECRETARIAT_PERSON = {"email": "secretariat@demo.example.org", "name": "Demo Secretariat"}

# Registered by the secretariat: ACTIVE with the MoU signed.
FOUNDERS = (HARM_REDUCTION_CONSORTIUM + ASIA_PACIFIC_NETWORKS + WESTERN_BALKANS
            + KYRGYZ_COALITION[:4])
# Applies itself (anonymously): CANDIDATE, with its admission consultation open.
APPLICANT = KYRGYZ_COALITION[4]
ALL_MEMBERS = FOUNDERS + [APPLICANT]

RCNF_GRANT = _grant(
    "Harm Reduction Consortium: Strengthening civil society advocacy for critical enablers "
    "of the HIV response for people who use drugs",
    "Robert Carr civil society Networks Fund (RCNF)", "1455000.00", "2016-01-01", "2018-12-31",
    # OECD DAC 13040 "STD control including HIV/AIDS". The three yearly budget
    # lines are an ILLUSTRATIVE even split of the real total (3 x 485,000.00 =
    # 1,455,000.00, never more than the grant): the real yearly split is not known to us.
    sectorCode=DEFAULT_SECTOR_CODE,
    budgetLines=[_year(2016, "485000.00"), _year(2017, "485000.00"), _year(2018, "485000.00")])
# The real figure and dates of this grant are not known to us: the amount and
# the period are ILLUSTRATIVE, and the title and donor say so.
UNODC_GRANT = _grant(
    "Western Balkans emergency support to harm reduction services (illustrative amount)",
    "UNODC (illustrative figures, not the real grant's)", "60000.00", "2020-05-01", "2020-12-31")
GRANTS = [RCNF_GRANT, UNODC_GRANT]

EHRN = "Eurasian Harm Reduction Network"
EHRN_YEAR_ONE = "86454.20"  # EHRN's real year-one (2016) share of the RCNF grant
ILLUSTRATIVE = " (illustrative amount: the real share is not known to us)"

# Year one (2016) of the RCNF grant, one allocation to each of the seven
# partners of HARM_REDUCTION_CONSORTIUM: (member, amount, purpose). EHRN's is
# the real figure; the others are illustrative and their purpose says so.
# Together 481,454.20: inside the year's budget line of 485,000.00.
RCNF_PARTNERS = [
    ("International Drug Policy Consortium", "110000.00",
     "Year one: coordination of the consortium and global drug policy advocacy" + ILLUSTRATIVE),
    ("Harm Reduction International", "95000.00",
     "Year one: research on harm reduction funding and human rights advocacy" + ILLUSTRATIVE),
    ("Youth RISE", "45000.00",
     "Year one: advocacy by and for young people who use drugs" + ILLUSTRATIVE),
    ("Middle East and North Africa Harm Reduction Association", "60000.00",
     "Year one: regional advocacy for harm reduction in the Middle East and North Africa"
     + ILLUSTRATIVE),
    (EHRN, EHRN_YEAR_ONE,
     "Year one: advocacy for harm reduction and access to justice for people who use drugs "
     "in Central and Eastern Europe and Central Asia (the real year-one figure)."),
    ("European Network of People Who Use Drugs", "35000.00",
     "Year one: a voice for people who use drugs in European drug policy" + ILLUSTRATIVE),
    ("Eurasian Network of People who Use Drugs", "50000.00",
     "Year one: small grants to community groups of people who use drugs in Eastern Europe "
     "and Central Asia" + ILLUSTRATIVE),
]


def partner_allocations(grant_id: str, member_ids: Mapping[str, str]) -> list[Record]:
    """The seven partners' year-one allocations on the RCNF grant as
    AllocationInput ({grantId, memberId, amount, purpose}), for a grant id
    and each partner's member id by its name (every partner must be there)."""
    return [{"grantId": grant_id, "memberId": member_ids[name], "amount": amount,
             "purpose": purpose} for name, amount, purpose in RCNF_PARTNERS]


# Proposed on the RCNF grant, then adopted by their GRANT_ALLOCATION
# consultations: APPROVED.
ALLOCATIONS = [{"grant": RCNF_GRANT["title"], "member": name, "amount": amount,
                "purpose": purpose} for name, amount, purpose in RCNF_PARTNERS]

# Paid on the RCNF grant: EHRN's year one in full. The dates and references
# are illustrative; so is IDPC's amount.
DISBURSEMENTS: list[Record] = [
    {"member": EHRN, "amount": EHRN_YEAR_ONE, "paidOn": "2016-03-15",
     "reference": "RCNF 2016, year one (illustrative date and reference)"},
    {"member": "International Drug Policy Consortium", "amount": "55000.00",
     "paidOn": "2016-02-15", "reference": "RCNF 2016, first half (illustrative)"},
]

# EHRN's year-one report, as ReportInput: the amount spent is the real
# allocation; the narrative and the indicators are illustrative.
EHRN_REPORT: Record = {
    "narrative": "Year one of the consortium in Central and Eastern Europe and Central Asia: "
                 "national advocacy for harm reduction funding after the Global Fund's "
                 "transition, strategic litigation and legal aid for people who use drugs, and "
                 "a regional campaign against punitive drug laws. (Illustrative text for the "
                 "demo; the amount spent is the real year-one figure.)",
    "spent": EHRN_YEAR_ONE,
    "indicators": [
        {"name": "People reached", "unit": "people", "target": "2000", "actual": "2350"},
        {"name": "Lawyers trained", "unit": "lawyers", "target": "40", "actual": "46"},
        {"name": "Views of the campaign video", "unit": "views", "target": None,
         "actual": "150000"},
    ],
}
# Reports on the RCNF allocations, one per member: `due` is a date, or a
# number of days after the load (a report DUE in the future). EHRN's is
# submitted (by its member) and accepted; MENAHRA's was due in 2017 and never
# came (overdue); IDPC's is due a month after the load.
REPORTS: list[Record] = [
    {"member": EHRN, "due": "2017-01-31", "submit": EHRN_REPORT,
     "accept": "Thank you: accepted for the consortium's annual report to the RCNF."},
    {"member": "Middle East and North Africa Harm Reduction Association", "due": "2017-01-31"},
    {"member": "International Drug Policy Consortium", "due": 30},
]

CONSULTATION = {
    "title": "Joint statement to the Commission on Narcotic Drugs",
    "proposal": "Endorse the coalition's joint statement to the Commission on Narcotic Drugs: "
                "fund harm reduction, and stop criminalising people who use drugs.",
    "next_proposal": "Endorse the joint statement to the Commission on Narcotic Drugs, as "
                     "amended: it now has a section on young people who use drugs and on "
                     "services for women who use drugs.",
}
# (member name, stance, reason[, replaced later by (stance, reason)])
ROUND_1_STANCES = [
    ("International Drug Policy Consortium", AGREE, None),
    ("Harm Reduction International", AGREE, None),
    ("Youth RISE", BLOCK, "The statement says nothing about young people who use drugs; we "
                          "cannot put our name to it as drafted."),
    ("Middle East and North Africa Harm Reduction Association", AGREE, None),
    ("Eurasian Harm Reduction Network", RESERVATIONS, "The Eurasia section should use the "
                                                      "latest data."),
    ("European Network of People Who Use Drugs", AGREE, None),
    ("Eurasian Network of People who Use Drugs", AGREE, None),
    ("Asia Pacific Network of People Living with HIV", STAND_ASIDE,
     "Outside our mandate; we will not stand in the way."),
    ("Asia Pacific Network of Sex Workers", AGREE, None),
    ("APCOM", AGREE, None),
    ("ICW Asia Pacific", RESERVATIONS, "Please name women who use drugs."),
    ("Network of Asian People who Use Drugs", AGREE, None),
    ("Youth LEAD", AGREE, None),
]
ROUND_2_STANCES = [
    ("International Drug Policy Consortium", AGREE, None),
    ("Youth RISE", AGREE, "Thank you for the new section."),
    ("Eurasian Harm Reduction Network", RESERVATIONS, "We still want the newest data.",
     (AGREE, "The data are now up to date.")),
    ("ICW Asia Pacific", AGREE, None),
    ("Harm Reduction International", AGREE, None),
]
