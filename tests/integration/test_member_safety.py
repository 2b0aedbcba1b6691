"""Safety of members (DOMAIN.md section 11) on the real stack: visibility
chosen when applying and changed by the member or ADMIN, what ANONYMOUS sees
of money given to a member it may not see (the books stay whole), who read
a focal point (one record per answer, whatever the number of members in it),
and the export of everything the system holds about a member, checked
against the store itself. The crawl of every public answer and page is
tests/integration/test_disclosure_crawler.py; erasure is
tests/integration/test_member_erasure.py."""
import importlib
import uuid
from datetime import datetime, timedelta, timezone

from tests.helpers.consultations import open_consultation
from tests.helpers.grants import create_grant, disburse_body, propose
from tests.helpers.notifications import MARK_READ, founders_with_addresses, inbox
from tests.helpers.proxies import accepted, cast_for
from tests.helpers.reports import day, report_input, schedule, submit
from tests.helpers.safety import (APPLY, FOCAL_POINT, READS, SET_VISIBILITY, approved, export_of,
                                  naming, newest_reads, reads_count, secret_member)
from tests.helpers.sign_in import add_secretariat, new_address, sign_in
from tests.support import (announced, founders, isolate_voters, member_input, refusal,
                           wait_for, wait_read_models)

ANONYMOUS_VIEW = "query($id: ID!) { member(id: $id) { id name } }"
SEARCH = "query($s: String) { members(search: $s) { totalCount edges { node { id } } } }"
PAGE_OF_FOCAL_POINTS = """query($s: String) { members(search: $s, first: 50) {
    edges { node { id focalPoint { email } } } } }"""
OWN = "{ viewer { member { id focalPoint { email } focalPointReads { at by } } } }"
BOOKS = """query($id: ID!) { grant(id: $id) { allocated disbursed available
  undisclosedAllocations undisclosedAmount allocations { id amount member { id } } } }"""
LISTED_BOOKS = """{ grants(first: 200) { edges { node { id allocated disbursed available
  undisclosedAllocations undisclosedAmount } } } }"""
EXPORTED_SERVICES = {"members", "consultations", "grants", "notifications", "accounts"}


def code_of(r):
    return refusal(r.json())[0]


def hidden_founder(stack, **overrides):
    """(id, input) of a founding member registered MEMBERS_ONLY, known everywhere."""
    data = secret_member(**overrides)
    with stack.rpc() as rpc:
        member_id = rpc.members.register_founding_member(data)["id"]
    wait_read_models(stack, member_id, can_vote=True)
    return member_id, data


# ---- visibility -------------------------------------------------------------------------

def test_an_applicant_chooses_members_only_and_anonymous_never_sees_it(stack):
    data = secret_member()
    made = stack.gql(APPLY, {"i": data})["applyForMembership"]
    assert (made["status"], made["visibility"]) == ("CANDIDATE", "MEMBERS_ONLY")
    assert stack.gql(ANONYMOUS_VIEW, {"id": made["id"]})["member"] is None
    word = data["name"].split()[-1]
    assert stack.gql(SEARCH, {"s": word})["members"] == {"totalCount": 0, "edges": []}
    for token in (stack.admin(), stack.member_token(founders(stack, 1)[0]["id"])):
        seen = stack.gql(SEARCH, {"s": word}, token)["members"]
        assert seen["totalCount"] == 1 and seen["edges"][0]["node"]["id"] == made["id"]
    assert stack.gql(FOCAL_POINT, {"id": made["id"]}, stack.admin())["member"]["visibility"] == \
        "MEMBERS_ONLY"
    # without a choice, PUBLIC
    public = stack.gql(APPLY, {"i": member_input()})["applyForMembership"]
    assert public["visibility"] == "PUBLIC"
    assert stack.gql(ANONYMOUS_VIEW, {"id": public["id"]})["member"]["id"] == public["id"]


def test_the_member_itself_and_admin_change_it_and_nobody_else(stack):
    member, other = (m["id"] for m in founders(stack, 2))
    history = stack.gql(SET_VISIBILITY, {"m": member, "v": "PUBLIC"},
                        stack.admin())["setMemberVisibility"]["history"]
    assert announced(stack.db("members"), "member_visibility_set", member_id=member) == []
    revision = stack.db("members").members.find_one({"_id": member})["revision"]
    hidden = stack.gql(SET_VISIBILITY, {"m": member, "v": "MEMBERS_ONLY"},
                       stack.member_token(member))["setMemberVisibility"]
    assert hidden["visibility"] == "MEMBERS_ONLY" and hidden["history"] == history
    assert stack.db("members").members.find_one({"_id": member})["revision"] == revision + 1
    [event] = announced(stack.db("members"), "member_visibility_set", member_id=member)
    assert event["data"]["visibility"] == "MEMBERS_ONLY"
    assert stack.gql(ANONYMOUS_VIEW, {"id": member})["member"] is None
    # the same again: no change, no event
    stack.gql(SET_VISIBILITY, {"m": member, "v": "MEMBERS_ONLY"}, stack.member_token(member))
    assert len(announced(stack.db("members"), "member_visibility_set", member_id=member)) == 1
    for token, code in ((stack.member_token(other), "FORBIDDEN"), (None, None)):
        r = stack.post(SET_VISIBILITY, {"m": member, "v": "PUBLIC"}, token)
        assert code_of(r) in ((code,) if code else ("UNAUTHENTICATED", "FORBIDDEN")), r.text
    r = stack.post(SET_VISIBILITY, {"m": uuid.uuid4().hex, "v": "PUBLIC"}, stack.admin())
    assert code_of(r) == "NOT_FOUND"
    back = stack.gql(SET_VISIBILITY, {"m": member, "v": "PUBLIC"}, stack.admin())
    assert back["setMemberVisibility"]["visibility"] == "PUBLIC"
    assert stack.gql(ANONYMOUS_VIEW, {"id": member})["member"]["id"] == member


