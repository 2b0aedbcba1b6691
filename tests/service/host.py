"""Services under test, each in a nameko container of its own, in a host
process (tests/service/host_process.py says why a process) on the session
stack's RabbitMQ and store, with a vhost and a database prefix of their own.

Why their own: the stack's service processes consume the same queues
(`rpc-members`, `evt-consultations-round_closed--members.on_round_closed`,
...) on the stack's vhost, so a container there would take the stack's
calls and events from it. On a vhost of its own a hosted container consumes
only what the hosted services publish, and under a prefix of its own it
writes no document the stack's tests read (nor reads theirs: a round's
eligible members are then exactly the members the module made). The calls
themselves never cross the broker: entrypoint_hook runs them in the
container; what the services do there (an RPC from consultations to
members, the outbox relay publishing) uses the real broker.
"""
import os
import queue
import subprocess
import sys
import threading
import uuid

import pytest
from kombu.utils import json
from nameko.exceptions import deserialize

from services.common.store import REQUEST_CONTEXT_KEY
from tests.support import ROOT, drop_databases, drop_vhost, make_vhost, vhost_uri

REPLY_SECONDS = 60  # an entrypoint_hook gives up after 30 s; starting takes a few


class ServiceHost:
    """`with ServiceHost(stack, ["members"], log_path) as host:` the services
    run until the block ends; then their databases and vhost are dropped.
    `env`: settings of their own, over the stack's."""

    def __init__(self, stack, names, log_path, env=None):
        self.stack, self.names, self.log_path = stack, tuple(names), log_path
        self.env = dict(env or {})
        self.prefix = "svc" + uuid.uuid4().hex[:10]
        self.vhost = None
        self.proc = None
        self.replies = queue.Queue()

    def __enter__(self):
        self.vhost = make_vhost()
        if self.vhost is None:
            pytest.skip("a vhost of the services' own needs rabbitmqctl")
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start(self):
        env = {**os.environ, **self.stack.env, **self.env,
               "AMQP_URI": vhost_uri(self.vhost), "MONGO_DB_PREFIX": self.prefix}
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.service.host_process", *self.names], cwd=ROOT,
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        threading.Thread(target=self.read_replies, daemon=True).start()
        self.reply()  # ready

    def read_replies(self):
        for line in self.proc.stdout:
            self.replies.put(line)
        self.replies.put(None)

    def __exit__(self, *exc_info):
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        drop_databases(self.stack.mongo(), self.prefix)
        drop_vhost(self.vhost)

    def send(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def reply(self):
        """The host's answer: its result, or its error raised here as nameko
        raises a remote one (a typed error of services.common.errors as itself)."""
        try:
            line = self.replies.get(timeout=REPLY_SECONDS)
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(f"the service host did not answer; its log ends:\n{self.log_tail()}")
        answer = json.loads(line)
        if "error" in answer:
            raise deserialize(answer["error"])
        return answer.get("result")

    def log_tail(self):
        return self.log_path.read_text(errors="replace")[-4000:]

    def service(self, name):
        assert name in self.names, f"{name} is not hosted here (only {self.names})"
        return HostedService(self, name)


class HostedService:
    """One hosted service, called as a nameko ServiceProxy is:
    `members.sign_mou(member_id)` runs the entrypoint `sign_mou` and returns
    its answer or raises its error. `handle(envelope)` gives an event to each
    of the service's handlers of it; `db` is the service's own database."""

    def __init__(self, host, name, context_data=None):
        self.host, self.name, self.context_data = host, name, context_data

    def __getattr__(self, entrypoint):
        if entrypoint.startswith("_"):
            raise AttributeError(entrypoint)

        def call(*args, **kwargs):
            return self.host.send({"service": self.name, "entrypoint": entrypoint,
                                   "args": list(args), "kwargs": kwargs,
                                   "context_data": self.context_data})
        return call

    def named(self, request):
        """The service as a call named `request` reaches it (the gateway names
        each call it makes, so that a repeated one is done once)."""
        return HostedService(self.host, self.name, {REQUEST_CONTEXT_KEY: request})

    def handle(self, envelope):
        """The results of the service's handlers of the envelope's event."""
        return self.host.send({"service": self.name,
                               "event": [envelope["source"], envelope["event_type"]],
                               "args": [envelope]})

    @property
    def db(self):
        return self.host.stack.mongo()[f"{self.host.prefix}_{self.name}"]
