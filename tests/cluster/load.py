"""The load a failover test puts on a stack, through its gateway as clients
send it: members changing their stances (castStance) from several threads,
allocation sagas run to their end one after another, and a probe (one read
and one write) that measures when the stack serves again after a fault.

Every mutation carries an Idempotency-Key and is sent again with the same
key until it is acknowledged (services/gateway/idempotency.py): a repeat of
work whose answer was lost gets that work back, never a second copy. Each
(consultation, member) pair is written by one thread only, one write after
another, so the last acknowledged value of a pair is the value the store
must hold at the end."""
import threading
import time
import uuid
from collections import Counter
from itertools import cycle

import requests

from services.consultations.dependencies import eligible_many

OP_DEADLINE_SECONDS = 150  # longer than an outage and a reply timed out after it
VALUES = ("AGREE", "RESERVATIONS", "STAND_ASIDE")  # none needs a reason
CAST = """mutation($c: ID!, $v: StanceValue!) { castStance(consultationId: $c, value: $v) {
    value } }"""
PROPOSE = "mutation($i: AllocationInput!) { proposeAllocation(input: $i) { id status } }"
CLOSE = "mutation($id: ID!) { closeConsultation(id: $id) { id outcome } }"
READ = "query($id: ID!) { consultation(id: $id) { id tally { responded } } }"


