"""The process in which tests/service runs the real services: one nameko
ServiceContainer per service named on the command line, started with the
settings of the environment (a vhost and databases of the test module's
own: see tests/service/host.py), and every call made through nameko's
`entrypoint_hook`, straight into the container, never over the broker.

    python -m tests.service.host_process members consultations

Why a process of its own: nameko runs on eventlet, which must monkey-patch
the standard library before anything else is imported (as
services/common/runner.py does for every service). The pytest process is
not patched, and must not be: pyproject disables nameko's pytest plugin,
which would patch it, because the other tests run real threads,
subprocesses and HTTP clients. So the containers run here, patched, exactly
as in production, and the tests talk to this process over a pipe.

The protocol: one JSON line on stdin per call, one JSON line back.

    {"service": "members", "entrypoint": "sign_mou", "args": [...], "kwargs": {...},
     "context_data": {...}}
    {"service": "grants", "event": ["members", "member_registered"], "args": [envelope]}

The second calls every event handler of the service that consumes that
event (whatever its method is named), one after the other. The answer is
{"result": ...} (for an event, the list of the handlers' results), or
{"error": ...}, the exception as nameko serialises it for an RPC caller.
The first line is {"ready": true} once every container has started; end of
input stops the containers and the process.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402  (must precede every other import)

import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from eventlet import tpool  # noqa: E402
from kombu.utils import json  # noqa: E402  (the encoding nameko's RPC answers travel in)
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.events import EventHandler  # noqa: E402
from nameko.exceptions import serialize  # noqa: E402
from nameko.testing.services import entrypoint_hook  # noqa: E402

from services.common import config as settings_module  # noqa: E402
from services.common.runner import service_class  # noqa: E402


def start_containers(names):
    """{service name: its started ServiceContainer}."""
    config = settings_module.nameko_config(settings_module.load())
    containers = {}
    for name in names:
        containers[name] = ServiceContainer(service_class(name), config)
        containers[name].start()
    return containers


def handlers_of(container, source_service, event_type):
    """The method names of the container's handlers of one event."""
    return [entrypoint.method_name for entrypoint in container.entrypoints
            if isinstance(entrypoint, EventHandler)
            and (entrypoint.source_service, entrypoint.event_type) == (source_service, event_type)]


def call(container, method_name, args, kwargs=None, context_data=None):
    with entrypoint_hook(container, method_name, context_data=context_data) as hook:
        return hook(*args, **(kwargs or {}))


def answer(containers, request):
    """What the test asked for, run in its container."""
    container = containers[request["service"]]
    if "event" in request:
        methods = handlers_of(container, *request["event"])
        assert methods, f"{request['service']} handles no {request['event']}"
        return [call(container, method, request["args"]) for method in methods]
    return call(container, request["entrypoint"], request["args"], request.get("kwargs"),
                request.get("context_data"))


def serve(containers, replies):
    """Answer each line of stdin until it ends. stdin is read in a real
    thread (tpool), so the containers keep running while no call comes."""
    while True:
        line = tpool.execute(sys.stdin.readline)
        if not line:
            return
        try:
            reply = {"result": answer(containers, json.loads(line))}
        except Exception as exc:
            reply = {"error": serialize(exc)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main(names):
    # the answers get stdout to themselves; anything printed goes to the log
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kombu").setLevel(logging.WARNING)
    containers = start_containers(names)
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    try:
        serve(containers, replies)
    finally:
        for container in containers.values():
            container.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
