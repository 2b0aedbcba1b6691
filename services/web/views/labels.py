"""Words for the API's enum values and country codes, in the page's language,
for the public and member pages (views/public.py, views/consultations.py,
views/member.py), and the parsing of a typed list of countries.

Invariants:
- every value of each enum the pages show has a label; a value the API adds
  later shows as itself, never as an error (`Labels.of`);
- country names come from Babel's CLDR data in the page's language and the
  valid codes from pycountry, the same list the members service checks
  against (services/common/validation.py);
- the tag class of a status is one of the classes static/app.css defines.
"""
from functools import lru_cache
from typing import Callable, Mapping

import pycountry
from babel import Locale

from services.common.i18n import LOCALES
from services.common.vocabulary import Language

Gettext = Callable[..., str]

# statuses that have a chip colour of their own (static/app.css "tag-<status>")
TAGGED = frozenset({"ACTIVE", "CANDIDATE", "SUSPENDED", "WITHDRAWN", "REJECTED", "OPEN",
                    "CLOSED", "CANCELLED", "ADOPTED", "BLOCKED", "NO_QUORUM", "NOT_ADOPTED",
                    "PROPOSED", "APPROVED", "ON_HOLD", "PIPELINE", "OFFERED", "ACCEPTED",
                    "DECLINED", "REVOKED", "USED", "EXPIRED", "DUE", "SUBMITTED",
                    "CHANGES_REQUESTED", "OVERDUE"})


class Labels:
    """The labels of one language: `labels.of("constituency", value)`."""

    def __init__(self, tables: Mapping[str, Mapping[str, str]], language: Language):
        self.tables, self.language = tables, language

    def of(self, table: str, value: object) -> str:
        if value is None:
            return ""
        return self.tables[table].get(str(value), str(value))

    def options(self, table: str) -> list[tuple[str, str]]:
        """(value, label) of every value of `table`, in the API's order."""
        return list(self.tables[table].items())

    def country(self, code: str) -> str:
        return country_names(self.language).get(code, code)

    def countries(self, codes: list[str]) -> str:
        return ", ".join(self.country(c) for c in codes)

    def country_options(self) -> list[tuple[str, str]]:
        """(code, name) of every country, sorted by its name in this language."""
        names = country_names(self.language)
        return sorted(names.items(), key=lambda item: item[1].casefold())

    @staticmethod
    def tag(status: object) -> str:
        """The CSS classes of a status chip."""
        return f"tag tag-{str(status).lower()}" if status in TAGGED else "tag"


def proxy_tables(_: Gettext) -> dict[str, dict[str, str]]:
    """The labels of DOMAIN.md section 9: a proxy's status, results visibility."""
    return {
        "proxy_status": {"OFFERED": _("Offered, waiting for an answer"),
                         "ACCEPTED": _("Accepted"), "DECLINED": _("Declined"),
                         "REVOKED": _("Revoked"), "USED": _("Used"),
                         "EXPIRED": _("Expired")},
        "results_visibility": {"OPEN": _("Shown as stances come in"),
                               "HIDDEN_UNTIL_CLOSED": _("Hidden until the round closes")},
    }


def report_tables(_: Gettext) -> dict[str, dict[str, str]]:
    """The labels of DOMAIN.md section 10: a report's status."""
    return {"report_status": {"DUE": _("Due"), "SUBMITTED": _("Submitted, waiting for review"),
                              "ACCEPTED": _("Accepted"),
                              "CHANGES_REQUESTED": _("Changes requested")}}


def safety_tables(_: Gettext) -> dict[str, dict[str, str]]:
    """The labels of DOMAIN.md section 11: a member's visibility."""
    return {"visibility": {"PUBLIC": _("Public"), "MEMBERS_ONLY": _("Members only")}}


