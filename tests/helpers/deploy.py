"""The deployment files as the tests read them: docker-compose.yml's
services and their commands, deploy/Dockerfile's instructions, .env.example,
and deploy/k8s rendered by kustomize (`kubectl kustomize`). Nothing here
needs Docker or a Kubernetes cluster."""
import ast
import functools
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
RABBITMQ_CONF = ROOT / "deploy" / "rabbitmq" / "coalition.conf"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
MONGO_DIR = ROOT / "deploy" / "mongo"

INFRA = {"rabbitmq", "mongo"}
# run on demand, not kept running: the broker's definitions and the store's
# replica set and users (once per `up`), and the operator's CLI
# (`docker compose run --rm cli coalition ...`)
ONE_SHOT = {"rabbitmq-definitions", "mongo-init", "cli"}
# started only with their profile, from images not ours: the mail catcher
# (`docker compose --profile mail up -d`)
OPTIONAL = {"mailpit"}

K8S = ROOT / "deploy" / "k8s"
# what `kubectl apply -k` is given: the base, and each overlay
KUSTOMIZATIONS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
TOOLS = sorted((K8S / "tools").glob("*.yaml"))  # applied one by one, by hand
KUBECTL_MISSING = ("kubectl is needed to render deploy/k8s (its built-in kustomize): install "
                   "it (on Debian: the `kubectl` package of Kubernetes' apt repository, or the "
                   "binary from the Kubernetes release) and run the tests again")


# --- docker-compose.yml and deploy/Dockerfile ---------------------------------------

def load_compose():
    with COMPOSE.open() as fh:
        return yaml.safe_load(fh)  # safe_load resolves the `<<: *anchor` merge keys


def services():
    return load_compose()["services"]


def app_services():
    """The long-running processes of the application: the services and the gateway."""
    return {name: svc for name, svc in services().items()
            if name not in INFRA | ONE_SHOT | OPTIONAL}


def image_services():
    """Every container of our image: the applications, the CLI, the one-shots."""
    return {name: svc for name, svc in services().items() if name not in INFRA | OPTIONAL}


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def mounts(svc):
    """{container path: host path or volume} of a compose service's volumes."""
    return {str(v).split(":")[1]: str(v).split(":")[0] for v in svc.get("volumes", [])}


def command_argv(svc):
    command = svc.get("command")
    assert command, "an app service must set its command (the image's CMD is only usage)"
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def password_ref(variable):
    """`${VARIABLE:?message}`: compose refuses to start while it is unset."""
    return re.compile(rf"^\$\{{{variable}:\?[^}}]+\}}$")


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


def module_file(dotted):
    """The file a dotted module name resolves to in this repo, or None."""
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def literal_of(path, name):
    """A module's top-level literal assignment, read with ast (importing the
    runner would monkey-patch the test process with eventlet)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} defines no {name} literal")


def top_level_names(path):
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def env_example():
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip().strip("'\"")
    return values


def compose_client():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def load_script(path):
    """A script of deploy/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"deploy_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- deploy/k8s -------------------------------------------------------------------

def kubectl():
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(KUBECTL_MISSING)
    return path


@functools.lru_cache(maxsize=None)
def rendered_text(name):
    """`kubectl kustomize` of a kustomization (offline: it reads files only)."""
    result = subprocess.run([kubectl(), "kustomize", str(KUSTOMIZATIONS[name])],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {name}: {result.stderr}"
    return result.stdout


def rendered(name):
    """The objects a kustomization renders to (fresh copies: tests may change them)."""
    return [doc for doc in yaml.safe_load_all(rendered_text(name)) if doc]


def tool_objects():
    return [doc for path in TOOLS for doc in yaml.safe_load_all(path.read_text()) if doc]


def every_rendering():
    """(where, objects): each kustomization, and the tools."""
    return [*((name, rendered(name)) for name in KUSTOMIZATIONS), ("tools", tool_objects())]


def of_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(obj):
    """The pod spec of a Deployment, Job or Pod."""
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def pod_labels(obj):
    return obj["metadata"]["labels"] if obj["kind"] == "Pod" \
        else obj["spec"]["template"]["metadata"]["labels"]


def selects(selector, labels):
    """Whether a label selector (matchLabels, matchExpressions) matches labels."""
    if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if (operator == "In" and labels.get(key) not in values) \
                or (operator == "NotIn" and present and labels[key] in values) \
                or (operator == "Exists" and not present) \
                or (operator == "DoesNotExist" and present):
            return False
    return True


def checkov():
    """checkov of the tools' venv (`make tools`), beside this venv's python."""
    path = Path(sys.prefix) / "tools" / "bin" / "checkov"
    if not path.exists():
        pytest.fail(f"checkov is not installed at {path}: run `make tools` (it installs "
                    "deploy/k8s/checkov-requirements.txt into a venv of its own)")
    return path
