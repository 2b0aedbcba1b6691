"""Members pages through the real stack: unique `seq` numbers taken in
blocks (in creation order within one instance, with gaps: a refused
registration, a restarted instance), bounded seq windows that cross the
gaps, the count only when asked, and the start-up backfill of members
stored without a `seq`."""
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from services.common import paging
from services.common.store import Store, make_client, utcnow
from services.members import domain
from services.members.schemas import MemberInput
from tests.support import member_input, wait_for

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


def all_seqs(stack):
    return [d["seq"] for d in stack.db("members").members.find({}, {"seq": 1})]


def test_seqs_are_unique_in_creation_order_and_a_refused_create_stores_none(stack):
    name = f"Unique {uuid.uuid4().hex[:6]}"
    first = register(stack, name=name)
    refused = stack.post(REGISTER, {"i": member_input(name=name.upper())}, stack.admin()).json()
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    second = register(stack)
    members = stack.db("members").members
    # one instance hands out its block in order; the refused one's number is a gap
    assert members.find_one({"_id": second})["seq"] > members.find_one({"_id": first})["seq"]
    seqs = all_seqs(stack)
    assert len(seqs) == len(set(seqs)) and max(seqs) <= counter(stack)


def test_concurrent_registrations_get_distinct_seqs_without_retrying_on_one_counter(stack):
    with ThreadPoolExecutor(12) as pool:
        made = list(pool.map(lambda _: register(stack), range(36)))
    members = stack.db("members").members
    seqs = [members.find_one({"_id": m})["seq"] for m in made]
    assert len(set(seqs)) == 36 and max(seqs) <= counter(stack)
    assert len(all_seqs(stack)) == len(set(all_seqs(stack)))
    assert set(made) <= set(ids_of(read_all(stack, 10)))


def restart_members(stack):
    """Stop and start the stack's members process: a new process, a new block."""
    stack.stack.ctl("stop", "members")
    stack.stack.ctl("start", "members")

    def answers():
        try:
            with stack.rpc(timeout=2) as rpc:
                return rpc.members.ping()
        except Exception:
            return None
    wait_for(answers, 30, 0.3, "members to answer after its restart")


def test_a_restarted_instance_takes_a_new_block_and_keeps_numbers_unique(stack):
    before = register(stack)
    members = stack.db("members").members
    reserved = counter(stack)
    restart_members(stack)
    after = [register(stack) for _ in range(3)]
    seqs = [members.find_one({"_id": m})["seq"] for m in [before] + after]
    # the old block's unused numbers are a gap; the new block starts past the counter
    assert seqs[1:] == [reserved + 1, reserved + 2, reserved + 3] and seqs[0] < seqs[1]
    every = all_seqs(stack)
    assert len(every) == len(set(every))
    assert ids_of(read_all(stack, 50))[-4:] == [before] + after


def test_paging_across_gaps_gives_every_member_once_in_order_in_full_pages(stack):
    made = [register(stack) for _ in range(4)]
    # an instance that reserved a block of 500 and stopped before using any
    paging.next_seq(stack.db("members"), "members", n=500)
    restart_members(stack)
    made += [register(stack) for _ in range(5)]
    members = stack.db("members").members
    gap = members.find_one({"_id": made[4]})["seq"] - members.find_one({"_id": made[3]})["seq"]
    assert gap > 500
    for first in (1, 3, 50):
        pages = read_all(stack, first)  # checks every page but the last is full
        seen = ids_of(pages)
        assert seen == stored_order(stack) and len(seen) == len(set(seen))
        assert seen[-9:] == made
    candidates = read_all(stack, 2, status="CANDIDATE")
    assert ids_of(candidates) == stored_order(stack, {"status": "CANDIDATE"})


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
        # a count of members, never the counter (which numbers gaps too)
        assert rpc.members.list({}, 1, None)["total_count"] == members.count_documents({})


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
    seqs = all_seqs(stack)
    assert len(seqs) == len(set(seqs)) and max(seqs) == before + 7
    assert ids_of(read_all(stack, 50))[-7:] == [d["_id"] for d in docs]
