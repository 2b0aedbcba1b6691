"""A load of stances and saga steps through the gateway while every process
is killed -9 in turn, the broker drops every connection, and the store
restarts. Afterwards: every acknowledged mutation is stored exactly once, no
event is lost or applied twice, every saga reaches its final state, and
tallies equal the stored stances. A report is printed at the end of the run."""
import random
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from services.common.events import SUBSCRIPTIONS
from services.common.vocabulary import SERVICES
from services.consultations.dependencies import eligible_many, tallies
from tests.helpers.consultations import later
from tests.support import founders, member_input, wait_for

pytestmark = pytest.mark.faults

VOTERS, CONSULTATIONS, APPLICATIONS, ALLOCATIONS = 20, 10, 6, 6
OP_DEADLINE_SECONDS = 120
LOAD_SECONDS = 32  # the load is spread over the whole fault sequence (about 25 s)
THREADS = 8

CAST = """mutation($c: ID!, $v: StanceValue!, $r: String) { castStance(consultationId: $c,
          value: $v, reason: $r) { value } }"""
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }"
ALLOCATE = "mutation($i: AllocationInput!) { proposeAllocation(input: $i) { id status } }"
OPEN = "mutation($i: ConsultationInput!) { openConsultation(input: $i) { id } }"


class Client:
    """Sends a mutation until it is acknowledged; records every answer."""

    def __init__(self, stack):
        self.stack = stack
        self.answers = Counter()
        self.false_successes = []
        self.lock = threading.Lock()

    def send(self, query, variables, token, field, key=None):
        """With `key`, every attempt carries the same Idempotency-Key: a
        repeat of work whose answer was lost gets that work back, never a
        second copy (a 409 while the first attempt may still be running is
        waited out)."""
        deadline = time.time() + OP_DEADLINE_SECONDS
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        while time.time() < deadline:
            try:
                r = requests.post(self.stack.url + "/graphql", json={"query": query, "variables": variables},
                                  headers=headers, timeout=30)
                body = r.json()
            except (requests.RequestException, ValueError):
                self._count("connection refused or cut")
                time.sleep(0.5)
                continue
            errors = body.get("errors")
            data = (body.get("data") or {}).get(field)
            if data and not errors:
                self._count("acknowledged" if r.headers.get("Idempotent-Replay") != "true"
                            else "acknowledged (kept answer)")
                return data
            if data and errors:
                with self.lock:
                    self.false_successes.append(body)
            code = errors[0].get("extensions", {}).get("code") if errors else "NO_ERROR_NO_DATA"
            self._count(code)
            time.sleep(0.5)
        raise AssertionError(f"not acknowledged within {OP_DEADLINE_SECONDS}s: {field} {variables}")

    def _count(self, what):
        with self.lock:
            self.answers[what] += 1


def faults(stack, log):
    """kill -9 each process in turn, drop every broker connection, restart the store."""
    time.sleep(2)
    for program in ("members", "consultations", "grants", "gateway"):
        pid = stack.stack.kill9(program)
        log.append(f"kill -9 {program} (pid {pid})")
        time.sleep(4)
    if stack.vhost:
        subprocess.run(["rabbitmqctl", "close_all_connections", "--vhost", stack.vhost,
                        "fault test"], capture_output=True, timeout=60)
        log.append(f"dropped every connection of vhost {stack.vhost}")
        time.sleep(4)
    stack.stack.ctl("restart", "store")
    log.append("restarted the store")


