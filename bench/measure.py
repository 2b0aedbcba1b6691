"""The measurements: query latency, concurrent castStance, raw inserts,
a replay of castStance's transaction, the gateway's own CPU per request
(the store's operations per cast: bench/opcount.py)."""
import collections
import threading
import time
import types
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import requests
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from bench.harness import log
from bench.stats import summary
from services.common import outbox
from services.common.events import make_envelope
from services.common.store import KIT_INDEXES, ensure_indexes
from services.consultations import dependencies, domain
from services.consultations.domain import STANCE_COUNTERS

CAST = """mutation($c: ID!, $v: StanceValue!, $r: String) {
  castStance(consultationId: $c, value: $v, reason: $r) { value castAt } }"""
TALLY = """query($id: ID!) { consultation(id: $id) { id status
  tally { eligible responded agree reservations standAside block quorumReached } } }"""
MEMBERS_NESTED = """query($first: Int) { members(first: $first) {
  edges { node { id name allocations { amount grant { title } } } } } }"""


def sample_query(bench, query, variables, samples, warmup=10, token=None, max_s=60, min_samples=20):
    """Sequential latency of one query (one client, keep-alive), plus the
    X-RPC-Calls header of the last response. At most `max_s` seconds once
    `min_samples` are taken."""
    for _ in range(warmup):
        bench.post(query, variables, token)
    latencies, rpc_calls = [], None
    stop_at = time.monotonic() + max_s
    for i in range(samples):
        if i >= min_samples and time.monotonic() > stop_at:
            break
        body, r, elapsed = bench.post(query, variables, token)
        if r.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"query failed: {body}")
        latencies.append(elapsed)
        rpc_calls = r.headers.get("X-RPC-Calls")
    out = summary(latencies)
    out["rpc_calls"] = int(rpc_calls) if rpc_calls and rpc_calls.isdigit() else rpc_calls
    return out


def rpc_calls(bench, query, variables, token=None):
    body, r, _ = bench.post(query, variables, token)
    if body.get("errors"):
        raise RuntimeError(f"query failed: {body}")
    value = r.headers.get("X-RPC-Calls")
    return int(value) if value and value.isdigit() else value


def concurrent_casts(bench, consultation_id, member_ids, clients, window_s, max_casts):
    """castStance through the gateway by `clients` threads (a requests.Session
    each), each stance by a distinct member, for `window_s` or `max_casts`.
    Throughput counts successful casts over the time until every client is done."""
    tokens = [bench.handle.member_token(m) for m in member_ids[:max_casts]]
    it = iter(tokens)
    lock = threading.Lock()
    ok_lat, errors = [], collections.Counter()
    started = time.monotonic()
    stop_at = started + window_s

    def client():
        s = requests.Session()
        while time.monotonic() < stop_at:
            with lock:
                token = next(it, None)
            if token is None:
                return
            try:
                body, r, elapsed = bench.post(CAST, {"c": consultation_id, "v": "AGREE"}, token,
                                              session=s, timeout=60)
            except requests.RequestException as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                continue
            with lock:
                if body.get("errors"):
                    errors[body["errors"][0].get("extensions", {}).get("code", "?")] += 1
                else:
                    ok_lat.append(elapsed)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(window_s + 120)
    elapsed = time.monotonic() - started
    out = {"clients": clients, "window_s": window_s, "elapsed_s": round(elapsed, 2),
           "ok": len(ok_lat), "errors": dict(errors),
           "per_s": round(len(ok_lat) / elapsed, 2) if elapsed else None,
           "latency": summary(ok_lat)}
    log(f"  castStance x{clients} clients: {out['ok']} ok in {elapsed:.1f}s = {out['per_s']}/s, "
        f"errors {dict(errors)}, p50 {out['latency'].get('p50_ms')} ms")
    return out


def store_opcounters(bench):
    """serverStatus.opcounters of the store (every client's operations), or {}."""
    try:
        return dict(bench.handle.mongo().admin.command("serverStatus").get("opcounters") or {})
    except Exception:
        return {}


def opcounters_delta(before, after, per=None):
    out = {k: after.get(k, 0) - before.get(k, 0) for k in after if isinstance(after.get(k), int)}
    if per:
        out = {**out, "per_ok_cast": {k: round(v / per, 2) for k, v in out.items()}}
    return out


def serial_gateway_casts(bench, consultation_id, member_ids):
    """Serial castStance latency, and the store's operations per cast (no
    concurrency, so no conflicts: the baseline of store_opcounters)."""
    latencies = []
    before = store_opcounters(bench)
    for m in member_ids:
        body, r, elapsed = bench.post(CAST, {"c": consultation_id, "v": "AGREE"},
                                      bench.handle.member_token(m))
        if body.get("errors"):
            raise RuntimeError(f"castStance failed: {body}")
        latencies.append(elapsed)
    time.sleep(0.5)  # let the outbox relay mark the events sent
    out = summary(latencies)
    out["store_opcounters"] = opcounters_delta(before, store_opcounters(bench), len(member_ids) or None)
    return out


