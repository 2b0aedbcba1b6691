"""A MEMBERS_ONLY member is invisible to ANONYMOUS everywhere (DOMAIN.md
section 11), found out the way someone looking for it would: crawlers that
walk every root field of the GraphQL schema (introspected, so a field added
later is walked too), every object field under it to a bounded depth, every
page of every list and every filter value, every `thing(id:)` with every id
met and the hidden members' own; and every web page linked from `/`. Not one
answer, error or page may hold a hidden member's name, acronym, id or focal
point. The same crawl as ADMIN finds them: the crawler does reach the places.

On a stack of its own (a small coalition, so that a crawl is quick) whose
gateway lets one query go deeper and cost more than a client's may (the
crawl asks each root field once, to its depth, instead of in slices):
nothing else changes."""
import html
import re
from urllib.parse import quote

import pytest

from tests.helpers.consultations import admission_of, cast, close, later, open_consultation
from tests.helpers.grants import create_grant, disburse_body
from tests.helpers.proxies import accepted, cast_for
from tests.helpers.reports import report_input, review, schedule, submit, day
from tests.helpers.safety import (APPLY, REGISTER, UNDISCLOSED, GraphCrawler, approved, crawl_web,
                                  leaks, needles, secret_member)
from tests.helpers.web import get, web_session
from tests.support import StackHandle, member_input, wait_read_models

CRAWL_ENV = {"MAX_QUERY_COST": str(10**9), "MAX_QUERY_DEPTH": "50"}
SUSPEND = "mutation($m: ID!, $r: String!) { proposeSuspension(memberId: $m, reason: $r) { id } }"
NEXT_ROUND = """mutation($id: ID!, $p: String!, $c: DateTime!) {
  startNextRound(id: $id, proposal: $p, closesAt: $c) { id round } }"""
