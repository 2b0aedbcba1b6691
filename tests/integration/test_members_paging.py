"""Members pages through the real stack: dense `seq` numbers in creation
order, bounded seq windows, the count only when asked, and the start-up
backfill of members stored without a `seq`."""
import threading
import uuid

from services.common import paging
from services.common.store import Store, make_client, utcnow
from services.members import domain
from services.members.schemas import MemberInput
from tests.support import member_input

PAGE = """query($first: Int, $after: String, $status: MemberStatus) {
  members(first: $first, after: $after, status: $status) {
    pageInfo { hasNextPage endCursor } edges { cursor node { id status } } } }"""
REGISTER = "mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id } }"
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }"


def register(stack, mutation=REGISTER, **overrides):
    data = stack.gql(mutation, {"i": member_input(**overrides)}, stack.admin())
    return next(iter(data.values()))["id"]


def read_all(stack, first, status=None):
    """Every page of members(first:), checking each page's cursors."""
    pages, after = [], None
    while True:
        page = stack.gql(PAGE, {"first": first, "after": after, "status": status})["members"]
        pages.append(page)
        assert page["pageInfo"]["endCursor"] == (page["edges"][-1]["cursor"] if page["edges"] else None)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        assert len(page["edges"]) == first
        after = page["pageInfo"]["endCursor"]


def ids_of(pages):
    return [e["node"]["id"] for p in pages for e in p["edges"]]


# what an anonymous client is shown: PUBLIC members only (DOMAIN.md section 11)
PUBLIC = {"visibility": "PUBLIC"}


def stored_order(stack, query=None):
    """The ids of the members an anonymous page shows, in creation order."""
    found = stack.db("members").members.find({**(query or {}), **PUBLIC}, {"_id": 1})
    return [d["_id"] for d in found.sort("seq", 1)]


def counter(stack):
    return paging.last_seq(stack.db("members"), "members")


def test_seqs_are_dense_in_creation_order_and_an_aborted_create_takes_none(stack):
    name = f"Dense {uuid.uuid4().hex[:6]}"
    first = register(stack, name=name)
    refused = stack.post(REGISTER, {"i": member_input(name=name.upper())}, stack.admin()).json()
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    second = register(stack)
    members = stack.db("members").members
    assert members.find_one({"_id": second})["seq"] == members.find_one({"_id": first})["seq"] + 1
    seqs = sorted(d["seq"] for d in members.find({}, {"seq": 1}))
    assert seqs == list(range(1, len(seqs) + 1)) and counter(stack) == len(seqs)


def test_paging_through_gives_every_member_once_in_creation_order(stack):
    made = [register(stack) for _ in range(12)]
    pages = read_all(stack, 7)
    seen = ids_of(pages)
    assert seen == stored_order(stack) and len(seen) == len(set(seen))
    assert seen[-12:] == made  # the newest last, in the order they were registered
    assert len(pages[-1]["edges"]) == (len(seen) - 1) % 7 + 1
    after_end = stack.gql(PAGE, {"first": 7, "after": pages[-1]["pageInfo"]["endCursor"]})["members"]
    assert after_end == {"pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}


def test_filtered_pages_reach_across_windows(stack):
    candidates = []
    for i in range(3):  # candidates far apart: each next page needs wider windows
        candidates.append(register(stack, APPLY))
        for _ in range(6):
            register(stack)
    pages = read_all(stack, 2, status="CANDIDATE")
    seen = ids_of(pages)
    assert seen == stored_order(stack, {"status": "CANDIDATE"}) and seen[-3:] == candidates
    assert all(e["node"]["status"] == "CANDIDATE" for p in pages for e in p["edges"])


def test_total_count_when_asked_and_one_list_rpc_either_way(stack):
    register(stack)
    members = stack.db("members").members
    with_total = stack.post("{ members(first: 2) { totalCount edges { node { id } } } }")
    without = stack.post("{ members(first: 2) { edges { node { id } } } }")
    assert with_total.json()["data"]["members"]["totalCount"] == members.count_documents(PUBLIC)
    assert with_total.headers["X-RPC-Calls"] == without.headers["X-RPC-Calls"] == "1"
    q = "query($s: MemberStatus) { members(status: $s, first: 1) { ...T } } " \
        "fragment T on MemberConnection { totalCount }"
    for status in ("ACTIVE", "CANDIDATE", "REJECTED"):
        total = stack.gql(q, {"s": status})["members"]["totalCount"]
        assert total == members.count_documents({"status": status, **PUBLIC})
    with stack.rpc() as rpc:
        assert rpc.members.list({}, 1, None, False)["total_count"] is None
        assert rpc.members.list({}, 1, None)["total_count"] == counter(stack)


def test_an_id_cursor_is_not_a_members_cursor(stack):
    old = paging.encode_cursor(paging.BY_ID, register(stack))
    code, error = stack.gql_error(PAGE, {"first": 2, "after": old})
    assert code == "BAD_USER_INPUT" and error["message"] == "The cursor is not valid."


def test_backfill_numbers_members_stored_without_seq_once_even_from_two_instances(stack):
    now = utcnow()
    docs = []
    for _ in range(7):
        doc = {"_id": paging.new_id(), **domain.new_member(MemberInput().load(member_input()), now, True)}
        docs.append({**doc, "status": "WITHDRAWN", "name_key": None})  # votes nowhere, frees no name
    members = stack.db("members").members
    members.insert_many(docs[::-1])  # stored out of _id order
    before = counter(stack)
    clients = [make_client({"MONGO_URI": stack.mongo_uri}) for _ in range(2)]
    try:
        stores = [Store(c, c[f"{stack.prefix}_members"], "members", {}) for c in clients]
        runs = [threading.Thread(target=paging.backfill_seq, args=(s, "members", 3)) for s in stores]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
    finally:
        for c in clients:
            c.close()
    got = {d["_id"]: d["seq"] for d in members.find({"_id": {"$in": [d["_id"] for d in docs]}})}
    assert [got[d["_id"]] for d in docs] == list(range(before + 1, before + 8))
    assert counter(stack) == before + 7
    seqs = sorted(d["seq"] for d in members.find({}, {"seq": 1}))
    assert seqs == list(range(1, len(seqs) + 1))
    assert ids_of(read_all(stack, 50))[-7:] == [d["_id"] for d in docs]