def test_acknowledged_work_survives_every_fault(fault_stack, report):
    stack = fault_stack
    started = time.time()
    rng = random.Random(7)
    voters = [m["id"] for m in founders(stack, VOTERS)]
    admin = stack.admin()
    with stack.rpc() as rpc:
        grant = rpc.grants.create_grant({"title": "Robert Carr Fund 2027", "donor": "RCF",
                                         "currency": "USD", "amount": "1455000.00",
                                         "startDate": "2027-01-01", "endDate": "2029-12-31"})
        rpc.grants.activate_grant(grant["id"])
    consultations = [stack.gql(OPEN, {"i": {"title": f"Decision {i}", "proposal": "p",
                                            "closesAt": later(30 * 24 * 3600)}}, admin)["openConsultation"]["id"]
                     for i in range(CONSULTATIONS)]
    client = Client(stack)
    wanted = {}
    jobs = []
    for cid in consultations:
        for member_id in voters:
            value = rng.choice(["AGREE", "AGREE", "RESERVATIONS", "STAND_ASIDE", "BLOCK"])
            wanted[(cid, member_id)] = value
            jobs.append(("stance", cid, member_id, value))
    names = [f"Applicant {uuid.uuid4().hex[:8]}" for _ in range(APPLICATIONS)]
    jobs += [("apply", name) for name in names]
    beneficiaries = voters[:ALLOCATIONS]
    jobs += [("allocate", member_id) for member_id in beneficiaries]
    rng.shuffle(jobs)
    allocation_ids = {}

    def run(job):
        if job[0] == "stance":
            _, cid, member_id, value = job
            return client.send(CAST, {"c": cid, "v": value, "r": "principle" if value == "BLOCK" else None},
                               stack.member_token(member_id), "castStance")
        if job[0] == "apply":
            return client.send(APPLY, {"i": member_input(name=job[1])}, None, "applyForMembership",
                               key=uuid.uuid4().hex)
        member_id = job[1]
        out = client.send(ALLOCATE, {"i": {"grantId": grant["id"], "memberId": member_id,
                                           "amount": "1000.00", "purpose": f"Work of {member_id}"}},
                          admin, "proposeAllocation", key=uuid.uuid4().hex)
        allocation_ids[member_id] = out["id"]
        return out

    fault_log = []
    fault_thread = threading.Thread(target=faults, args=(stack, fault_log))
    fault_thread.start()

    pace = LOAD_SECONDS * THREADS / len(jobs)

    def paced(job):
        time.sleep(pace * (0.5 + random.random()))
        return run(job)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(paced, jobs))
    fault_thread.join()
    load_seconds = time.time() - started
    stack.stack.wait_healthy(120)

    # ---- the sagas run to their end --------------------------------------------------
    cdb, mdb, gdb = stack.db("consultations"), stack.db("members"), stack.db("grants")
    applicants = {name: mdb.members.find_one({"name": name})["_id"] for name in names}
    subjects = list(applicants.values()) + list(allocation_ids.values())
    wait_for(lambda: cdb.consultations.count_documents({"subject_id": {"$in": subjects}}) >= len(subjects),
             60, 0.3, "every saga's consultation")
    for subject in subjects:
        c = cdb.consultations.find_one({"subject_id": subject})
        for member_id in eligible_many(cdb, [c])[c["_id"]]:
            client.send(CAST, {"c": c["_id"], "v": "AGREE"}, stack.member_token(member_id), "castStance")
        client.send("mutation($id: ID!) { closeConsultation(id: $id) { outcome } }", {"id": c["_id"]},
                    admin, "closeConsultation")
    wait_for(lambda: all(mdb.members.find_one({"_id": m})["status"] == "ACTIVE"
                         for m in applicants.values()), 60, 0.3, "admissions applied")
    wait_for(lambda: all(gdb.allocations.find_one({"_id": a})["status"] == "APPROVED"
                         for a in allocation_ids.values()), 60, 0.3, "allocations approved")

    # ---- quiet: every outbox drained --------------------------------------------------
    dbs = {service: stack.db(service) for service in SERVICES}
    wait_for(lambda: all(db.outbox.count_documents({"status": "pending"}) == 0 for db in dbs.values()),
             60, 0.3, "outboxes drained")
    time.sleep(2)

    # ---- stances: acknowledged == stored, once; tallies == stances -----------------------
    stored = {(s["consultation_id"], s["member_id"]): s["value"]
              for s in cdb.stances.find({"consultation_id": {"$in": consultations}})}
    lost = [k for k in wanted if k not in stored]
    wrong = [k for k, v in wanted.items() if stored.get(k) not in (None, v)]
    per_pair = Counter((s["consultation_id"], s["member_id"])
                       for s in cdb.stances.find({"consultation_id": {"$in": consultations}}))
    duplicated = [k for k, n in per_pair.items() if n > 1]
    tally_mismatch = []
    live = tallies(cdb, list(cdb.consultations.find({"_id": {"$in": consultations}})))
    for cid in consultations:
        counts = Counter(v for (c, _), v in stored.items() if c == cid)
        t = live[cid]
        if (t.responded, t.agree, t.reservations, t.stand_aside, t.block) != (
                sum(counts.values()), counts["AGREE"], counts["RESERVATIONS"], counts["STAND_ASIDE"],
                counts["BLOCK"]):
            tally_mismatch.append(cid)

    # ---- saga steps stored exactly once ----------------------------------------------
    member_copies = {name: mdb.members.count_documents({"name": name}) for name in names}
    admissions = {m: cdb.consultations.count_documents({"subject_id": m}) for m in applicants.values()}
    allocation_copies = {m: gdb.allocations.count_documents({"member_id": m, "grant_id": grant["id"]})
                         for m in beneficiaries}
    allocation_consultations = {a: cdb.consultations.count_documents({"subject_id": a})
                                for a in allocation_ids.values()}
    g = gdb.grants.find_one({"_id": grant["id"]})
    allocated_sum = sum(a["amount_cents"] for a in gdb.allocations.find(
        {"grant_id": grant["id"], "status": {"$in": ["PROPOSED", "APPROVED", "ON_HOLD"]}}))

    # ---- events: every one published and taken by every subscriber, once ---------------
    def not_taken():
        """(events published, [(event type, consumer) of each event a subscriber lacks])."""
        total, lost = 0, []
        for source, db in dbs.items():
            for event in db.outbox.find({}, {"event_type": 1, "status": 1}):
                total += 1
                for (service, method), types in SUBSCRIPTIONS.items():
                    if event["event_type"] in types and not dbs[service].processed_events.find_one(
                            {"_id": f"{service}.{method}:{event['_id']}"}):
                        lost.append((event["event_type"], service, method))
        return total, lost
    try:  # a fan-out of notifications may still be on its way: give it time
        wait_for(lambda: not not_taken()[1], 60, 1.0, "every event taken")
    except AssertionError:
        pass  # reported below
    events_total, events_lost = not_taken()
    dead_letters = sum(db.dead_letters.count_documents({}) for db in dbs.values())

    report.update({
        "faults": fault_log, "load_seconds": round(load_seconds, 1),
        "answers": dict(client.answers),
        "stances": {"acknowledged": len(wanted), "stored": len(stored), "lost": len(lost),
                    "duplicated": len(duplicated), "wrong_value": len(wrong),
                    "tallies_not_equal_to_stances": len(tally_mismatch)},
        "applications": {"acknowledged": len(names), "stored": sum(member_copies.values()),
                         "admission_consultations": sum(admissions.values())},
        "allocations": {"acknowledged": len(allocation_ids), "stored": sum(allocation_copies.values()),
                        "consultations": sum(allocation_consultations.values())},
        "events": {"published": events_total, "lost": len(events_lost), "dead_letters": dead_letters},
        "false_successes": len(client.false_successes),
    })
    assert not lost and not duplicated and not wrong and not tally_mismatch, report
    assert all(n == 1 for n in member_copies.values()), member_copies
    assert all(n == 1 for n in admissions.values()), admissions
    assert all(n == 1 for n in allocation_copies.values()), allocation_copies
    assert all(n == 1 for n in allocation_consultations.values()), allocation_consultations
    assert g["allocated_cents"] == allocated_sum == 1000_00 * ALLOCATIONS
    assert not events_lost, events_lost[:10]
    assert dead_letters == 0
    assert not client.false_successes, client.false_successes[:3]
    assert set(client.answers) <= {"acknowledged", "acknowledged (kept answer)",
                                   "connection refused or cut", "SERVICE_UNAVAILABLE",
                                   "CONFLICT"}, client.answers