GRANT = """query($id: ID!) { grant(id: $id) { allocated disbursed available
  undisclosedAllocations undisclosedAmount allocations { id member { id } } iatiXml } }"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    handle = StackHandle(tmp_path_factory.mktemp("crawl-stack"), extra_env=CRAWL_ENV)
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()


def register(stack, data):
    made = stack.gql(REGISTER, {"i": data}, stack.admin())["registerFoundingMember"]
    assert made["visibility"] == data.get("visibility", "PUBLIC"), made
    wait_read_models(stack, made["id"], can_vote=True)
    return made["id"]


def about_the_hidden(stack, hidden, others):
    """A GENERAL round in which the hidden member gave its proxy; a grant
    with an allocation to it (paid, reported on) and one to a public
    member; and a suspension proposed about it, left open."""
    general = open_consultation(stack, title="Strategy for the region")
    accepted(stack, general["id"], hidden, others[1])
    assert not cast_for(stack, general["id"], others[1], hidden).get("errors")
    assert not cast(stack, general["id"], others[0]).get("errors")
    grant = create_grant(stack, activate=True, amount="10000", currency="USD")
    mine = approved(stack, grant["id"], hidden, "2000.00")
    public = approved(stack, grant["id"], others[0], "3000.00")
    assert not disburse_body(stack, mine["id"], "1000.00").get("errors")
    report = schedule(stack, mine["id"], day(30))
    submit(stack, report["id"], hidden, report_input(spent="900.00"))
    review(stack, report["id"], True, "Thank you.")
    suspension = stack.gql(SUSPEND, {"m": hidden, "r": "Reports late"},
                           stack.admin())["proposeSuspension"]
    return {"general": general, "grant": grant, "mine": mine, "public": public,
            "report": report, "suspension": suspension}


@pytest.fixture(scope="module")
def coalition(stack):
    """Two public founders; a hidden founder in a round, paid from a grant
    and about to be suspended; a hidden candidate whose admission went to a
    second round whose proposal, as the secretariat wrote it, names it."""
    others = [register(stack, member_input(countries=["KG"])) for _ in range(2)]
    hidden_data = secret_member(countries=["MN"])
    hidden = register(stack, hidden_data)
    made = about_the_hidden(stack, hidden, others)
    candidate_data = secret_member()
    candidate = stack.gql(APPLY, {"i": candidate_data})["applyForMembership"]
    assert candidate["visibility"] == "MEMBERS_ONLY", candidate
    admission = admission_of(stack, candidate["id"])["_id"]
    assert close(stack, admission)["outcome"] == "NO_QUORUM"
    stack.gql(NEXT_ROUND, {"id": admission, "c": later(),
                           "p": f"Admit {candidate_data['name']} after all"}, stack.admin())
    consultations = {admission, made["suspension"]["id"], made["general"]["id"],
                     made["mine"]["consultation"]["id"], made["public"]["consultation"]["id"]}
    return {**made, "others": others, "hidden": hidden, "candidate": candidate["id"],
            "admission": admission, "consultations": consultations,
            "needles": needles(hidden_data, hidden) + needles(candidate_data, candidate["id"])}


def seeds(coalition):
    return {"Member": {coalition["hidden"], coalition["candidate"], *coalition["others"]},
            "Consultation": coalition["consultations"], "Grant": {coalition["grant"]["id"]},
            "Report": {coalition["report"]["id"]}}


def test_the_anonymous_graphql_crawl_finds_no_hidden_member(stack, coalition):
    crawler = GraphCrawler(stack, None, seeds=seeds(coalition),
                           probes=["Quietwater", "QWC", "Zarina", "MN", "KG"])
    texts = crawler.crawl()
    assert leaks(texts, coalition["needles"]) == []
    assert "INTERNAL_SERVER_ERROR" not in texts, crawler.refused
    # it did walk the coalition: the public members, the grant, every consultation
    assert set(coalition["others"]) <= crawler.ids["Member"]
    assert coalition["grant"]["id"] in crawler.ids["Grant"]
    assert coalition["consultations"] <= crawler.ids["Consultation"]
    assert crawler.queries > 20
    # the rounds about a hidden member are there, their words redacted
    assert texts.count(UNDISCLOSED) >= 3


def test_the_same_crawl_as_admin_finds_them(stack, coalition):
    """The control: the crawler reaches the places where the names are."""
    crawler = GraphCrawler(stack, stack.admin(), depth=2, seeds=seeds(coalition))
    texts = crawler.crawl()
    assert [n for n, _ in leaks(texts, coalition["needles"])] == coalition["needles"]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_anonymous_web_crawl_finds_no_hidden_member(stack, coalition, language):
    grant = coalition["grant"]["id"]
    start = ("/", *(f"/consultations/{c}" for c in sorted(coalition["consultations"])),
             f"/grants/{grant}", f"/reports/{coalition['report']['id']}",
             "/members?search=Quietwater", "/members?search=QWC")
    pages = crawl_web(stack, None, start, language=language)
    found = [(path, text, around[100:200]) for path, (_, body) in pages.items()
             for text, around in leaks(body, coalition["needles"])]
    assert found == []
    # it did walk the site: the public members' pages, the grant's IATI file
    assert all(f"/members/{m}" in pages for m in coalition["others"]), sorted(pages)
    assert f"/grants/{grant}/iati.xml" in pages and len(pages) > 15, sorted(pages)
    assert UNDISCLOSED in pages[f"/consultations/{coalition['admission']}"][1]
    # and a hidden member's own page, asked for by its id, is not there
    browser = web_session(stack)
    for member in (coalition["hidden"], coalition["candidate"]):
        page = get(browser, f"/members/{member}")
        assert page.status_code == 404
        assert leaks(own_address_left_out(page.text, f"/members/{member}"),
                     coalition["needles"]) == []


def own_address_left_out(body, path):
    """The page without its own address (its language links name it): that
    is the asker's knowledge, not the page's."""
    for form in {path, quote(path, safe=""), quote(path, safe="/"), html.escape(path)}:
        body = body.replace(form, "")
    return body


def test_a_member_sees_them_on_the_same_pages(stack, coalition):
    crawler = GraphCrawler(stack, stack.member_token(coalition["others"][0]), depth=1,
                           seeds=seeds(coalition))
    texts = crawler.crawl()
    assert coalition["needles"][0] in texts and coalition["hidden"] in texts
    page = get(web_session(stack, stack.member_token(coalition["others"][0])), "/members")
    assert coalition["needles"][0] in page.text


def test_anonymous_lists_and_counts_leave_them_out_but_the_books_stay_whole(stack, coalition):
    total = "{ members { totalCount edges { node { id } } } }"
    anonymous = stack.gql(total)["members"]
    assert anonymous["totalCount"] == 2 == len(anonymous["edges"])
    assert stack.gql(total, token=stack.admin())["members"]["totalCount"] == 4
    general = stack.gql("""query($id: ID!) { consultation(id: $id) { eligibleMembers { id }
      tally { eligible responded } } }""", {"id": coalition["general"]["id"]})["consultation"]
    assert {m["id"] for m in general["eligibleMembers"]} == set(coalition["others"])
    assert general["tally"] == {"eligible": 3, "responded": 2}  # tallies stay whole
    grant = stack.gql(GRANT, {"id": coalition["grant"]["id"]})["grant"]
    assert (grant["allocated"], grant["disbursed"], grant["available"]) == \
        ("5000.00", "1000.00", "5000.00")
    assert (grant["undisclosedAllocations"], grant["undisclosedAmount"]) == (1, "2000.00")
    assert [a["id"] for a in grant["allocations"]] == [coalition["public"]["id"]]
    xml = grant["iatiXml"]
    assert UNDISCLOSED in xml and not re.search(r'code="MN"', xml)
