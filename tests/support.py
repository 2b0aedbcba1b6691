"""Test support: the real stack (SecantusDB, RabbitMQ vhost, the four
services and the gunicorn gateway under supervisor) on free ports, with a
real SMTP server of its own (tests/helpers/mail.py) that the notifications
service sends to, plus small clients for GraphQL, RPC and the store, and the
members a test builds its coalition from. Helpers by subject are in
tests/helpers/."""
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pymongo
import requests
from nameko.standalone.rpc import ClusterRpcProxy

import services.common.errors  # noqa: F401  (typed errors over RPC)
from services.common import broker as broker_kit
from services.common import config as settings_module
from services.common.vocabulary import SERVICES
from services.gateway.auth import issue_token
from services.stack import Stack, free_port, port_open
from tests.helpers.mail import MailServer

ROOT = Path(__file__).resolve().parents[1]  # the repository
SECRET = "test-secret-" + "x" * 40
RPC_TIMEOUT = 20  # the gateway's, in tests: generous, the machine is shared and small
PUBLIC_URL = "https://coalition.test"  # what links in the tests' mails start with
MAIL_FROM = "Coalition <coalition@coalition.test>"
SECRETARIAT_EMAIL = "secretariat@coalition.test"  # where mail "to the secretariat" goes
# the processes that run with a broker user of their own (the CLI is a client)
STACK_PROCESSES = (*SERVICES, "gateway")


def broker_uri():
    """The broker the tests use: the environment's AMQP_URI, or the local one as guest."""
    return os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def vhost_uri(vhost, broker=None):
    """The URI of `vhost` on `broker` (see StackHandle; or the local one), as its administrator."""
    return f"{(broker.amqp_uri if broker else broker_uri()).rstrip('/')}/{quote(vhost, safe='')}"


def rabbitmqctl(broker, *args):
    """The command line of `rabbitmqctl args...` against `broker`'s node (or the local one)."""
    return ["rabbitmqctl", *(["-n", broker.node] if broker else []), *args]


def make_vhost(broker=None):
    """A vhost of our own, so durable queues never leak between runs; None if the
    local rabbitmqctl is missing or refuses (a given broker's failure is raised)."""
    if broker is None and shutil.which("rabbitmqctl") is None:
        return None
    name = f"coalition-test-{uuid.uuid4().hex[:8]}"
    try:
        for args in (["add_vhost", name], ["set_permissions", "-p", name,
                                           broker.admin if broker else "guest", ".*", ".*", ".*"]):
            subprocess.run(rabbitmqctl(broker, *args), check=True, capture_output=True, timeout=60)
    except (subprocess.SubprocessError, OSError):
        if broker is not None:
            raise
        return None
    return name


def drop_vhost(name, broker=None):
    if name:
        subprocess.run(rabbitmqctl(broker, "delete_vhost", name), capture_output=True, timeout=60)


def make_users(vhost, broker=None):
    """One RabbitMQ user per process (services/common/broker.py) on our vhost,
    with random passwords: {process: (user, password)}, or None without
    rabbitmqctl (a given broker's failure is raised). Users are global, so
    their names carry the vhost's."""
    if not vhost:
        return None
    users = {p: (f"{vhost}-{p}", secrets.token_urlsafe(32)) for p in broker_kit.PROCESSES}
    try:
        broker_kit.provision(vhost, users, amqp_uri=vhost_uri(vhost, broker),
                             node=broker.node if broker else None)
    except broker_kit.ProvisionError:
        drop_users(users, broker)
        if broker is not None:
            raise
        return None
    return users


def drop_users(users, broker=None):
    if users:
        broker_kit.delete_users((name for name, _ in users.values()),
                                node=broker.node if broker else None)


def drop_databases(client, prefix):
    """Drop every database of the store named `<prefix>_<service>`."""
    for name in client.list_database_names():
        if name.startswith(prefix + "_"):
            client.drop_database(name)