def stance_doc(i, tag):
    return {"_id": f"{tag}:{i}", "consultation_id": "6650f0c2a1b2c3d4e5f60718", "round": 1,
            "member_id": f"6650f0c2a1b2c3d4{i:08x}", "value": "AGREE", "reason": None,
            "cast_at": datetime.now(timezone.utc)}


def raw_inserts(bench, threads, count, serial_count, max_s=60):
    """Single-document insert_one into the same store (a scratch database of
    this run, dropped at the end): `threads`-way and serial, with pymongo's
    defaults (retryable writes on), and `threads`-way with retryWrites=false."""
    import pymongo
    default = bench.handle.mongo()
    plain = pymongo.MongoClient(bench.handle.mongo_uri, retryWrites=False, tz_aware=True)

    def run(client, n, workers):
        coll = client[f"{bench.handle.prefix}_benchraw"].stances
        coll.insert_one(stance_doc(0, "warm-" + uuid.uuid4().hex[:6]))
        tag = uuid.uuid4().hex[:6]
        stop_at = time.monotonic() + max_s

        def insert(i):
            if time.monotonic() < stop_at:
                coll.insert_one(stance_doc(i, tag))
                return 1
            return 0

        started = time.monotonic()
        if workers == 1:
            done = sum(insert(i) for i in range(n))
        else:
            with ThreadPoolExecutor(workers) as pool:
                done = sum(pool.map(insert, range(n)))
        return round(done / (time.monotonic() - started), 1)

    try:
        out = {"raw_insert_per_s": run(default, count, threads),
               "raw_insert_serial_per_s": run(default, serial_count, 1),
               "raw_insert_per_s_retrywrites_false": run(plain, count, threads),
               "threads": threads, "count": count, "serial_count": serial_count}
    finally:
        plain.close()
    log(f"  raw insert_one: {out['raw_insert_per_s']}/s with {threads} threads, "
        f"{out['raw_insert_serial_per_s']}/s serial, {out['raw_insert_per_s_retrywrites_false']}/s "
        f"with {threads} threads and retryWrites=false")
    return out


TX_STEPS = ["insert_stance", "inc_shard", "insert_outbox", "start+commit"]


def copy_round(src_db, db, consultation_id, cid):
    """The consultation and its current round's shards (with their `eligible`
    arrays and deadline) copied under the id `cid` into `db`; its eligible
    members."""
    src = src_db.consultations.find_one({"_id": consultation_id})
    eligible = dependencies.eligible_of(src_db, consultation_id, src["round"])
    db.consultations.insert_one({**src, "_id": cid})
    counters = {s["_id"].rsplit(":", 1)[1]: s for s in src_db.tally_shards.find(
        {"consultation_id": consultation_id, "round": src["round"]}, dependencies.COUNTERS)}
    shards = dependencies.round_shards(cid, src["round"], eligible, src["closes_at"])
    for shard in shards:  # the source's counts too, so the documents are the same size
        shard.update({k: v for k, v in counters.get(shard["_id"].rsplit(":", 1)[1], {}).items()
                      if k in STANCE_COUNTERS.values()})
    db.tally_shards.insert_many(shards)
    return src, eligible


def replay_cast_transaction(bench, consultation_id, samples=40):
    """The four statements of a member's first own castStance (casting.quick,
    with the service's own functions: the stance's insert with its call's
    name, the shard's conditional $inc that checks eligibility, status,
    deadline and proxies, the outbox insert of the stance_cast envelope;
    then the commit), sent from here (pymongo, serial) against a copy of
    the consultation and its round's shards in the scratch database, with
    the service's indexes: what the store alone costs per stance, by step."""
    client = bench.handle.mongo()
    db = client[f"{bench.handle.prefix}_benchraw"]
    ensure_indexes(db, {**KIT_INDEXES, **dependencies.INDEXES})
    cid = f"replay-{uuid.uuid4().hex[:8]}"
    src, all_eligible = copy_round(bench.db("consultations"), db, consultation_id, cid)
    steps = collections.defaultdict(list)
    totals, refused = [], 0
    for m in all_eligible[-samples:]:
        now = datetime.now(timezone.utc)
        record = domain.new_stance(dependencies.round_key(cid, src["round"], m),
                                   {"_id": cid, "round": src["round"]}, m,
                                   {"value": "AGREE", "reason": None}, now)
        envelope = make_envelope("stance_cast", domain.stance_cast_data(record, False, False),
                                 source="consultations")
        marks = {}

        def work(session):
            tx = types.SimpleNamespace(db=db, session=session)
            t = [time.perf_counter()]
            dependencies.first_stance(tx, record, f"replay-{uuid.uuid4().hex}#1")
            t.append(time.perf_counter())
            counted = dependencies.count_stance(
                tx, record, domain.apply_stance(None, record["value"]), quick_at=now)
            t.append(time.perf_counter())
            outbox.add(db, session, envelope)
            t.append(time.perf_counter())
            marks["t"], marks["counted"] = t, counted

        started = time.perf_counter()
        with client.start_session() as session:
            session.with_transaction(work, read_concern=ReadConcern("snapshot"),
                                     write_concern=WriteConcern("majority"))
        total = time.perf_counter() - started
        t = marks["t"]
        refused += 0 if marks["counted"] else 1
        for i, name in enumerate(TX_STEPS[:-1]):
            steps[name].append(t[i + 1] - t[i])
        steps["start+commit"].append(total - (t[-1] - t[0]))
        totals.append(total)
    for name in ("consultations", "tally_shards", "stances", "outbox"):
        db[name].delete_many({"_id": cid} if name == "consultations" else
                             {"envelope.data.consultation_id": cid} if name == "outbox" else
                             {"consultation_id": cid})
    return {"eligible": len(all_eligible), "total": summary(totals), "refused_by_shard": refused,
            "round_trips": len(TX_STEPS),
            "p50_ms_by_step": {k: summary(steps[k])["p50_ms"] for k in TX_STEPS}}


