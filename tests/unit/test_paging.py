"""Paging without a store: cursors, seq windows (across gaps in the
numbers), blocks of numbers, and which list calls ask for a count (the
gateway's side)."""
import base64
import threading
from types import SimpleNamespace

import pytest

from services.common import paging
from services.common.errors import BadUserInput
from services.gateway.schema import schema

OID = "65f0c0ffee0000000000beef"


def raw_cursor(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("kind,value", [(paging.BY_SEQ, 1), (paging.BY_SEQ, 10 ** 17),
                                        (paging.BY_ID, OID)])
def test_a_cursor_names_what_it_was_made_from(kind, value):
    cursor = paging.encode_cursor(kind, value)
    assert "=" not in cursor and paging.decode_cursor(cursor, kind) == value


@pytest.mark.parametrize("cursor,kind", [
    (paging.encode_cursor(paging.BY_ID, OID), paging.BY_SEQ),  # a cursor of the other kind
    (paging.encode_cursor(paging.BY_SEQ, 7), paging.BY_ID),
    (raw_cursor("s1:-5"), paging.BY_SEQ), (raw_cursor("s1:"), paging.BY_SEQ),
    (raw_cursor("s1:1e3"), paging.BY_SEQ), (raw_cursor("s1:" + "9" * 19), paging.BY_SEQ),
    (raw_cursor("s1:\u0663"), paging.BY_SEQ), (raw_cursor("k1:not-an-id"), paging.BY_ID),
    ("not-a-cursor", paging.BY_SEQ), ("%%%", paging.BY_ID), (12, paging.BY_SEQ),
    ({"$gt": ""}, paging.BY_ID),
])
def test_anything_else_is_bad_user_input(cursor, kind):
    with pytest.raises(BadUserInput, match="The cursor is not valid."):
        paging.decode_cursor(cursor, kind)


def test_no_cursor_is_the_start():
    assert paging.decode_cursor(None, paging.BY_SEQ) is None


def test_windows_start_one_page_wide_double_and_stop_at_the_last_seq():
    assert list(paging.windows(0, 3, 20)) == [(0, 3), (3, 9), (9, 20)]
    assert list(paging.windows(10, 51, 100)) == [(10, 61), (61, 100)]
    assert list(paging.windows(100, 51, 100)) == []
    assert list(paging.windows(500, 51, 100)) == []  # a cursor past the end


def test_windows_cross_a_gap_far_wider_than_a_page_in_few_steps():
    spans = list(paging.windows(10, 5, 10 ** 9))
    assert spans[0] == (10, 15) and spans[-1][1] == 10 ** 9
    assert all(hi == next_lo for (_, hi), (next_lo, _) in zip(spans, spans[1:]))
    assert len(spans) <= 30  # log2(10**9 / 5) windows, not one per page
    assert list(paging.windows(0, 0, 3)) == [(0, 1), (1, 3)]  # never a window of no width


class FakeMembers:
    """Just the find() a sequenced page sends: a seq range first, then equalities.
    Numbered 1, 2, 3, ... unless given `seqs`; the counter is the last
    number, or `counter` (numbers reserved but never used)."""

    def __init__(self, statuses, seqs=None, counter=None):
        seqs = list(seqs or range(1, len(statuses) + 1))
        self.docs = [{"_id": f"m{seq}", "seq": seq, "status": s} for seq, s in zip(seqs, statuses)]
        self.name = "members"
        last = counter if counter is not None else (seqs[-1] if self.docs else 0)
        self.database = SimpleNamespace(counters=SimpleNamespace(
            find_one=lambda q: {"_id": "members", "value": last} if last else None))
        self.windows, self.counts = [], 0

    def find(self, query, projection=None):
        (field, bounds), *rest = query.items()
        assert field == "seq", "the seq range must come first, so the store reads its index"
        self.windows.append((bounds["$gt"], bounds["$lte"]))
        found = [d for d in self.docs if bounds["$gt"] < d["seq"] <= bounds["$lte"]
                 and all(d[k] == v for k, v in rest)]
        return SimpleNamespace(sort=lambda *a: SimpleNamespace(limit=lambda n: found[:n]))

    def count_documents(self, query):
        self.counts += 1
        return sum(all(d[k] == v for k, v in query.items()) for d in self.docs)

    def estimated_document_count(self):
        self.counts += 1
        return len(self.docs)


def read_all(coll, query, first, count=False):
    pages, after = [], None
    while True:
        p = paging.page(coll, query, first, after, lambda d: d["_id"], count=count, sequenced=True)
        pages.append(p)
        if not p["has_next_page"]:
            return pages
        assert p["end_cursor"] == p["edges"][-1]["cursor"]
        after = p["end_cursor"]


def test_an_unfiltered_page_is_one_window_of_one_page_and_no_count():
    coll = FakeMembers(["ACTIVE"] * 1000)
    p = paging.page(coll, {}, 50, paging.encode_cursor(paging.BY_SEQ, 500), lambda d: d["seq"],
                    count=False, sequenced=True)
    assert [e["node"] for e in p["edges"]] == list(range(501, 551)) and p["has_next_page"]
    assert coll.windows == [(500, 551)] and coll.counts == 0 and p["total_count"] is None


def test_paging_through_gives_each_document_once_in_order():
    coll = FakeMembers(["ACTIVE"] * 23)
    pages = read_all(coll, {}, 5)
    assert [e["node"] for p in pages for e in p["edges"]] == [f"m{i}" for i in range(1, 24)]
    assert [len(p["edges"]) for p in pages] == [5, 5, 5, 5, 3]
    assert pages[-1]["end_cursor"] == paging.encode_cursor(paging.BY_SEQ, 23)


def test_a_full_last_page_says_there_is_no_next():
    coll = FakeMembers(["ACTIVE"] * 10)
    pages = read_all(coll, {}, 5)
    assert [len(p["edges"]) for p in pages] == [5, 5] and not pages[-1]["has_next_page"]


def test_filtered_pages_grow_their_windows_until_full_or_past_the_counter():
    statuses = ["ACTIVE"] * 100
    for seq in (3, 40, 41, 77, 99):
        statuses[seq - 1] = "SUSPENDED"
    coll = FakeMembers(statuses)
    pages = read_all(coll, {"status": "SUSPENDED"}, 2)
    assert [[e["node"] for e in p["edges"]] for p in pages] == [["m3", "m40"], ["m41", "m77"], ["m99"]]
    assert coll.windows[:3] == [(0, 3), (3, 9), (9, 21)]  # then wider, until m41 is found
    assert coll.windows[-1][1] == 100


def test_the_total_counts_documents_never_the_counter():
    coll = FakeMembers(["ACTIVE", "SUSPENDED", "ACTIVE"], seqs=[1, 70, 130], counter=192)
    assert paging.page(coll, {}, 1, None, dict, sequenced=True)["total_count"] == 3
    assert paging.page(coll, {"status": "ACTIVE"}, 1, None, dict, sequenced=True)["total_count"] == 2
    assert coll.counts == 2


# numbers as blocks leave them: two instances' blocks of 64 interleaved, each
# stopped with numbers unused, and a refused registration (seq 5 never stored)
GAPPY = [1, 2, 3, 4, 6, 7, 65, 66, 67, 8, 9, 129, 130, 300, 301, 302, 303, 304, 10 ** 6]


@pytest.mark.parametrize("first", [1, 2, 5, 7, 50])
def test_paging_across_gaps_gives_every_document_once_in_seq_order_in_full_pages(first):
    coll = FakeMembers(["ACTIVE"] * len(GAPPY), seqs=GAPPY, counter=10 ** 6 + 63)
    pages = read_all(coll, {}, first)
    assert [e["node"] for p in pages for e in p["edges"]] == [f"m{s}" for s in sorted(GAPPY)]
    assert all(len(p["edges"]) == first for p in pages[:-1])
    assert len(coll.windows) <= len(pages) * 25  # a few windows a page, however wide the gap


def test_a_filtered_page_across_gaps_is_full_and_ends_at_the_counter():
    statuses = ["SUSPENDED" if s in (3, 129, 304, 10 ** 6) else "ACTIVE" for s in GAPPY]
    coll = FakeMembers(statuses, seqs=GAPPY, counter=10 ** 6 + 63)
    pages = read_all(coll, {"status": "SUSPENDED"}, 3)
    assert [[e["node"] for e in p["edges"]] for p in pages] == [["m3", "m129", "m304"], ["m1000000"]]
    assert coll.windows[-1][1] == 10 ** 6 + 63


# ---- numbers in blocks (paging.SeqBlocks) -------------------------------------------

class FakeCounters:
    """The counters collection: an atomic $inc per call, counted."""

    def __init__(self, value=0):
        self.value, self.writes, self.sessions = value, 0, []
        self._lock = threading.Lock()

    def find_one_and_update(self, query, update, upsert, return_document, session):
        with self._lock:
            self.value += update["$inc"]["value"]
            self.writes += 1
            self.sessions.append(session)
            return {"_id": query["_id"], "value": self.value}


def fake_db(counters, name="t_members"):
    """A database of one counters collection; `with_options` records the
    write concern a block is reserved with."""
    def with_options(write_concern):
        counters.write_concern = write_concern.document
        return db
    db = SimpleNamespace(name=name, counters=counters, with_options=with_options)
    return db


def test_concurrent_takes_get_distinct_numbers_one_counter_write_a_block():
    counters, blocks = FakeCounters(), paging.SeqBlocks()
    taken, lock = [], threading.Lock()

    def take_many():
        for _ in range(50):
            seq = blocks.take(fake_db(counters), "members", 16)
            with lock:
                taken.append(seq)
    runs = [threading.Thread(target=take_many) for _ in range(8)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sorted(taken) == list(range(1, 401))  # one process: no number lost, none twice
    assert counters.writes == 400 // 16 and counters.value == 400
    assert set(counters.sessions) == {None}  # its own write, never in a caller's transaction
    assert counters.write_concern == {"w": "majority"}  # a failover cannot hand it out twice


def test_a_restarted_process_takes_a_new_block_above_every_number_handed_out():
    counters = FakeCounters()
    before = paging.SeqBlocks()
    first = [before.take(fake_db(counters), "members", 64) for _ in range(10)]
    after = paging.SeqBlocks()  # the process restarted: 54 numbers of its block unused
    second = [after.take(fake_db(counters), "members", 64) for _ in range(3)]
    other = paging.SeqBlocks()  # a second instance meanwhile
    third = [other.take(fake_db(counters), "members", 64) for _ in range(2)]
    assert first == list(range(1, 11)) and second == [65, 66, 67] and third == [129, 130]
    assert paging.SeqBlocks().take(fake_db(counters, "other_db"), "members") == 193
    assert counters.value == 256  # the counter bounds every number handed out


def test_the_block_follows_the_counter_moved_by_a_backfill():
    counters = FakeCounters(500)  # backfill_seq numbered 500 documents in its transactions
    assert paging.SeqBlocks().take(fake_db(counters), "members", 8) == 501


def test_an_empty_collection_is_one_empty_page():
    p = paging.page(FakeMembers([]), {}, 5, None, dict, sequenced=True)
    assert p == {"edges": [], "has_next_page": False, "end_cursor": None, "total_count": 0}


class FakeById:
    """Just the find() a page by `_id` sends: `_id` beyond the cursor, sorted, limited."""

    def __init__(self, count):
        self.ids = [f"65f0c0ffee00000000{n:06x}" for n in range(1, count + 1)]
        self.sorts = []

    def find(self, query, projection=None):
        bound = query.get("_id", {})
        found = [i for i in self.ids
                 if ("$gt" not in bound or i > bound["$gt"]) and ("$lt" not in bound or i < bound["$lt"])]

        def sort(key, order):
            self.sorts.append((key, order))
            ordered = sorted(found, reverse=order == -1)
            return SimpleNamespace(limit=lambda n: [{"_id": i} for i in ordered[:n]])
        return SimpleNamespace(sort=sort)

    def count_documents(self, query):
        return len(self.ids)


def read_by_id(coll, first, **options):
    nodes, after = [], None
    while True:
        p = paging.page(coll, {}, first, after, lambda d: d["_id"], **options)
        nodes.append([e["node"] for e in p["edges"]])
        if not p["has_next_page"]:
            return nodes
        after = p["end_cursor"]


def test_pages_by_id_are_oldest_first_unless_asked_newest_first():
    coll = FakeById(7)
    assert read_by_id(coll, 3) == [coll.ids[0:3], coll.ids[3:6], coll.ids[6:]]
    assert set(coll.sorts) == {("_id", 1)}
    coll.sorts.clear()
    newest = list(reversed(coll.ids))
    assert read_by_id(coll, 3, newest_first=True) == [newest[0:3], newest[3:6], newest[6:]]
    assert set(coll.sorts) == {("_id", -1)}


def test_newest_first_is_refused_for_a_sequenced_page():
    with pytest.raises(ValueError):
        paging.page(FakeMembers([]), {}, 5, None, dict, sequenced=True, newest_first=True)


# ---- the gateway asks for a count only when the query selects totalCount ----------

def list_calls(query):
    calls = []

    def call(service, method, *args):
        calls.append((service, args))
        return {"edges": [], "has_next_page": False, "end_cursor": None, "total_count": 0}

    loaders = SimpleNamespace(member=None, grant=None, consultation=None)
    result = schema.execute(query, context_value=SimpleNamespace(call=call, loaders=loaders))
    assert not result.errors, result.errors
    return calls


@pytest.mark.parametrize("query,count", [
    ("{ members { edges { node { id } } } }", False),
    ("{ members { totalCount } }", True),
    ("{ members { n: totalCount pageInfo { hasNextPage } } }", True),
    ("{ members { ... on MemberConnection { totalCount } } }", True),
    ("{ members { ...Total } } fragment Total on MemberConnection { totalCount }", True),
    ("{ members { ...Edges } } fragment Edges on MemberConnection { edges { cursor } }", False),
    ("{ grants(first: 3) { totalCount } }", True),
    ("{ grants(first: 3) { pageInfo { endCursor } } }", False),
    ("{ consultations { totalCount } }", True),
    ("{ consultations { edges { cursor } } }", False),
])
def test_count_is_asked_only_with_total_count(query, count):
    [(service, args)] = list_calls(query)
    assert args[3] is count