def start_store(path, port):
    proc = subprocess.Popen(
        [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", str(path), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if port_open("127.0.0.1", port, 0.2):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("SecantusDB did not start")


class StackHandle:
    """A running stack and the ways tests talk to it."""

    def __init__(self, tmp, extra_env=None, broker=None):
        """`broker`: the RabbitMQ to run on, where the stack gets a vhost and
        users of its own: anything with `amqp_uri` (its administrator's URI),
        `admin` (that user's name) and `node` (for rabbitmqctl -n), such as
        tests/cluster/nodes.Cluster. By default the local one (with AMQP_URI
        set, that URI as it is)."""
        self.broker = broker
        given = broker is not None or not os.environ.get("AMQP_URI")
        self.vhost = make_vhost(broker) if given else None
        self.amqp_uri = vhost_uri(self.vhost, broker) if self.vhost else broker_uri()
        # each process of the stack connects as its own user, as in production;
        # the tests' own clients (rpc(), config) stay the vhost's administrator
        self.users = make_users(self.vhost, broker)
        self.prefix = "t" + uuid.uuid4().hex[:10]
        self.tmp = tmp
        if os.environ.get("MONGO_URI"):
            self.store_port, self.mongo_uri = None, os.environ["MONGO_URI"]
        else:
            self.store_port = free_port()
            self.mongo_uri = f"mongodb://127.0.0.1:{self.store_port}/?directConnection=true"
        self.gateway_port = free_port()
        # the stack's SMTP server: started and stopped with the stack, and
        # switched by the tests (refuse, defer, stop) while it runs
        self.mail = MailServer()
        self.env = {
            "AMQP_URI": self.amqp_uri, "MONGO_URI": self.mongo_uri, "MONGO_DB_PREFIX": self.prefix,
            "COALITION_ENV": "test", "COALITION_JWT_SECRET": SECRET,
            "DEADLINE_CHECK_SECONDS": "0.5", "HANDLER_RETRY_BASE_SECONDS": "0.05",
            "OUTBOX_POLL_SECONDS": "0.2", "RPC_TIMEOUT_SECONDS": str(RPC_TIMEOUT),
            # every test client is 127.0.0.1: the limit itself is tested on a
            # gateway of its own (tests/integration/test_gateway_limits.py)
            "ANONYMOUS_APPLICATIONS_PER_HOUR": "100000", "SIGN_IN_PER_CLIENT_PER_HOUR": "100000",
            # mail: quick timers, so that a test sees a mail (or its retry) in a second
            "SMTP_URL": self.mail.url, "MAIL_FROM": MAIL_FROM, "PUBLIC_URL": PUBLIC_URL,
            "SECRETARIAT_EMAIL": SECRETARIAT_EMAIL,
            "MAIL_SEND_SECONDS": "0.2", "MAIL_RETRY_BASE_SECONDS": "0.2",
            "MAIL_RETRY_MAX_SECONDS": "1", "REMINDER_CHECK_SECONDS": "0.5",
            # 36 s: a round of a minute is reminded about, one of 30 s is not
            "REMINDER_HOURS": "0.01",
            # a sender killed mid-batch: its claimed mails are taken again after
            # 20 s; an SMTP answer may take 2 s (the harness shares the machine)
            "MAIL_LEASE_SECONDS": "20", "MAIL_SMTP_TIMEOUT_SECONDS": "2",
            **(extra_env or {}),
        }
        self.stack = Stack(tmp / "var", self.env, store_port=self.store_port,
                           gateway_bind=f"127.0.0.1:{self.gateway_port}",
                           program_env={p: {"AMQP_URI": self.process_uri(p)}
                                        for p in STACK_PROCESSES if self.users})
        self.url = f"http://127.0.0.1:{self.gateway_port}"
        self.http = requests.Session()
        self._mongo = None

    # ---- lifecycle ----
    def start(self):
        self.mail.start()
        self.stack.start()
        self.stack.wait_healthy(120)
        return self

    def stop(self):
        """Stop it all. Our databases are dropped first when the store is
        not the stack's own (MONGO_URI): an own SecantusDB goes with its
        folder, and dropping into it while the services run can take minutes."""
        try:
            if self.store_port is None:
                drop_databases(self.mongo(), self.prefix)
            self.mongo().close()
        except Exception:
            pass
        self.stack.stop()
        self.mail.stop()
        drop_vhost(self.vhost, self.broker)
        drop_users(self.users, self.broker)

    # ---- per-process broker users ----
    def process_uri(self, process):
        """The AMQP URI `process` (broker.PROCESSES) uses; the shared one when
        the broker has no per-process users (no rabbitmqctl here)."""
        if not self.users:
            return self.amqp_uri
        return broker_kit.process_uri(self.amqp_uri, *self.users[process])

    @property
    def cli_env(self):
        """The settings of the operator's CLI: its own broker user."""
        return {**self.env, "AMQP_URI": self.process_uri("cli")}

    # ---- clients ----
    @property
    def gateway_env(self):
        """The settings the stack's gateway runs with (to start another instance)."""
        return {**self.env, "AMQP_URI": self.process_uri("gateway")}

    @property
    def config(self):
        return settings_module.nameko_config(settings_module.load(self.env))

    def rpc(self, timeout=15, context_data=None):
        return ClusterRpcProxy(self.config, context_data=context_data, timeout=timeout)

    def mongo(self):
        if self._mongo is None:
            self._mongo = pymongo.MongoClient(self.mongo_uri, tz_aware=True,
                                              serverSelectionTimeoutMS=5000)
        return self._mongo

    def db(self, service):
        """The database of `service` (one of vocabulary.SERVICES, or "gateway")."""
        return self.mongo()[f"{self.prefix}_{service}"]

    def mail_queue(self, **query):
        """The notifications service's mail documents matching `query`
        (e.g. recipient=member_id, status="FAILED"), oldest first."""
        return list(self.db("notifications").mails.find(query).sort("created_at", 1))

    def token(self, role="ADMIN", member_id=None, sub=None):
        return issue_token(SECRET, role, sub or f"{role.lower()}-test", member_id)

    def admin(self):
        return self.token("ADMIN")

    def member_token(self, member_id):
        return self.token("MEMBER", member_id, sub=f"member-{member_id}")

    def post(self, query, variables=None, token=None, headers=None):
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        return self.http.post(self.url + "/graphql", json={"query": query, "variables": variables},
                              headers=h, timeout=60)

    def gql(self, query, variables=None, token=None):
        """data of a query that must succeed."""
        r = self.post(query, variables, token)
        body = r.json()
        assert r.status_code == 200 and not body.get("errors"), body
        return body["data"]

    def gql_error(self, query, variables=None, token=None):
        """(code, error) of a query that must be refused."""
        r = self.post(query, variables, token)
        body = r.json()
        assert body.get("errors"), body
        return body["errors"][0]["extensions"]["code"], body["errors"][0]


def refusal(body):
    """(code, message, fields) of the first error of a refused request's body."""
    assert body.get("errors"), body
    error = body["errors"][0]
    assert "Traceback" not in error["message"], error
    return error["extensions"]["code"], error["message"], error["extensions"].get("fields")


def post_raw(url, data, headers=None):
    """POST `data` as it is (bytes, text, chunks) to the GraphQL endpoint of
    the gateway at `url`, as JSON unless `headers` say otherwise."""
    return requests.post(url + "/graphql", data=data,
                         headers={"Content-Type": "application/json", **(headers or {})}, timeout=60)


def start_service(stack, target, log_path, **env):
    """One more service process beside the stack's (`target` as
    `python -m services.common.runner` takes it), with the stack's settings
    and `env`, its output in `log_path`. The caller stops it."""
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "services.common.runner", target],
                                cwd=ROOT, env={**os.environ, **stack.env, **env},
                                stdout=log, stderr=subprocess.STDOUT)