def tables(_: Gettext) -> dict[str, dict[str, str]]:
    return {
        "member_status": {"CANDIDATE": _("Candidate"), "ACTIVE": _("Active"),
                          "SUSPENDED": _("Suspended"), "WITHDRAWN": _("Withdrawn"),
                          "REJECTED": _("Rejected")},
        "org_type": {"REGIONAL_NETWORK": _("Regional network"),
                     "NATIONAL_NETWORK": _("National network"),
                     "COMMUNITY_ORGANISATION": _("Community organisation"),
                     "NGO": _("Non-governmental organisation"), "OTHER": _("Other")},
        "constituency": {
            "PEOPLE_LIVING_WITH_HIV": _("People living with HIV"),
            "PEOPLE_WHO_USE_DRUGS": _("People who use drugs"),
            "SEX_WORKERS": _("Sex workers"),
            "MEN_WHO_HAVE_SEX_WITH_MEN": _("Men who have sex with men"),
            "TRANSGENDER_PEOPLE": _("Transgender people"), "LGBT": _("LGBT people"),
            "YOUNG_PEOPLE": _("Young people"), "WOMEN_AND_GIRLS": _("Women and girls"),
            "MIGRANTS": _("Migrants"), "PRISONERS": _("Prisoners"),
            "REFUGEES_AND_DISPLACED": _("Refugees and displaced people")},
        "kind": {"GENERAL": _("General"), "MEMBERSHIP_ADMISSION": _("Membership admission"),
                 "MEMBER_SUSPENSION": _("Member suspension"),
                 "GRANT_ALLOCATION": _("Grant allocation")},
        "consultation_status": {"OPEN": _("Open"), "CLOSED": _("Closed"),
                                "CANCELLED": _("Cancelled")},
        "outcome": {"ADOPTED": _("Adopted"), "BLOCKED": _("Not adopted: blocked"),
                    "NO_QUORUM": _("No quorum"), "NOT_ADOPTED": _("Not adopted")},
        "rule": {"CONSENSUS": _("Consensus"), "MODIFIED_CONSENSUS": _("Modified consensus")},
        "stance": {"AGREE": _("Agree"), "RESERVATIONS": _("Agree with reservations"),
                   "STAND_ASIDE": _("Stand aside"), "BLOCK": _("Block")},
        "grant_status": {"PIPELINE": _("Pipeline"), "ACTIVE": _("Active"),
                         "CLOSED": _("Closed")},
        "allocation_status": {"PROPOSED": _("Proposed"), "APPROVED": _("Approved"),
                              "REJECTED": _("Rejected"), "ON_HOLD": _("On hold")},
        "notification_kind": {"CONSULTATION_OPENED": _("Consultation opened"),
                              "REMINDER": _("Reminder"), "ROUND_CLOSED": _("Round closed"),
                              "MEMBERSHIP": _("Membership"), "ALLOCATION": _("Allocation"),
                              "REPORT": _("Report"), "PROXY": _("Proxy")},
        **proxy_tables(_), **report_tables(_), **safety_tables(_),
        "language": {"EN": "English", "RU": "Русский"},
    }


def visibility_options(_: Gettext, own: bool) -> list[tuple[str, str, str]]:
    """(value, label, what it means) of each member visibility (DOMAIN.md
    section 11), said to the member itself (`own`) or to the secretariat."""
    if own:
        return [("PUBLIC", _("Public"),
                 _("Anyone can see that your organisation is a member.")),
                ("MEMBERS_ONLY", _("Members only"),
                 _("Only members and the secretariat will see that your organisation is a "
                   "member."))]
    return [("PUBLIC", _("Public"), _("Anyone can see that the organisation is a member.")),
            ("MEMBERS_ONLY", _("Members only"),
             _("Only members and the secretariat will see that the organisation is a member."))]


_CACHE: dict[Language, Labels] = {}


def labels(_: Gettext, language: Language) -> Labels:
    """The labels of `language` (made once per language: `_` must be its gettext)."""
    found = _CACHE.get(language)
    if found is None:
        found = _CACHE[language] = Labels(tables(_), language)
    return found


@lru_cache(maxsize=4)
def country_names(language: Language) -> dict[str, str]:
    """{alpha-2 code: name in `language`} of every ISO 3166-1 country."""
    territories = Locale.parse(LOCALES[language]).territories
    return {c.alpha_2: str(territories.get(c.alpha_2) or getattr(c, "common_name", c.name))
            for c in pycountry.countries}


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    """Every way to write a country the form accepts (code, English or
    Russian name, official name; case-folded) -> its alpha-2 code."""
    index: dict[str, str] = {}
    for language in LOCALES:
        for code, name in country_names(language).items():
            index.setdefault(name.casefold(), code)
    for c in pycountry.countries:
        for other in (c.alpha_2, c.alpha_3, c.name, getattr(c, "official_name", None),
                      getattr(c, "common_name", None)):
            if other:
                index.setdefault(str(other).casefold(), str(c.alpha_2))
    return index


def parse_countries(text: str) -> tuple[list[str], list[str]]:
    """(codes, what was not understood) of a comma-separated list of country
    codes or names, in the order typed, without repeats."""
    codes: list[str] = []
    unknown: list[str] = []
    for part in text.replace(";", ",").split(","):
        word = " ".join(part.split())
        if not word:
            continue
        code = _country_index().get(word.casefold())
        if code is None:
            unknown.append(word)
        elif code not in codes:
            codes.append(code)
    return codes, unknown