def gateway_cpu(stance_reply, samples=300):
    """The gateway's own work per castStance, in this process, without HTTP or
    RPC: JWT check, parse + validate (the gateway's cached `prepare`, and
    uncached as before the cache), execute with a canned RPC reply."""
    from services.gateway.in_process import run  # the serving thread's own event loop
    from services.gateway.limits import prepare  # not app: importing it starts a gateway
    from services.gateway.auth import MemberStatuses, issue_token, viewer_from_header
    from services.gateway.loaders import Loaders
    from tests.support import SECRET

    token = "Bearer " + issue_token(SECRET, "MEMBER", "member-x", stance_reply["member_id"])
    variables = {"c": stance_reply["consultation_id"], "v": "AGREE"}

    voter = {"id": stance_reply["member_id"], "status": "ACTIVE", "can_vote": True}

    class Ctx:
        """The gateway's context with canned RPC replies: the stance, and the
        voter's status for the fresh can-vote check (a real MemberStatuses)."""

        def __init__(self, viewer):
            self.viewer, self.rpc_calls = viewer, 0
            self.loaders = Loaders(self)
            self.members = MemberStatuses(self.call, ttl=2)

        def call(self, service, method, *args):
            self.rpc_calls += 1
            return [voter] if method == "get_many" else stance_reply

    times = collections.defaultdict(list)
    for _ in range(samples):
        t0 = time.perf_counter()
        viewer = viewer_from_header(token, SECRET)
        t1 = time.perf_counter()
        assert not prepare.__wrapped__(CAST, 10)[1]
        t2 = time.perf_counter()
        document, errors = prepare(CAST, 10)
        assert not errors
        t3 = time.perf_counter()
        result = run(document, variables, None, Ctx(viewer))
        t4 = time.perf_counter()
        assert not result.errors, result.errors
        times["jwt"].append(t1 - t0)
        times["parse+validate uncached"].append(t2 - t1)
        times["parse+validate cached"].append(t3 - t2)
        times["execute(asyncio.run)"].append(t4 - t3)
        times["total"].append(t4 - t0 - (t2 - t1))
    return {k: summary(v)["p50_ms"] for k, v in times.items()}


def replay_members_page(bench, first=50, samples=20):
    """The store statements behind members(first: 50) { allocations { grant } },
    sent from here: members.list (today: the counter and one seq window; before
    the seq pages: count_documents and a sorted _id page, kept for comparison),
    grants.allocations_by_members, grants.get_many. Median ms of each."""
    mdb = bench.db("members")
    members = mdb.members
    grants = bench.db("grants")
    steps = collections.defaultdict(list)

    def timed(name, fn):
        t = time.perf_counter()
        result = fn()
        steps[name].append(time.perf_counter() - t)
        return result

    for _ in range(samples):
        timed("counters.find_one (today)", lambda: mdb.counters.find_one({"_id": "members"}))
        page = timed(f"members.find(0 < seq <= {first + 1}).sort(seq) (today)", lambda: list(
            members.find({"seq": {"$gt": 0, "$lte": first + 1}}).sort("seq", 1).limit(first + 1)))
        timed("members.count_documents({}) (before)", lambda: members.count_documents({}))
        timed(f"members.find({{}}).sort(_id).limit({first + 1}) (before)",
              lambda: list(members.find({}).sort("_id", 1).limit(first + 1)))
        ids = [d["_id"] for d in page[:first]]
        allocations = timed(f"allocations.find(member_id $in {first})", lambda: list(
            grants.allocations.find({"member_id": {"$in": ids}})))
        timed("grants.find(_id $in)", lambda: list(grants.grants.find(
            {"_id": {"$in": list({a["grant_id"] for a in allocations})}})))
    return {"members": members.estimated_document_count(),
            "p50_ms": {k: summary(v)["p50_ms"] for k, v in steps.items()}}