def announced(db, event_type, **data):
    """The envelopes of `event_type` whose data has these values, in the
    outbox of the service database `db`, oldest first."""
    query = {"event_type": event_type, **{f"envelope.data.{k}": v for k, v in data.items()}}
    return [doc["envelope"] for doc in db.outbox.find(query).sort("created_at", 1)]


def wait_for(predicate, timeout=20, interval=0.1, message="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}; last value: {last!r}")


# ---- building a coalition for a test ----------------------------------------------

def member_input(name=None, **overrides):
    """A valid MemberInput: a new name and a new focal-point address each call
    (an address is unique among acting members, DOMAIN.md section 1)."""
    name = f"Network {uuid.uuid4().hex[:8]}" if name is None else name
    data = {"name": name, "acronym": None, "orgType": "REGIONAL_NETWORK", "countries": ["KG"],
            "region": "Central Asia", "constituencies": ["PEOPLE_LIVING_WITH_HIV"],
            "focalPoint": {"name": "Focal Point",
                           "email": f"focal-{uuid.uuid4().hex[:10]}@example.org",
                           "phone": "+996 555 000 000"}}
    data.update(overrides)
    return data


def wait_read_models(stack, member_id, can_vote=None, status=None, timeout=20):
    """Until consultations and grants have heard of the member's latest state."""
    def seen():
        voter = stack.db("consultations").voters.find_one({"_id": member_id})
        grant_side = stack.db("grants").members.find_one({"_id": member_id})
        if not voter or not grant_side:
            return False
        if can_vote is not None and voter["can_vote"] != can_vote:
            return False
        if status is not None and (voter["status"] != status or grant_side["status"] != status):
            return False
        return True
    return wait_for(seen, timeout, 0.1, f"read models of member {member_id}")