class Client:
    """Sends GraphQL to the gateway at `url` and counts every answer; a
    mutation is repeated with its key until it is acknowledged."""

    def __init__(self, url):
        self.url = url
        self.answers = Counter()
        self.false_successes = []  # data and errors at once: a success that is not one
        self.lock = threading.Lock()
        self.local = threading.local()

    def post(self, query, variables, token=None, key=None, timeout=60):
        """(body or None, Idempotent-Replay header) of one POST; None if it was cut."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        try:
            r = session.post(self.url + "/graphql", json={"query": query, "variables": variables},
                             headers=headers, timeout=timeout)
            return r.json(), r.headers.get("Idempotent-Replay") == "true"
        except (requests.RequestException, ValueError):
            self.local.session = None
            return None, False

    def send(self, query, variables, token, field, key=None):
        """The data of `field` once the mutation is acknowledged (a new key if none)."""
        key = key or uuid.uuid4().hex
        deadline = time.monotonic() + OP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            body, replay = self.post(query, variables, token, key)
            if body is None:
                self.count("connection refused or cut")
            else:
                errors, data = body.get("errors"), (body.get("data") or {}).get(field)
                if data and not errors:
                    self.count("acknowledged (kept answer)" if replay else "acknowledged")
                    return data
                if data:
                    with self.lock:
                        self.false_successes.append(body)
                self.count(errors[0].get("extensions", {}).get("code") if errors
                           else "NO_ERROR_NO_DATA")
            time.sleep(0.3)
        raise AssertionError(f"not acknowledged in {OP_DEADLINE_SECONDS}s: {field} {variables}")

    def count(self, what):
        with self.lock:
            self.answers[what] += 1


class Worker:
    """A thread that calls `step()` until stop() (the step in progress ends first)."""

    def __init__(self, step):
        self.step = step
        self.stopping = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            while not self.stopping.is_set():
                self.step()
        except BaseException as exc:  # raised again by stop(), in the test's thread
            self.error = exc

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=OP_DEADLINE_SECONDS + 30):
        self.stopping.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("a load thread did not end")
        if self.error:
            raise self.error


class StanceWriters:
    """`threads` threads; each owns a share of `pairs` ((consultation id,
    member id)) and changes their stances in turn, one acknowledged write
    after another. `acknowledged[pair]` is the last value acknowledged,
    `writes[pair]` how many writes were acknowledged."""

    def __init__(self, stack, client, pairs, threads, pause=0.05):
        self.stack, self.client, self.pause = stack, client, pause
        self.acknowledged = {}
        self.writes = Counter()
        self.workers = [Worker(self._writer(pairs[i::threads])) for i in range(threads)]

    def _writer(self, pairs):
        turns = cycle(pairs)
        values = {pair: cycle(VALUES[i % 3:] + VALUES[:i % 3]) for i, pair in enumerate(pairs)}

        def step():
            pair = next(turns)
            value = next(values[pair])
            consultation_id, member_id = pair
            self.client.send(CAST, {"c": consultation_id, "v": value},
                             self.stack.member_token(member_id), "castStance")
            self.acknowledged[pair] = value
            self.writes[pair] += 1
            time.sleep(self.pause)
        return step

    def start(self):
        for w in self.workers:
            w.start()
        return self

    def stop(self):
        for w in self.workers:
            w.stop()
        return sum(self.writes.values())


class Sagas:
    """Allocation sagas, one after another in a thread of their own: propose
    (ADMIN), wait for the GRANT_ALLOCATION consultation, every eligible
    member agrees, ADMIN closes it; grants then approves the allocation by
    itself (on round_closed). `proposed` lists the allocation ids."""

    def __init__(self, stack, client, grant_id, beneficiaries, amount="100.00"):
        self.stack, self.client = stack, client
        self.grant_id, self.amount = grant_id, amount
        self.beneficiaries = cycle(beneficiaries)
        self.proposed = []
        self.worker = Worker(self.one)

    def one(self):
        admin = self.stack.admin()
        allocation = self.client.send(PROPOSE, {"i": {
            "grantId": self.grant_id, "memberId": next(self.beneficiaries),
            "amount": self.amount, "purpose": f"Saga {len(self.proposed) + 1}"}},
            admin, "proposeAllocation")
        self.proposed.append(allocation["id"])
        db = self.stack.db("consultations")
        deadline = time.monotonic() + OP_DEADLINE_SECONDS
        while not (c := db.consultations.find_one({"subject_id": allocation["id"]})):
            assert time.monotonic() < deadline, f"no consultation for {allocation['id']}"
            time.sleep(0.2)
        for member_id in eligible_many(db, [c])[c["_id"]]:
            self.client.send(CAST, {"c": c["_id"], "v": "AGREE"},
                             self.stack.member_token(member_id), "castStance")
        self.client.send(CLOSE, {"id": c["_id"]}, admin, "closeConsultation")

    def start(self):
        self.worker.start()
        return self

    def stop(self):
        self.worker.stop()
        return list(self.proposed)


class Probe:
    """The gateway's readiness (/readyz: every service answers its RPC
    queue), one read (a consultation's tally) and one write (a stance of the
    probe's member, a new key each time), each given one chance."""

    def __init__(self, stack, consultation_id, member_id):
        self.stack = stack
        self.client = Client(stack.url)
        self.consultation_id, self.member_id = consultation_id, member_id
        self.values = cycle(VALUES)

    def ready(self):
        try:
            return requests.get(self.stack.url + "/readyz", timeout=30).status_code == 200
        except requests.RequestException:
            return False

    def __call__(self):
        if not self.ready():
            return False
        body, _ = self.client.post(READ, {"id": self.consultation_id}, timeout=30)
        read = bool(body and not body.get("errors") and body["data"]["consultation"])
        body, _ = self.client.post(CAST, {"c": self.consultation_id, "v": next(self.values)},
                                   self.stack.member_token(self.member_id),
                                   key=uuid.uuid4().hex, timeout=30)
        return read and bool(body and not body.get("errors"))

    def time_to_serve(self, since, bound, stable=5, pause=0.2):
        """Seconds from `since` (time.monotonic() of a fault) until the stack
        was ready and a read and a write both succeeded, counted from the first
        of `stable` probes in a row that did; `serving_s` is None if that did
        not happen within `bound`."""
        first_ok = streak_at = None
        streak = failed = 0
        while time.monotonic() - since < bound:
            ok = self()
            now = time.monotonic()
            if ok:
                first_ok = first_ok or now
                streak_at = streak_at if streak else now
                streak += 1
                if streak >= stable:
                    return {"serving_s": round(streak_at - since, 2),
                            "first_ok_s": round(first_ok - since, 2), "failed_probes": failed}
            else:
                streak, failed = 0, failed + 1
            time.sleep(pause)
        return {"serving_s": None, "first_ok_s": first_ok and round(first_ok - since, 2),
                "failed_probes": failed}
