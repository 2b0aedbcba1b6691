"""The money invariant under concurrency, through the gateway over HTTP:
many clients (threads of this process and of a second OS process) race
proposeAllocation and recordDisbursement while two instances of the grants
service share the RPC load. Never oversubscribed, the successes are exactly
what fits, every refusal is a CONFLICT saying how much is available, and the
grant's counters equal the sums of the stored documents."""
import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.helpers.grants import (
    DISBURSE, PROPOSE, approve, assert_books_balance, cents, create_grant, get_grant)
from tests.support import ROOT, announced, founders, isolate_voters, start_service, wait_for

THREADS = 16
AVAILABLE = re.compile(r"^Only ([0-9]+\.[0-9]{2}) USD of this (grant is available|allocation "
                       r"remains to be disbursed); ([0-9]+\.[0-9]{2}) was asked\.$")

# The other client process: POSTs its jobs from its own threads, starting at
# the same moment as this process's threads, and prints every response body.
CLIENT = r"""
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import requests
spec = json.load(open(sys.argv[1]))
session = requests.Session()
def one(variables):
    r = session.post(spec["url"], json={"query": spec["query"], "variables": variables},
                     headers={"Authorization": "Bearer " + spec["token"]}, timeout=60)
    return {"status": r.status_code, "body": r.json(), "pid": __import__("os").getpid()}
time.sleep(max(0.0, spec["start_at"] - time.time()))
with ThreadPoolExecutor(spec["threads"]) as pool:
    out = list(pool.map(one, spec["jobs"]))
json.dump(out, open(sys.argv[2], "w"))
"""


class SecondGrantsInstance:
    """`python -m services.common.runner grants`, a second instance beside the stack's."""

    def __init__(self, stack, log_path):
        self.stack, self.log_path = stack, log_path
        self.proc = None

    def __enter__(self):
        self.proc = start_service(self.stack, "grants", self.log_path)
        wait_for(lambda: self.proc.poll() is not None or self.rpc_ready(), 30, 0.3,
                 "the second grants instance to consume its RPC queue")
        assert self.proc.poll() is None, self.text()
        return self

    def rpc_ready(self):
        """Two consumers on the grants RPC queue: both instances take calls."""
        vhost = self.stack.vhost
        if not vhost:  # a broker of the environment's: no rabbitmqctl to ask
            time.sleep(3)
            return True
        out = subprocess.run(["rabbitmqctl", "list_queues", "-q", "-p", vhost, "name", "consumers"],
                             capture_output=True, text=True, timeout=60).stdout
        counts = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2)
        return counts.get("rpc-grants") == "2"

    def text(self):
        return Path(self.log_path).read_text()

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def race(stack, tmp, query, variables_list, in_other_process):
    """POST every job at once: the last `in_other_process` from a second OS
    process, the others from THREADS threads here. Bodies in job order."""
    here, there = variables_list[:-in_other_process], variables_list[-in_other_process:]
    token = stack.admin()
    start_at = time.time() + 2.0  # both processes ready by then
    spec, result = tmp / f"spec-{start_at}.json", tmp / f"result-{start_at}.json"
    spec.write_text(json.dumps({"url": stack.url + "/graphql", "query": query, "token": token,
                                "jobs": there, "threads": 8, "start_at": start_at}))
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(spec), str(result)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    local = threading.local()

    def one(variables):  # a session per thread: requests.Session is not thread-safe
        session = getattr(local, "session", None) or setattr(local, "session", requests.Session()) \
            or local.session
        r = session.post(stack.url + "/graphql", json={"query": query, "variables": variables},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)
        return r.json()

    time.sleep(max(0.0, start_at - time.time()))
    with ThreadPoolExecutor(THREADS) as pool:
        bodies = list(pool.map(one, here))
    _, err = client.communicate(timeout=120)
    assert client.returncode == 0, err
    remote = json.loads(result.read_text())
    assert len(remote) == len(there) and {r["pid"] for r in remote} == {client.pid}
    return bodies + [r["body"] for r in remote]


def split(bodies, field):
    ok, refused = [], []
    for body in bodies:
        if body.get("errors"):
            refused.append(body["errors"][0])
        else:
            ok.append(body["data"][field])
    return ok, refused


def check_refusals(refused, kind, available, asked):
    """Every refusal: CONFLICT, with the amount that really is available."""
    for error in refused:
        assert error["extensions"]["code"] == "CONFLICT", error
        found = AVAILABLE.match(error["message"])
        assert found, error["message"]
        assert found.group(2).startswith(kind), error["message"]
        assert (found.group(1), found.group(3)) == (available, asked), error["message"]


def served_by(log_text):
    return len(re.findall(r"allocation \S+ proposed|disbursement \S+ recorded", log_text))


