"""Loading realistic data fast: members by RPC from threads (waiting for the
read models), allocations by RPC, stances by RPC (and, beyond a time budget,
straight into the consultations store: see fill_stances_direct)."""
import collections
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from bench import data
from bench.harness import log
from services.consultations import dependencies
from services.consultations.domain import STANCE_COUNTERS


def wait_until(predicate, timeout, interval=0.2, what="condition", progress=None):
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if progress and time.monotonic() - last_note > 10:
            log(progress())
            last_note = time.monotonic()
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {value!r})")


def voters(bench):
    return bench.db("consultations").voters.count_documents({"can_vote": True})


def member_count(bench):
    return bench.db("members").members.count_documents({})


def read_model_count(bench, service):
    """Members in the `members` read model of grants or notifications."""
    return bench.db(service).members.count_documents({})


def load_founders(bench, target_voters, tag, threads=24, timeout=1200):
    """Founding members by RPC until `target_voters` can vote; waits for the
    read models of consultations (voters), grants and notifications (members).
    Returns {registered, register_s, register_per_s, read_models_s, per_s}."""
    have = voters(bench)
    need = max(0, target_voters - have)
    start_index = member_count(bench)
    started = time.monotonic()
    done = [0]
    lock = threading.Lock()

    def register(i):
        bench.rpc().members.register_founding_member(data.member_input(tag, start_index + i))
        with lock:
            done[0] += 1

    log(f"registering {need} founding members by RPC ({threads} threads), {have} voters now")
    if need:
        bench.budget.check(need / 200, "loading members")
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(register, i) for i in range(need)]
            last = time.monotonic()
            for f in futures:
                while True:
                    try:
                        f.result(timeout=5)
                        break
                    except TimeoutError:
                        pass
                    if time.monotonic() - last > 10:
                        last = time.monotonic()
                        log(f"  registered {done[0]}/{need}; voters seen by consultations: {voters(bench)}")
                    if bench.budget.left() < 0:
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise TimeoutError("out of time while registering members")
    registered_s = time.monotonic() - started
    total = member_count(bench)
    wait_until(lambda: voters(bench) >= target_voters
               and read_model_count(bench, "grants") >= total
               and read_model_count(bench, "notifications") >= total,
               min(timeout, max(30, bench.budget.left())), 0.5, f"{target_voters} voters in the read models",
               progress=lambda: f"  read models: consultations {voters(bench)} voters, grants "
                                f"{read_model_count(bench, 'grants')}/{total}, notifications "
                                f"{read_model_count(bench, 'notifications')}/{total} members")
    all_s = time.monotonic() - started
    log(f"  {need} members in {registered_s:.1f}s ({need / registered_s if registered_s else 0:.0f}/s); "
        f"read models caught up after {all_s:.1f}s")
    return {"registered": need, "register_s": round(registered_s, 1),
            "register_per_s": round(need / registered_s, 1) if need and registered_s else None,
            "read_models_caught_up_s": round(all_s, 1),
            "end_to_end_per_s": round(need / all_s, 1) if need and all_s else None}


def first_member_ids(bench, n):
    return [d["_id"] for d in bench.db("members").members.find({}, {"_id": 1}).sort("_id", 1).limit(n)]


def voter_ids(bench):
    return [d["_id"] for d in bench.db("consultations").voters.find({"can_vote": True}, {"_id": 1}).sort("_id", 1)]


def later(days=30):
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


OPEN = """mutation($i: ConsultationInput!) { openConsultation(input: $i) {
  id status tally { eligible responded } } }"""
CLOSE = "mutation($id: ID!) { closeConsultation(id: $id) { id status outcome tally { eligible responded } } }"
CREATE_GRANT = "mutation($i: GrantInput!) { createGrant(input: $i) { id status } }"
ACTIVATE_GRANT = "mutation($id: ID!) { activateGrant(id: $id) { id status } }"


def open_consultation(bench, title):
    return bench.gql(OPEN, {"i": {"title": title, "proposal": f"{title}: adopt the 2026 workplan.",
                                  "closesAt": later(), "rule": "CONSENSUS", "quorum": 0.5}},
                     bench.admin)["openConsultation"]


def create_grant(bench, tag):
    g = bench.gql(CREATE_GRANT, {"i": data.grant_input(tag)}, bench.admin)["createGrant"]
    bench.gql(ACTIVATE_GRANT, {"id": g["id"]}, bench.admin)
    return g["id"]


def propose_allocations(bench, grant_id, member_ids, per_member=1, threads=8):
    """Allocations (PROPOSED, each opening a GRANT_ALLOCATION consultation)."""
    jobs = [(m, k) for m in member_ids for k in range(per_member)]

    def propose(job):
        m, k = job
        return bench.rpc().grants.propose_allocation({
            "grantId": grant_id, "memberId": m, "amount": f"{1500 + 250 * k}.00",
            "purpose": f"Community-led monitoring, phase {k + 1}", "closesAt": None})["id"]

    with ThreadPoolExecutor(threads) as pool:
        ids = list(pool.map(propose, jobs))
    db = bench.db("consultations")
    wait_until(lambda: db.consultations.count_documents(
        {"kind": "GRANT_ALLOCATION", "subject_id": {"$in": ids}}) == len(ids),
        60, 0.2, "allocation consultations opened")
    return ids


