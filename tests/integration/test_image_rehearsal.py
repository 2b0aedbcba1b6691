"""deploy/Dockerfile and docker-compose.yml rehearsed without a Docker engine
(none runs on this machine kind, so `docker build` cannot).

The Dockerfile's build stage is executed step by step: its ENV, WORKDIR and
COPY (of what the build context lets through), and its RUN lines in a shell,
every absolute path moved under a temporary root. Then the four processes run
with exactly the commands compose gives them, from the image's empty WORKDIR
with HOME=/nonexistent as in the image, with compose's production environment
(its own RabbitMQ vhost and databases on the test store). A GraphQL client
then uses that stack: this catches a module or package file the installed
(non-editable) project lacks and a command compose names wrongly.

Not rehearsed: the runtime stage's base image and its USER 10001 (the
interpreter here lives under /root, which that user cannot reach);
tests/unit/test_k8s_image.py checks those statically.
"""
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from services.stack import free_port
from tests.helpers.deploy import app_services, command_argv, dockerfile_instructions
from tests.support import ROOT, drop_databases, drop_vhost, make_vhost, vhost_uri, wait_for


def build_stage():
    """The instructions of the first stage (up to the second FROM)."""
    steps, seen_from = [], 0
    for word, args in dockerfile_instructions():
        if word == "FROM":
            seen_from += 1
            if seen_from == 2:
                break
            continue
        steps.append((word, args))
    return steps


class Rehearsal:
    """The build stage's instructions, run under `root` (a folder standing for /)."""

    def __init__(self, root):
        self.root = root
        self.env = {"PATH": os.environ["PATH"], "HOME": str(root / "nonexistent")}
        self.workdir = root

    def path(self, text):
        """The Dockerfile's absolute paths, moved under the root."""
        return re.sub(r"(?<![\w.$/-])/(?=[A-Za-z])", str(self.root) + "/", text)

    def ENV(self, args):
        for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
            value = self.path(value.strip('"'))
            self.env[key] = re.sub(r"\$(\w+)", lambda m: self.env.get(m.group(1), ""), value)

    def WORKDIR(self, args):
        self.workdir = Path(self.path(args))
        self.workdir.mkdir(parents=True, exist_ok=True)

    def COPY(self, args):
        """Docker's rules: a directory's contents go into dest; files into dest/
        (the build context is the repository, .dockerignore's caches left out)."""
        *sources, dest = shlex.split(args)
        target = self.workdir / dest
        for pattern in sources:
            for src in ROOT.glob(pattern):
                if src.is_dir():
                    shutil.copytree(src, target, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))
                else:
                    shutil.copy2(src, target)

    def RUN(self, args):
        done = subprocess.run(["sh", "-ec", self.path(args)], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])


def test_dockerfile_instructions_are_all_rehearsed():
    known = {"ENV", "WORKDIR", "COPY", "RUN"}
    assert {word for word, _ in build_stage()} <= known


@pytest.fixture(scope="module")
def image(stack):
    root = Path(tempfile.mkdtemp(prefix="coalition-image-"))
    try:
        rehearsal = Rehearsal(root)
        for word, args in build_stage():
            getattr(rehearsal, word)(args)
        app = root / "app"  # the runtime stage's WORKDIR: empty
        app.mkdir()
        yield root, rehearsal.env["PATH"].split(":")[0], app
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_image_runs_the_stack_compose_describes(stack, image):
    root, venv_bin, workdir = image
    assert Path(venv_bin, "python").exists(), venv_bin
    vhost = make_vhost()
    if vhost is None:
        pytest.skip("rabbitmqctl is needed for a vhost of the rehearsal's own")
    port = free_port()
    env = {
        "PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": "/nonexistent", "TMPDIR": "/tmp",
        "AMQP_URI": vhost_uri(vhost), "MONGO_URI": stack.mongo_uri,
        "MONGO_DB_PREFIX": "img" + uuid.uuid4().hex[:8], "COALITION_ENV": "production",
        "COALITION_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
    }
    procs, logs = {}, {}
    try:
        for name, svc in app_services().items():
            argv = command_argv(svc)
            extra = {"GATEWAY_BIND": f"127.0.0.1:{port}"} if name == "gateway" else {}
            logs[name] = open(root / f"{name}.log", "wb")
            procs[name] = subprocess.Popen(argv, cwd=workdir, env={**env, **extra},
                                           stdout=logs[name], stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"

        def healthy():
            for name, proc in procs.items():
                assert proc.poll() is None, (name, (root / f"{name}.log").read_text()[-3000:])
            try:
                return requests.get(url + "/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                return False
        wait_for(healthy, 90, 0.5, "the rehearsed stack healthy")

        # GraphiQL and its assets come from the installed package's data files
        page = requests.get(url + "/graphql", headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assets = re.findall(r'src="(/graphql/static/[^"]+)"', page.text)
        assert assets and all(requests.get(url + a, timeout=10).status_code == 200 for a in assets)

        from services.gateway.auth import issue_token
        token = issue_token(env["COALITION_JWT_SECRET"], "ADMIN", "admin-image")
        register = """mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id status } }"""
        member = {"name": f"Image Network {uuid.uuid4().hex[:6]}", "orgType": "REGIONAL_NETWORK",
                  "countries": ["KG"], "constituencies": ["PEOPLE_WHO_USE_DRUGS"],
                  "focalPoint": {"name": "Focal",
                                 "email": f"focal-{uuid.uuid4().hex[:10]}@example.org"}}
        r = requests.post(url + "/graphql", json={"query": register, "variables": {"i": member}},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200 and not r.json().get("errors"), r.text
        created = r.json()["data"]["registerFoundingMember"]
        assert created["status"] == "ACTIVE"
        # the event crossed to the other services of the rehearsed stack
        cdb = stack.mongo()[f"{env['MONGO_DB_PREFIX']}_consultations"]
        gdb = stack.mongo()[f"{env['MONGO_DB_PREFIX']}_grants"]
        wait_for(lambda: cdb.voters.find_one({"_id": created["id"]}) and
                 gdb.members.find_one({"_id": created["id"]}), 30, 0.3, "read models fed")
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for fh in logs.values():
            fh.close()
        drop_databases(stack.mongo(), env["MONGO_DB_PREFIX"])
        drop_vhost(vhost)
