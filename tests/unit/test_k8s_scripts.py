"""The scripts of deploy/: the store's users and key file of compose
(deploy/mongo), the Secrets of Kubernetes (deploy/k8s/make_secrets.py) and
the services' exec probe (deploy/k8s/base/probe/connected.py). Each runs here
for real, against stand-ins for MongoDB, kubectl and the container's
entrypoint, or, for the probe, against this machine's own sockets."""
import base64
import json
import os
import re
import socket
import stat
import subprocess
import sys

import pytest

from services.common import broker
from services.common.vocabulary import SERVICES
from tests.helpers.deploy import (
    K8S, MONGO_DIR, every_rendering, load_script, of_kind, pod_spec)

APPS = {*SERVICES, "gateway"}
MONGO_USERS = load_script(MONGO_DIR / "users.py")
KEYFILE_ENTRYPOINT = MONGO_DIR / "keyfile-entrypoint.sh"
MAKE_SECRETS = load_script(K8S / "make_secrets.py")
PROBE = K8S / "base" / "probe" / "connected.py"
SMTP_URL = "smtp://mailer:s3cret-mail-password@smtp.example.org:587?starttls=true"


# --- deploy/mongo: compose's store users and key file ---------------------------------

def test_each_store_user_may_read_and_write_its_own_database_only():
    environ = {MONGO_USERS.password_variable(p): f"{p}-" + "p" * 40 for p in APPS}
    users = MONGO_USERS.plan({**environ, "MONGO_DB_PREFIX": "coal"})
    assert [u["user"] for u in users] == list(MONGO_USERS.STORE_USERS)
    for user in users:
        assert user["roles"] == [{"role": "readWrite", "db": f"coal_{user['user']}"}]
        assert user["pwd"] == environ[MONGO_USERS.password_variable(user["user"])]
    assert MONGO_USERS.plan(environ)[0]["roles"][0]["db"] == "coalition_members"  # the default
    for bad in ("CHANGE_ME", "short", "x" * 40 + "CHANGE_ME"):
        with pytest.raises(MONGO_USERS.SetupError, match="MONGO_GRANTS_PASSWORD"):
            MONGO_USERS.plan({**environ, "MONGO_GRANTS_PASSWORD": bad})
    with pytest.raises(MONGO_USERS.SetupError, match="MONGO_DB_PREFIX"):
        MONGO_USERS.plan({**environ, "MONGO_DB_PREFIX": "a-b"})


class FakeAdmin:
    """admin.command of a store: a replica set not yet initiated, no users,
    primary after `primary_after` hellos."""

    def __init__(self, primary_after=2, users=()):
        self.calls, self.initiated, self.users = [], False, set(users)
        self.primary_after = primary_after

    def command(self, name, value=None, **fields):
        from pymongo.errors import OperationFailure
        self.calls.append((name, value, fields))
        if name == "replSetGetStatus" and not self.initiated:
            raise OperationFailure("no replset config", code=94)
        if name == "replSetInitiate":
            self.initiated = True
        if name == "hello":
            self.primary_after -= 1
            return {"isWritablePrimary": self.primary_after <= 0}
        if name == "usersInfo":
            return {"users": [{"user": value}] if value in self.users else []}
        if name == "createUser":
            self.users.add(value)
        return {"ok": 1}


def test_mongo_init_initiates_once_waits_for_a_primary_and_sets_every_user():
    environ = {MONGO_USERS.password_variable(p): "p" * 40 for p in APPS}
    environ["MONGO_ROOT_PASSWORD"] = "r" * 40
    admin, lines = FakeAdmin(users={"members"}), []
    client = type("Client", (), {"admin": admin})()
    MONGO_USERS.run(environ, client, out=lines.append)
    names = [c[0] for c in admin.calls]
    assert names[:2] == ["replSetGetStatus", "replSetInitiate"]
    assert admin.calls[1][1] == {"_id": "rs0", "members": [{"_id": 0, "host": "mongo:27017"}]}
    assert names.count("hello") == 2 and names.index("hello") < names.index("usersInfo")
    assert [c[1] for c in admin.calls if c[0] == "updateUser"] == ["members"]
    assert sorted(c[1] for c in admin.calls if c[0] == "createUser") == sorted(APPS - {"members"})
    assert not any("p" * 40 in line for line in lines), "passwords are never printed"
    MONGO_USERS.run(environ, client, out=lines.append)  # a second `up`: no new initiate
    assert names.count("replSetInitiate") == 1 == [c[0] for c in admin.calls].count("replSetInitiate")
    with pytest.raises(MONGO_USERS.NotReady):
        MONGO_USERS.wait_for_primary(FakeAdmin(primary_after=10**6).command, timeout=0.05,
                                     sleep=lambda s: None)