# ---- the books ------------------------------------------------------------------------

def test_grant_totals_stay_whole_for_anonymous(stack):
    isolate_voters(stack)
    public, _voter = (m["id"] for m in founders(stack, 2))
    hidden, _ = hidden_founder(stack)
    g = create_grant(stack, activate=True, amount="10000", currency="USD")
    mine = approved(stack, g["id"], hidden, "2000.00")
    pending = propose(stack, g["id"], hidden, "500.00")  # PROPOSED: its round is open
    theirs = approved(stack, g["id"], public, "3000.00")
    for allocation, amount in ((mine, "1000.00"), (theirs, "500.00")):
        assert not disburse_body(stack, allocation["id"], amount).get("errors")
    whole = ("5500.00", "1500.00", "4500.00")
    anonymous = stack.gql(BOOKS, {"id": g["id"]})["grant"]
    assert (anonymous["allocated"], anonymous["disbursed"], anonymous["available"]) == whole
    assert (anonymous["undisclosedAllocations"], anonymous["undisclosedAmount"]) == (2, "2500.00")
    assert [a["id"] for a in anonymous["allocations"]] == [theirs["id"]]
    for token in (stack.admin(), stack.member_token(public)):
        seen = stack.gql(BOOKS, {"id": g["id"]}, token)["grant"]
        assert (seen["allocated"], seen["disbursed"], seen["available"]) == whole
        assert (seen["undisclosedAllocations"], seen["undisclosedAmount"]) == (0, "0.00")
        assert {a["id"] for a in seen["allocations"]} == {mine["id"], pending["id"], theirs["id"]}
    listed = next(e["node"] for e in stack.gql(LISTED_BOOKS)["grants"]["edges"]
                  if e["node"]["id"] == g["id"])
    assert (listed["allocated"], listed["disbursed"], listed["available"]) == whole
    assert (listed["undisclosedAllocations"], listed["undisclosedAmount"]) == (2, "2500.00")


# ---- who read a focal point -------------------------------------------------------------

def test_admin_reads_are_recorded_and_the_members_own_are_not(stack):
    member, other = (m["id"] for m in founders(stack, 2))
    before = reads_count(stack)
    fp = stack.gql(FOCAL_POINT, {"id": member}, stack.admin())["member"]["focalPoint"]
    assert fp["email"]
    [record] = newest_reads(stack, 1)
    assert reads_count(stack) == before + 1 and record["member_ids"] == [member]
    assert record["by"] == "admin-test" and "@" not in str(record)
    # the member itself, another member, a visitor: nothing recorded
    own = stack.gql(FOCAL_POINT, {"id": member}, stack.member_token(member))["member"]
    assert own["focalPoint"]["email"] == fp["email"]
    viewer = stack.gql(OWN, token=stack.member_token(member))["viewer"]["member"]
    assert viewer["focalPoint"]["email"] == fp["email"]
    theirs = stack.gql(FOCAL_POINT, {"id": member}, stack.member_token(other))["member"]
    assert theirs["focalPoint"] is None and theirs["focalPointReads"] == []
    assert stack.gql(FOCAL_POINT, {"id": member})["member"]["focalPoint"] is None
    assert reads_count(stack) == before + 1
    # the records: to ADMIN and to the member itself, newest first
    for token in (stack.admin(), stack.member_token(member)):
        reads = stack.gql(READS, {"id": member}, token)["member"]["focalPointReads"]
        assert reads[0]["by"] == "admin-test" and len(reads) >= 1
    assert viewer["focalPointReads"][0]["by"] == "admin-test"


def test_a_page_of_fifty_focal_points_costs_one_write(stack):
    tag = f"Fifty{uuid.uuid4().hex[:8]}"
    with stack.rpc() as rpc:
        made = [rpc.members.register_founding_member(member_input(f"{tag} {i}"))["id"]
                for i in range(50)]
    before = reads_count(stack)
    page = stack.gql(PAGE_OF_FOCAL_POINTS, {"s": tag}, stack.admin())["members"]["edges"]
    assert len(page) == 50 and all(e["node"]["focalPoint"]["email"] for e in page)
    assert reads_count(stack) == before + 1
    [record] = newest_reads(stack, 1)
    assert sorted(record["member_ids"]) == sorted(made) and record["by"] == "admin-test"