@pytest.fixture(scope="module")
def members(stack):
    isolate_voters(stack)
    return [m["id"] for m in founders(stack, 4)]


def test_concurrent_proposals_and_disbursements_never_oversubscribe(stack, members, tmp_path):
    main_log = stack.stack.var / "logs" / "grants.log"
    main_before = served_by(main_log.read_text())
    with SecondGrantsInstance(stack, tmp_path / "grants-2.log") as second:
        # ---- 50 proposals of 70.00 on 1000.00: 14 fit, 20.00 stays available
        g = create_grant(stack, activate=True, amount="1000", currency="USD")
        jobs = [{"i": {"grantId": g["id"], "memberId": members[i % len(members)], "amount": "70",
                       "purpose": f"Race {i}"}} for i in range(50)]
        ok, refused = split(race(stack, tmp_path, PROPOSE, jobs, in_other_process=15), "proposeAllocation")
        assert len(ok) == 14 and len(refused) == 36, [e["message"] for e in refused][:3]
        assert {a["status"] for a in ok} == {"PROPOSED"} and len({a["id"] for a in ok}) == 14
        check_refusals(refused, "grant", "20.00", "70.00")
        seen = get_grant(stack, g["id"])
        assert (seen["allocated"], seen["available"]) == ("980.00", "20.00")
        assert len(seen["allocations"]) == 14
        stored, allocations, _ = assert_books_balance(stack, g["id"])
        assert stored["allocated_cents"] == 98000 and len(allocations) == 14
        assert len(announced(stack.db("grants"), "allocation_proposed", grant_id=g["id"])) == 14

        # ---- approve them the real way: votes, then close (handled by either instance)
        with ThreadPoolExecutor(7) as pool:
            list(pool.map(lambda a: approve(stack, g["id"], a["id"]), ok))

        # ---- 50 disbursements of 30.00 on 5 allocations of 70.00: 2 fit on each
        targets = [a["id"] for a in ok[:5]]
        jobs = [{"i": {"allocationId": targets[i % 5], "amount": "30", "paidOn": "2026-06-01",
                       "reference": f"race-{i}"}} for i in range(50)]
        paid, refused = split(race(stack, tmp_path, DISBURSE, jobs, in_other_process=15), "recordDisbursement")
        assert len(paid) == 10 and len(refused) == 40, [e["message"] for e in refused][:3]
        check_refusals(refused, "allocation", "10.00", "30.00")
        seen = get_grant(stack, g["id"])
        assert (seen["allocated"], seen["disbursed"], seen["available"]) == \
            ("980.00", "300.00", "20.00")
        for a in seen["allocations"]:
            expected = "60.00" if a["id"] in targets else "0.00"
            assert a["disbursed"] == expected and cents(a["disbursed"]) <= cents(a["amount"]), a
            assert len(a["disbursements"]) == (2 if a["id"] in targets else 0)
        stored, _, disbursements = assert_books_balance(stack, g["id"])
        assert stored["disbursed_cents"] == 30000 and len(disbursements) == 10
        assert len(announced(stack.db("grants"), "disbursement_recorded", grant_id=g["id"])) == 10

        # both instances did part of the work
        assert served_by(second.text()) > 0, second.text()[-2000:]
    assert served_by(main_log.read_text()) > main_before
    assert second.proc.returncode is not None


def test_mixed_amounts_race_leaves_less_than_any_refused_amount(stack, members, tmp_path):
    """With amounts of every size, which ones fit depends on the order; what
    never does: allocated <= amount, and what is left is less than anything
    that was refused (available only goes down in this race)."""
    g = create_grant(stack, amount="5000.00", currency="USD")  # PIPELINE takes proposals too
    amounts = [f"{(i * 37) % 900 + 1}.{i % 100:02d}" for i in range(60)]
    jobs = [{"i": {"grantId": g["id"], "memberId": members[i % len(members)], "amount": amounts[i],
                   "purpose": f"Mixed {i}"}} for i in range(60)]
    bodies = race(stack, tmp_path, PROPOSE, jobs, in_other_process=20)
    ok, refused = split(bodies, "proposeAllocation")
    assert ok and refused
    seen = get_grant(stack, g["id"])
    allocated = sum(cents(a["amount"]) for a in ok)
    assert cents(seen["allocated"]) == allocated <= 500000
    assert cents(seen["available"]) == 500000 - allocated
    refused_amounts = [cents(amounts[i]) for i, b in enumerate(bodies) if b.get("errors")]
    assert cents(seen["available"]) < min(refused_amounts)
    for error in refused:
        assert error["extensions"]["code"] == "CONFLICT", error
        found = AVAILABLE.match(error["message"])
        assert found and cents(found.group(1)) < cents(found.group(3)), error["message"]
        assert cents(found.group(1)) >= cents(seen["available"]), error["message"]
    assert_books_balance(stack, g["id"])