def run_keyfile_entrypoint(tmp_path, password):
    """keyfile-entrypoint.sh with a stand-in docker-entrypoint.sh that prints its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "docker-entrypoint.sh"
    fake.write_text('#!/bin/sh\necho "handed over: $*"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "COALITION_KEY_FILE": str(tmp_path / "key"),
           "COALITION_KEY_OWNER": f"{os.getuid()}:{os.getgid()}",  # as root: no mongodb user here
           "MONGO_INITDB_ROOT_PASSWORD": password}
    return subprocess.run(["sh", str(KEYFILE_ENTRYPOINT), "mongod", "--replSet", "rs0"],
                          env=env, capture_output=True, text=True, timeout=30)


def test_keyfile_entrypoint_makes_one_key_and_refuses_a_placeholder_root_password(tmp_path):
    refused = run_keyfile_entrypoint(tmp_path, "CHANGE_ME")
    assert refused.returncode == 2 and "MONGO_ROOT_PASSWORD" in refused.stderr
    assert "handed over" not in refused.stdout and not (tmp_path / "key").exists()
    first = run_keyfile_entrypoint(tmp_path, "r" * 40)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "handed over: mongod --replSet rs0"
    key = (tmp_path / "key").read_text()
    assert re.fullmatch(r"[A-Za-z0-9+/=]{1008}", key), "6 to 1024 base64 characters"
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o400
    assert run_keyfile_entrypoint(tmp_path, "r" * 40).returncode == 0
    assert (tmp_path / "key").read_text() == key, "made once, then kept"


# --- deploy/k8s/make_secrets.py -------------------------------------------------------

class FakeKubectl:
    """subprocess.run for kubectl: `get secrets` answers `existing`; `create`
    keeps what it was given on its standard input."""

    def __init__(self, existing=(), stored=()):
        self.calls, self.created, self.applied, self.existing = [], None, None, existing
        self.stored = {s["metadata"]["name"]: s["stringData"] for s in stored}

    def __call__(self, argv, input=None, **kwargs):
        self.calls.append(argv)
        out = ""
        if argv[-4:] == ["get", "secrets", "-o", "name"]:
            out = "".join(f"secret/{name}\n" for name in self.existing)
        elif argv[-5:-3] == ["get", "secret"]:  # as the API answers: base64 values
            out = json.dumps({"data": {k: base64.b64encode(v.encode()).decode()
                                       for k, v in self.stored[argv[-3]].items()}})
        elif "create" in argv:
            self.created = json.loads(input)["items"]
        elif "apply" in argv:
            self.applied = json.loads(input)
        return subprocess.CompletedProcess(argv, 0, stdout=out, stderr="")


def make(capsys, *argv, existing=(), smtp_url=SMTP_URL):
    kubectl = FakeKubectl(existing)
    code = MAKE_SECRETS.main(list(argv), environ={"SMTP_URL": smtp_url}, run=kubectl)
    return code, kubectl, capsys.readouterr()


def referenced_secrets():
    """{(Secret, key)} every manifest reads, and the Secrets the MongoDB
    operator writes itself (the users' connection strings)."""
    wanted, written = set(), set()
    for _, objects in every_rendering():
        for kind in ("Deployment", "Job", "Pod"):
            for obj in of_kind(objects, kind).values():
                for container in pod_spec(obj)["containers"]:
                    for env in container.get("env", []):
                        ref = env.get("valueFrom", {}).get("secretKeyRef")
                        if ref:
                            wanted.add((ref["name"], ref["key"]))
        for mongo in of_kind(objects, "MongoDBCommunity").values():
            for user in mongo["spec"]["users"]:
                wanted.add((user["passwordSecretRef"]["name"], "password"))
                written.add((user["connectionStringSecretName"], "connectionString.standard"))
        for rabbit in of_kind(objects, "RabbitmqCluster").values():
            spec = rabbit["spec"]["override"]["statefulSet"]["spec"]["template"]["spec"]
            wanted |= {(v["secret"]["secretName"], "definitions.json") for v in spec["volumes"]}
    return wanted - written, written


def test_make_secrets_creates_exactly_the_secrets_the_manifests_read(capsys):
    code, kubectl, out = make(capsys, "--namespace", "coalition")
    assert code == 0, out.err
    assert kubectl.calls[-1] == ["kubectl", "-n", "coalition", "create", "-f", "-"]
    created = {(s["metadata"]["name"], key) for s in kubectl.created for key in s["stringData"]}
    wanted, written_by_the_operator = referenced_secrets()
    assert created == wanted, (created ^ wanted)
    assert {name for name, _ in written_by_the_operator} == {
        f"coalition-mongo-{user}-uri" for user in (*APPS, "backup")}
    values = [v for s in kubectl.created for k, v in s["stringData"].items() if k != "SMTP_URL"]
    assert len(set(values)) == len(values), "every password is a new one"
    assert not any(v in out.out + out.err for v in values) and "s3cret" not in out.out


def test_each_process_gets_an_amqp_uri_whose_password_the_broker_definitions_hash(capsys):
    _, kubectl, _ = make(capsys, "--namespace", "ns1")
    data = {s["metadata"]["name"]: s["stringData"] for s in kubectl.created}
    definitions = json.loads(data["coalition-rabbitmq-definitions"]["definitions.json"])
    hashes = {u["name"]: u["password_hash"] for u in definitions["users"]}
    assert set(hashes) == {*broker.PROCESSES, broker.ADMIN_USER}
    assert definitions["policies"], "the quorum queues' delivery limit and dead-lettering"
    uris = {p: data[f"coalition-amqp-{p}"]["AMQP_URI"] for p in broker.PROCESSES}
    uris[broker.ADMIN_USER] = data["coalition-amqp-admin"]["AMQP_ADMIN_URI"]
    for user, uri in uris.items():
        match = re.fullmatch(rf"amqp://{user}:([A-Za-z0-9_-]{{32,}})@coalition-rabbitmq\.ns1\.svc:5672/",
                             uri)
        assert match, uri
        salt = base64.b64decode(hashes[user])[:4]
        assert broker.password_hash(match.group(1), salt) == hashes[user], user


def test_the_definitions_can_be_made_again_from_the_passwords_in_the_cluster(capsys):
    """A release whose permissions or policies changed: same passwords, new definitions."""
    _, first, _ = make(capsys)
    kubectl = FakeKubectl(stored=first.created)
    assert MAKE_SECRETS.main(["--refresh-definitions"], environ={}, run=kubectl) == 0
    assert kubectl.applied["metadata"]["name"] == "coalition-rabbitmq-definitions"
    assert not any("create" in call for call in kubectl.calls), "nothing else is touched"
    definitions = json.loads(kubectl.applied["stringData"]["definitions.json"])
    passwords = {s["metadata"]["name"]: s["stringData"] for s in first.created}
    for user in definitions["users"]:
        name = "admin" if user["name"] == broker.ADMIN_USER else user["name"]
        uri = next(iter(passwords[f"coalition-amqp-{name}"].values()))
        password = uri.split(":")[2].split("@")[0]
        salt = base64.b64decode(user["password_hash"])[:4]
        assert broker.password_hash(password, salt) == user["password_hash"], name
    assert definitions["policies"] and "s3cret" not in capsys.readouterr().out


def test_make_secrets_changes_nothing_when_one_exists_or_smtp_url_is_wrong(capsys):
    code, kubectl, out = make(capsys, existing=["unrelated", "coalition-amqp-grants"])
    assert code == 2 and "coalition-amqp-grants" in out.err and "unrelated" not in out.err
    assert kubectl.created is None, "new passwords for some and not the others lock processes out"
    code, kubectl, out = make(capsys, smtp_url="smtp://mailer:pw@smtp.example.org:notaport")
    assert code == 2 and "SMTP_URL" in out.err and "pw@" not in out.err and not kubectl.calls
    code, kubectl, out = make(capsys, "--dry-run")
    assert code == 0 and not kubectl.calls and "coalition-smtp: SMTP_URL" in out.out


# --- deploy/k8s/base/probe/connected.py ----------------------------------------------

def run_probe(*ports):
    return subprocess.run([sys.executable, str(PROBE), *map(str, ports)], capture_output=True,
                          text=True, timeout=30)


def test_the_probe_reads_established_connections_from_a_proc_net_table():
    probe = load_script(PROBE)
    table = ("  sl  local_address rem_address   st tx_queue rx_queue\n"
             "   0: 0100007F:A8DB 0100007F:1628 01 00000000:00000000\n"    # -> 5672, established
             "   1: 0100007F:A8DC 0100007F:6989 06 00000000:00000000\n"    # -> 27017, TIME_WAIT
             "   2: 00000000:1F40 00000000:0000 0A 00000000:00000000\n")   # listening on 8000
    assert probe.established_remote_ports(table) == {5672}


def test_the_probe_passes_only_while_this_machine_holds_the_connection():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        try:
            assert run_probe(port).returncode == 0
            missing = run_probe(port, 1)  # port 1: nothing connects there
            assert missing.returncode == 1 and "port 1" in missing.stdout
        finally:
            client.close()
            accepted.close()
    assert run_probe(port).returncode == 1, "a closed connection no longer counts"
    assert run_probe().returncode == 2 and run_probe("x").returncode == 2


def test_the_probe_is_what_the_service_pods_run():
    """Readiness needs the broker and the store, liveness the broker only."""
    for where, objects in every_rendering():
        for name, deployment in of_kind(objects, "Deployment").items():
            [container] = pod_spec(deployment)["containers"]
            if name == "gateway":
                continue  # HTTP probes (test_k8s_rules.py)
            assert container["readinessProbe"]["exec"]["command"] == [
                "python", "/probe/connected.py", "5672", "27017"], f"{where}: {name}"
            assert container["livenessProbe"]["exec"]["command"] == [
                "python", "/probe/connected.py", "5672"], f"{where}: {name}"
            assert {"name": "probe", "mountPath": "/probe", "readOnly": True} \
                in container["volumeMounts"]