def cast_rpc(bench, consultation_id, member_ids, value="AGREE", budget_s=None, latencies=None):
    """Serial RPC casts (serial is the fastest: concurrent casts on one
    consultation conflict on its tally). Returns how many were cast."""
    started = time.monotonic()
    cast = 0
    for m in member_ids:
        if budget_s is not None and time.monotonic() - started > budget_s:
            break
        t = time.perf_counter()
        bench.rpc().consultations.cast_stance({"role": "MEMBER", "member_id": m},
                                              consultation_id, value)
        if latencies is not None:
            latencies.append(time.perf_counter() - t)
        cast += 1
    return cast


def quorum_casts(eligible):
    return math.ceil(0.5 * eligible)


def rpc_queues_idle(bench, timeout=60):
    """Until no RPC request waits in any rpc-* queue of our vhost (late casts
    whose gateway call timed out are still executed by the service)."""
    if not bench.handle.vhost:
        time.sleep(3)
        return True
    return wait_until(lambda: all(v == 0 for q, v in bench.queue_depths().items() if q.startswith("rpc-")),
                      timeout, 1.0, "idle RPC queues")


def stances_of(bench, consultation_id, round_number=1):
    return {d["member_id"] for d in bench.db("consultations").stances.find(
        {"consultation_id": consultation_id, "round": round_number}, {"member_id": 1})}


def fill_stances_direct(bench, consultation_id, member_ids, value="AGREE", batch=1000):
    """Write the stances cast_stance would write (the stance with its
    one-entry `history`, a sent outbox event) straight into the consultations
    store, then set the round's counters from the stances. Only for loading
    the 10,000-stance tally fixture in reasonable time; measured figures
    never include it. Call it only when no cast is in flight (rpc_queues_idle)."""
    db = bench.db("consultations")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    written = 0
    for i in range(0, len(member_ids), batch):
        chunk = member_ids[i:i + batch]
        stances = [dependencies.stance_document({
            "_id": dependencies.round_key(consultation_id, 1, m), "consultation_id": consultation_id,
            "round": 1, "member_id": m, "value": value, "reason": None, "cast_at": now,
            "cast_by": None}) for m in chunk]
        db.stances.insert_many(stances, ordered=False)
        db.outbox.insert_many([{"_id": str(uuid.uuid4()), "event_type": "stance_cast", "status": "sent",
                                "created_at": now, "sent_at": now, "envelope": {
                                    "event_type": "stance_cast", "source": "consultations",
                                    "data": {"consultation_id": consultation_id, "round": 1,
                                             "member_id": s["member_id"], "value": value,
                                             "replaced": False, "cast_by": None}}}
                               for s in stances], ordered=False)
        written += len(chunk)
    # every counter shard recounted from the round's stances (those cast by RPC too)
    shards = collections.defaultdict(collections.Counter)
    for st in db.stances.find({"consultation_id": consultation_id, "round": 1},
                              {"member_id": 1, "value": 1}):
        shards[dependencies.shard_key(consultation_id, 1, st["member_id"])][
            STANCE_COUNTERS[st["value"]]] += 1
    for key, counts in shards.items():
        db.tally_shards.update_one({"_id": key}, {"$set": dict(counts)})
    return written


def load_founders_direct(bench, target_voters, tag, batch=500):
    """Founding members written straight into the three stores, as the
    services would leave them after register_founding_member and its
    member_registered event: the members document (built by the members
    service's own schema and domain code, its `seq` taken from the counter
    in the same transaction), a sent outbox event, the voter in
    consultations' read model, the member in the read models of grants and
    notifications (services/notifications/dependencies.py: {name, status,
    language, revision}, as its on_member_event's apply_newer writes it).
    Seconds instead of minutes for 10,000 members; `--load fast` only."""
    from services.common import paging
    from services.common.events import make_envelope
    from services.common.store import utcnow
    from services.members import domain
    from services.members.schemas import MemberInput
    from services.notifications.domain import language_of

    need = max(0, target_voters - voters(bench))
    start_index = member_count(bench)
    schema = MemberInput()
    started = time.monotonic()
    for i in range(0, need, batch):
        now = utcnow()
        members, events, voter_docs, grant_docs, notification_docs = [], [], [], [], []
        for k in range(i, min(need, i + batch)):
            doc = {"_id": paging.new_id(),
                   **domain.new_member(schema.load(data.member_input(tag, start_index + k)), now, True)}
            members.append(doc)
            env = make_envelope("member_registered", domain.event_data(doc, doc["history"][0]["note"]),
                                source="members")
            events.append({"_id": env["event_id"], "event_type": env["event_type"], "envelope": env,
                           "status": "sent", "created_at": now, "sent_at": now})
            voter_docs.append({"_id": doc["_id"], "name": doc["name"], "status": doc["status"],
                               "can_vote": True, "revision": doc["revision"]})
            grant_docs.append({"_id": doc["_id"], "status": doc["status"], "revision": doc["revision"],
                               "updated_at": now})
            notification_docs.append({"_id": doc["_id"], "name": doc["name"], "status": doc["status"],
                                      "language": str(language_of(doc.get("language"))),
                                      "revision": doc["revision"]})
        store = bench.db("members")

        def write(session):  # one transaction, as register_founding_member's
            last = paging.next_seq(store, "members", session, len(members))
            for seq, doc in enumerate(members, start=last - len(members) + 1):
                doc["seq"] = seq
            store.members.insert_many(members, session=session)
            store.outbox.insert_many(events, session=session)
        with store.client.start_session() as session:
            session.with_transaction(write)
        bench.db("consultations").voters.insert_many(voter_docs)
        bench.db("grants").members.insert_many(grant_docs)
        bench.db("notifications").members.insert_many(notification_docs)
    elapsed = time.monotonic() - started
    log(f"  {need} members written straight into the stores in {elapsed:.1f}s")
    return {"written_direct": need, "s": round(elapsed, 1)}