def test_a_secretariat_person_is_named_by_name_never_by_address(stack, mail):
    address, name = new_address("fpr"), f"Aigul Reader {uuid.uuid4().hex[:6]}"
    add_secretariat(stack, address, name)
    session, _ = sign_in(stack, address)
    member = founders(stack, 1)[0]["id"]
    stack.gql(FOCAL_POINT, {"id": member}, session["token"])
    [record] = newest_reads(stack, 1)
    assert record["by"] == name and address not in str(record)
    reads = stack.gql(READS, {"id": member}, stack.admin())["member"]["focalPointReads"]
    assert [r["by"] for r in reads] == [name]


def test_the_reads_shown_are_the_500_newest(stack):
    member = founders(stack, 1)[0]["id"]
    start = datetime.now(timezone.utc) - timedelta(days=30)
    stack.db("members").focal_point_reads.insert_many(
        [{"_id": uuid.uuid4().hex, "at": start + timedelta(minutes=i), "by": f"reader {i}",
          "member_ids": [member]} for i in range(600)])
    reads = stack.gql(READS, {"id": member}, stack.admin())["member"]["focalPointReads"]
    assert len(reads) == 500
    assert [r["by"] for r in reads] == [f"reader {i}" for i in range(599, 99, -1)]


# ---- the export -------------------------------------------------------------------------

def busy_member(stack):
    """A member that did a bit of everything: it gave its proxy in a round,
    was given money, paid and reported on, signed in, read its
    notifications, changed its visibility; ADMIN read its focal point."""
    isolate_voters(stack)
    (member, address), (other, _) = founders_with_addresses(stack, 2)
    general = open_consultation(stack, title=f"Export {uuid.uuid4().hex[:6]}")
    accepted(stack, general["id"], member, other)
    assert not cast_for(stack, general["id"], other, member).get("errors")
    g = create_grant(stack, activate=True, amount="5000", currency="USD")
    allocation = approved(stack, g["id"], member, "1000.00")
    assert not disburse_body(stack, allocation["id"], "400.00").get("errors")
    report = schedule(stack, allocation["id"], day(30))
    submit(stack, report["id"], member, report_input(spent="300.00"))
    sign_in(stack, address)
    token = stack.member_token(member)
    unread = wait_for(lambda: inbox(stack, token, unread=True)["edges"], 30, 0.2, "a notification")
    stack.gql(MARK_READ, {"ids": [unread[0]["node"]["id"]]}, token)
    stack.gql(SET_VISIBILITY, {"m": member, "v": "MEMBERS_ONLY"}, token)
    stack.gql(FOCAL_POINT, {"id": member}, stack.admin())
    return member, other


def exported_from(service):
    """{stored collection: the export's parts read from it} of a service
    whose parts are not all named as the collection they are kept in
    (consultations' `eligibility` is kept in its tally shards)."""
    parts = importlib.import_module(f"services.{service}.dependencies").MEMBER_DATA
    found = {}
    for part in parts:
        found.setdefault(part.stored_in, []).append(part.collection)
    return found


def test_the_export_holds_every_collection_that_names_the_member(stack, mail):
    member, _ = busy_member(stack)
    reads = reads_count(stack)
    exported = export_of(stack, member, stack.member_token(member))
    assert reads_count(stack) == reads  # its own export is no one else's read
    assert exported["format"] == "coalition-member-export/1"
    assert exported["member_id"] == member and exported["exported_at"]
    assert EXPORTED_SERVICES <= set(exported)
    stored = naming(stack, member)
    assert "gateway" not in stored, stored  # only the kit's collections there
    missing = []
    for service, collections in stored.items():
        parts = exported_from(service)
        for collection, ids in collections.items():
            docs = [d for part in parts.get(collection, [collection])
                    for d in exported[service].get(part) or []]
            have = {str(d["id"]) for d in docs if "id" in d}
            if not docs or (have and set(ids) - have):
                missing.append((service, collection, sorted(set(ids) - have)))
    assert missing == [], (missing, {s: sorted(c) for s, c in stored.items()})
    [record] = [m for m in exported["members"]["members"]]
    assert record["id"] == member
    assert exported["members"]["focal_point_reads"]


def test_who_may_export_and_an_admin_export_is_a_read(stack):
    member, other = (m["id"] for m in founders(stack, 2))
    for token in (stack.member_token(other), None):
        r = stack.post("mutation($m: ID!) { exportMemberData(memberId: $m) }", {"m": member},
                       token)
        assert code_of(r) in ("FORBIDDEN", "UNAUTHENTICATED"), r.text
    r = stack.post("mutation($m: ID!) { exportMemberData(memberId: $m) }",
                   {"m": uuid.uuid4().hex}, stack.admin())
    assert code_of(r) == "NOT_FOUND"
    before = reads_count(stack)
    exported = export_of(stack, member, stack.admin())
    assert exported["member_id"] == member
    [record] = newest_reads(stack, 1)
    assert reads_count(stack) == before + 1 and record["member_ids"] == [member]
