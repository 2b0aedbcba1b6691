"""The deployment files as the tests read them: docker-compose.yml's
services and their commands, deploy/Dockerfile's instructions. Nothing here
needs Docker."""
import re
import shlex

import yaml

from tests.support import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

INFRA = {"rabbitmq", "mongo"}
# run on demand, not kept running: the broker's definitions (once per `up`)
# and the operator's CLI (`docker compose run --rm cli coalition ...`)
ONE_SHOT = {"rabbitmq-definitions", "cli"}
# started only with their profile, from images not ours: the mail catcher
# (`docker compose --profile mail up -d`)
OPTIONAL = {"mailpit"}


def load_compose():
    with COMPOSE.open() as fh:
        return yaml.safe_load(fh)  # safe_load resolves the `<<: *anchor` merge keys


def services():
    return load_compose()["services"]


def app_services():
    """The long-running processes of the application: the services and the gateway."""
    return {name: svc for name, svc in services().items()
            if name not in INFRA | ONE_SHOT | OPTIONAL}


def command_argv(svc):
    command = svc.get("command")
    assert command, "an app service must set its command (the image's CMD is only usage)"
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out