def founders(stack, count):
    """`count` new founding members (ACTIVE, MoU signed), known to every read model."""
    made = []
    with stack.rpc() as rpc:
        for _ in range(count):
            made.append(rpc.members.register_founding_member(member_input()))
    for m in made:
        wait_read_models(stack, m["id"], can_vote=True)
    return made


def isolate_voters(stack):
    """Withdraw every member that could vote, so that a test's consultations
    see only the members the test makes (tests share one stack)."""
    with stack.rpc() as rpc:
        for status in ("ACTIVE", "SUSPENDED"):
            while True:
                page = rpc.members.list({"status": status}, 200, None)
                if not page["edges"]:
                    break
                for edge in page["edges"]:
                    rpc.members.withdraw_membership(edge["node"]["id"], "test isolation")
    wait_for(lambda: stack.db("consultations").voters.count_documents({"can_vote": True}) == 0,
             30, 0.2, "no voters left")


@contextmanager
def another_gateway(stack, log_path=None, **env):
    """One more gateway instance (gunicorn, two workers, as in production)
    on the stack's services and store, with its own settings; its output in
    `log_path` (by default a file of its port in the stack's folder). Yields
    its URL."""
    port = free_port()
    environ = {**os.environ, **stack.gateway_env, "GATEWAY_BIND": f"127.0.0.1:{port}",
               "GATEWAY_WORKERS": "2", **env}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = Path(log_path or stack.tmp / f"gateway-{port}.log")
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config",
                                 "python:services.gateway.gunicorn_conf",
                                 "services.gateway.app:application"],
                                cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)

        def alive():
            try:
                return requests.get(url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return proc.poll() is not None  # stop waiting if it died
        try:
            wait_for(alive, 60, 0.2, "the extra gateway")
            assert proc.poll() is None, log_path.read_text()
            yield url
        finally:
            proc.terminate()
            proc.wait(30)
