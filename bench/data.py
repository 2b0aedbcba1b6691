"""Realistic input documents: member organisations of a key-population
coalition, a donor grant. Deterministic per tag and index, names and
focal-point addresses unique per run."""
import random

COUNTRIES = ["KG", "KZ", "TJ", "UZ", "AM", "GE", "AZ", "UA", "MD", "BY", "RU", "EE", "LV", "LT",
             "TH", "VN", "ID", "PH", "MY", "KH", "NP", "IN", "PK", "BD", "MM", "LA", "FJ", "PG"]
REGIONS = ["Central Asia", "South Caucasus", "Eastern Europe", "Baltic States",
           "South-East Asia", "South Asia", "Pacific"]
CONSTITUENCIES = [
    "PEOPLE_LIVING_WITH_HIV", "PEOPLE_WHO_USE_DRUGS", "SEX_WORKERS", "MEN_WHO_HAVE_SEX_WITH_MEN",
    "TRANSGENDER_PEOPLE", "LGBT", "YOUNG_PEOPLE", "WOMEN_AND_GIRLS", "MIGRANTS", "PRISONERS",
    "REFUGEES_AND_DISPLACED"]
ORG_TYPES = ["REGIONAL_NETWORK", "NATIONAL_NETWORK", "COMMUNITY_ORGANISATION", "NGO", "OTHER"]
WORDS = ["Harm Reduction", "Positive Women", "Youth Voices", "Trans Coalition", "Sex Workers",
         "Recovery", "Migrant Health", "Prison Health", "Community Action", "Rainbow",
         "Key Populations", "Peer Support", "Treatment Access", "Rights"]


def member_input(tag, index):
    """The wire input (camelCase) of members.register_founding_member / apply_for_membership."""
    rnd = random.Random(index)
    countries = rnd.sample(COUNTRIES, rnd.choice([1, 1, 1, 2, 3]))
    word = rnd.choice(WORDS)
    return {
        "name": f"{word} Network {tag}-{index:05d}",
        "acronym": f"{''.join(w[0] for w in word.split())}N{index % 1000}",
        "orgType": rnd.choice(ORG_TYPES),
        "countries": countries,
        "region": rnd.choice(REGIONS),
        "constituencies": rnd.sample(CONSTITUENCIES, rnd.choice([1, 1, 2, 3])),
        # the tag too: a focal point's address is unique among acting members, and
        # the sagas' applicants (tag + "c") share the founders' indexes
        "focalPoint": {"name": f"Focal Point {index}", "email": f"focal{index}-{tag}@network.example.org",
                       "phone": f"+996 555 {index % 1000:03d} {index % 997:03d}"},
    }


def grant_input(tag):
    return {"title": f"Robert Carr Fund 2026-2028 ({tag})", "donor": "Robert Carr Fund",
            "currency": "USD", "amount": "90000000.00", "startDate": "2026-01-01",
            "endDate": "2028-12-31"}
