"""Static checks of the deployment files: docker-compose.yml, deploy/Dockerfile,
deploy/rabbitmq/coalition.conf, .env.example, .dockerignore.

Nothing here needs Docker. Commands are checked against the repository's files
without importing the modules they name (the runner monkey-patches with
eventlet on import; the gateway is checked by file only). If a `docker-compose`
(v1) or `docker compose` (v2) client is installed, the compose file is also
validated by it (`config -q`, which needs no engine).
"""
import ast
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common import broker
from services.common import config as settings
from services.common.vocabulary import SERVICES
from tests.helpers.deploy import (
    COMPOSE, DOCKERFILE, INFRA, ONE_SHOT, OPTIONAL, app_services, command_argv,
    dockerfile_instructions, load_compose, services)
from tests.support import ROOT

RABBITMQ_CONF = ROOT / "deploy" / "rabbitmq" / "coalition.conf"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

APPS = {*SERVICES, "gateway"}
RUNNER_MODULE = "services.common.runner"
# settings only one container gets (they may hold a secret): setting -> container
OWN_SETTINGS = {"SMTP_URL": "notifications"}


# --- helpers -----------------------------------------------------------------

def image_services():
    """Every container of our image: the applications, the CLI, the definitions."""
    return {name: svc for name, svc in services().items() if name not in INFRA | OPTIONAL}


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def module_file(dotted):
    """The file a dotted module name resolves to in this repo, or None."""
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runner_services():
    """services.common.runner.SERVICES, read with ast (importing the runner would
    monkey-patch this test process with eventlet)."""
    tree = ast.parse(module_file(RUNNER_MODULE).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SERVICES" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("services/common/runner.py defines no SERVICES literal")


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


# --- docker-compose.yml ------------------------------------------------------

def test_compose_has_the_expected_services():
    assert set(services()) == INFRA | ONE_SHOT | OPTIONAL | APPS
    assert set(app_services()) == APPS and {"notifications", "accounts"} <= APPS
    # sign-in's service hands codes to notifications: it never gets the SMTP password
    assert "SMTP_URL" not in environment(services()["accounts"])


def test_every_runner_service_is_deployed_and_every_runner_command_is_valid():
    known = runner_services()
    assert module_file(RUNNER_MODULE) == ROOT / "services" / "common" / "runner.py"
    started = set()
    for name, svc in app_services().items():
        argv = command_argv(svc)
        if argv[0] == "gunicorn":
            continue
        assert argv[:3] == ["python", "-m", RUNNER_MODULE], f"{name}: {argv}"
        assert len(argv) == 4 and argv[3] in known, f"{name}: {argv[3:]} not in {sorted(known)}"
        started.add(argv[3])
    assert started == set(known), "each service of the runner runs in exactly one container"


def test_gateway_command_names_existing_gunicorn_config_and_app():
    argv = command_argv(services()["gateway"])
    assert argv[0] == "gunicorn"
    assert "--config" in argv, argv
    conf = argv[argv.index("--config") + 1]
    assert conf.startswith("python:"), "gunicorn config must be given as python:<module>"
    assert conf == "python:services.gateway.gunicorn_conf"
    conf_file = module_file(conf.removeprefix("python:"))
    assert conf_file == ROOT / "services" / "gateway" / "gunicorn_conf.py", \
        "services/gateway/gunicorn_conf.py is missing"

    app = argv[-1]
    assert app == "services.gateway.app:application"
    module, _, attr = app.partition(":")
    app_file = module_file(module)
    assert app_file == ROOT / "services" / "gateway" / "app.py", "services/gateway/app.py is missing"
    assert attr in top_level_names(app_file), f"{app_file} defines no top-level {attr!r}"


def test_app_services_share_one_image_build():
    builds = {yaml.safe_dump(svc.get("build"), sort_keys=True) for svc in image_services().values()}
    assert len(builds) == 1
    assert {svc.get("image") for svc in image_services().values()} == {"coalition:local"}
    build = app_services()["members"]["build"]
    assert build["context"] == "."
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE


def test_app_services_wait_for_healthy_infrastructure():
    for name, svc in app_services().items():
        depends = svc.get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on must be a mapping with conditions"
        assert INFRA <= set(depends), f"{name}: must depend on {sorted(INFRA)}"
    for name, svc in services().items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            if dep in ONE_SHOT:  # it runs to its end, successfully, first
                assert (spec or {}).get("condition") == "service_completed_successfully"
                continue
            assert (spec or {}).get("condition") == "service_healthy", f"{name} -> {dep}"
            assert "healthcheck" in services()[dep], f"{dep} has no healthcheck"


def test_every_service_restarts_unless_stopped():
    for name, svc in services().items():
        expected = "no" if name in ONE_SHOT else "unless-stopped"
        assert svc.get("restart") == expected, name
    assert services()["cli"].get("profiles") == ["tools"], "`up` must not start the CLI"


def password_ref(variable):
    return re.compile(rf"^\$\{{{variable}:\?[^}}]+\}}$")


def test_app_services_environment():
    for name, svc in image_services().items():
        env_file = svc.get("env_file")
        env_files = [env_file] if isinstance(env_file, str) else list(env_file or [])
        assert ".env" not in env_files, \
            f"{name}: .env holds every process's password: it must be no container's env_file"
    for name in APPS | {"cli"}:
        env = environment(services()[name])
        assert env.get("COALITION_ENV") == "production", name
        assert env.get("MONGO_URI") == "mongodb://mongo:27017/?replicaSet=rs0", name
        assert password_ref("COALITION_JWT_SECRET").match(env.get("COALITION_JWT_SECRET", "")), \
            f"{name}: compose must demand the JWT secret"
        # its own broker user, with its own password, and no one else's
        variable = broker.password_variable(name)
        user, _, rest = env.get("AMQP_URI", "").removeprefix("amqp://").partition(":")
        password, _, address = rest.rpartition("@")
        assert user == name and address == "rabbitmq:5672/", f"{name}: {env.get('AMQP_URI')}"
        assert password_ref(variable).match(password), f"{name}: password from ${{{variable}}}"
        others = {broker.password_variable(p) for p in broker.PROCESSES} - {variable}
        others.add(broker.ADMIN_PASSWORD_VARIABLE)
        assert not any(o in str(v) for o in others for v in env.values()), name
    gateway = services()["gateway"]
    assert environment(gateway).get("GATEWAY_BIND") == "0.0.0.0:8000"
    assert gateway.get("ports") == ["127.0.0.1:8000:8000"], "publish the gateway on loopback only"
    assert "/healthz" in " ".join(map(str, gateway["healthcheck"]["test"]))


def test_every_setting_reaches_every_process():
    """.env is no env_file, so each setting is passed on by name: an unset one is
    empty, which the processes read as unset (their default)."""
    fixed = {"COALITION_ENV", "MONGO_URI", "AMQP_URI", "COALITION_JWT_SECRET"}
    for name in APPS | {"cli"}:
        env = environment(services()[name])
        for setting in settings.SettingsSchema().fields:
            if OWN_SETTINGS.get(setting, name) != name:
                continue  # test_a_setting_that_may_hold_a_secret_reaches_only_its_container
            assert setting in env, f"{name}: setting {setting} is not passed on"
            if setting not in fixed | set(OWN_SETTINGS):
                assert env[setting] == f"${{{setting}:-}}", (name, setting, env[setting])


def test_a_setting_that_may_hold_a_secret_reaches_only_its_container():
    """SMTP_URL holds the mail provider's password: the notifications
    container gets it, demanded from .env, and no other container does."""
    for setting, owner in OWN_SETTINGS.items():
        assert setting in settings.SettingsSchema().fields
        for name, svc in services().items():
            env = environment(svc)
            if name == owner:
                assert password_ref(setting).match(env.get(setting, "")), (name, env.get(setting))
            else:
                assert setting not in env, f"{name} must not get {setting}"
        assert setting not in load_compose()["x-settings"]


def test_the_mail_profile_runs_a_catcher_the_notifications_service_can_use():
    """`docker compose --profile mail up -d`: Mailpit, pinned, its web page on
    the host's loopback only, never started by a plain `up`, and the SMTP_URL
    that reaches it written where the operator looks."""
    catcher = services()["mailpit"]
    image, _, tag = catcher["image"].partition(":")
    assert image == "axllent/mailpit" and re.match(r"^v\d+\.\d+\.\d+$", tag), catcher["image"]
    assert catcher.get("profiles") == ["mail"]
    assert catcher.get("ports") == ["127.0.0.1:8025:8025"]
    assert not any("mailpit" in (svc.get("depends_on") or {}) for svc in services().values())
    for text in (COMPOSE.read_text(), ENV_EXAMPLE.read_text()):
        assert "SMTP_URL=smtp://mailpit:1025" in text


def test_rabbitmq_users_come_from_the_definitions_of_broker_py():
    rabbit = services()["rabbitmq"]
    assert rabbit["image"].startswith("rabbitmq:3.13")
    env = environment(rabbit)
    assert "RABBITMQ_DEFAULT_USER" not in env and "RABBITMQ_DEFAULT_PASS" not in env, \
        "no administrator for the application: each process has its own user"
    assert not any("PASSWORD" in str(v) for v in env.values())
    assert any(str(v).endswith(":/var/lib/rabbitmq") for v in rabbit.get("volumes", []))
    assert "rabbitmq-diagnostics" in " ".join(map(str, rabbit["healthcheck"]["test"]))
    assert rabbit["depends_on"] == {
        "rabbitmq-definitions": {"condition": "service_completed_successfully"}}

    # the conf file is mounted into conf.d and loads the file the init writes
    volumes = [str(v) for v in rabbit["volumes"]]
    conf_mount = [v for v in volumes if v.startswith("./deploy/rabbitmq/coalition.conf:")]
    assert conf_mount == ["./deploy/rabbitmq/coalition.conf:/etc/rabbitmq/conf.d/90-coalition.conf:ro"]
    conf = dict(line.split(" = ", 1) for line in RABBITMQ_CONF.read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    loaded = conf["load_definitions"]
    init = services()["rabbitmq-definitions"]
    argv = command_argv(init)
    assert argv[:5] == ["python", "-m", "services.common.broker", "definitions", argv[4]]
    written = Path(argv[4])
    [init_volume] = [v for v in init["volumes"] if str(v).endswith(":" + str(written.parent))]
    [rabbit_volume] = [v for v in volumes if v.startswith(init_volume.split(":")[0] + ":")]
    assert rabbit_volume.split(":")[1] == str(Path(loaded).parent) and rabbit_volume.endswith(":ro")
    assert Path(loaded).name == written.name
    assert init_volume.split(":")[0] in load_compose()["volumes"]
    # the image makes that folder its user's, so a new volume is writable
    runs = " ".join(args for word, args in dockerfile_instructions() if word == "RUN")
    assert f"chown 10001:10001 {written.parent}" in runs

    # the init gets every process's password and the administrator's, and nothing else
    variables = {broker.password_variable(p) for p in broker.PROCESSES}
    variables.add(broker.ADMIN_PASSWORD_VARIABLE)
    init_env = environment(init)
    assert set(init_env) == variables
    assert all(password_ref(k).match(v) for k, v in init_env.items())


def test_mongo_runs_a_replica_set_that_the_healthcheck_initiates():
    mongo = services()["mongo"]
    assert mongo["image"].startswith("mongo:7.0")
    command = mongo["command"]
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    assert "--replSet" in argv, "MongoDB transactions need a replica set"
    replset = argv[argv.index("--replSet") + 1]
    assert "--bind_ip_all" in argv
    for name, svc in app_services().items():
        assert f"replicaSet={replset}" in environment(svc)["MONGO_URI"], name
    check = " ".join(map(str, mongo["healthcheck"]["test"]))
    assert "rs.initiate" in check and f"'{replset}'" in check and "mongo:27017" in check
    assert any(str(v).endswith(":/data/db") for v in mongo.get("volumes", []))


def test_compose_holds_no_literal_secret():
    for name, svc in services().items():
        for key, value in environment(svc).items():
            if re.search(r"PASS|SECRET|TOKEN|KEY", key):
                assert str(value).startswith("${"), f"{name}: {key} must come from .env"


# --- secrets -----------------------------------------------------------------

def test_env_example_holds_placeholders_only():
    values = env_example()
    passwords = {broker.password_variable(p) for p in broker.PROCESSES}
    passwords.add(broker.ADMIN_PASSWORD_VARIABLE)
    assert {"COALITION_JWT_SECRET"} | passwords <= set(values)
    for key, value in values.items():
        if re.search(r"PASS|SECRET|TOKEN|KEY", key):
            assert value == "" or "CHANGE_ME" in value, f"{key}={value!r} looks like a real secret"
    assert "secrets.token_urlsafe" in ENV_EXAMPLE.read_text(), "tell how to generate secrets"
    # Copied unchanged, nothing works: no process starts with the secret,
    # whatever COALITION_ENV, and no broker definitions are made of the passwords.
    for environment_name in ("production", "development"):
        with pytest.raises(settings.SettingsError, match="COALITION_JWT_SECRET"):
            settings.load({"COALITION_ENV": environment_name,
                           "COALITION_JWT_SECRET": values["COALITION_JWT_SECRET"]})
    for variable in sorted(passwords):
        good = {v: "a" * 48 for v in passwords}
        with pytest.raises(broker.ProvisionError, match=variable):
            broker.compose_definitions({**good, variable: values[variable]})
    # every variable compose demands is in the example
    demanded = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert demanded <= set(values), demanded - set(values)


def test_no_env_file_is_committed_and_it_is_ignored():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git work tree")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    names = [Path(p).name for p in tracked if p]
    committed_env = [n for n in names
                     if n == ".env" or (n.startswith(".env.") and n != ".env.example")]
    assert committed_env == []
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".gitignore must ignore .env"
    assert ".env" in DOCKERIGNORE.read_text().split(), ".dockerignore must exclude .env"


# --- deploy/Dockerfile and .dockerignore ---------------------------------------

def test_dockerfile_base_images_are_pinned():
    stages = set()
    froms = [args for word, args in dockerfile_instructions() if word == "FROM"]
    assert froms
    for args in froms:
        parts = [p for p in args.split() if not p.startswith("--")]
        image = parts[0]
        if len(parts) >= 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
        if image in stages:
            continue
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"unpinned base image {image}"
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: tag must name a patch version"
    assert froms[0].split()[0] == "python:3.11.7-slim-bookworm"


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for word, args in dockerfile_instructions() if word == "USER"]
    assert users, "the image must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_installs_the_project():
    runs = " ".join(args for word, args in dockerfile_instructions() if word == "RUN")
    assert re.search(r"pip install --no-cache-dir [^&]*\.(\s|$)", runs)


def test_dockerfile_copies_only_existing_files_not_dockerignored():
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for word, args in dockerfile_instructions():
        if word not in {"COPY", "ADD"} or "--from=" in args:
            continue
        sources = [p for p in args.split() if not p.startswith("--")][:-1]
        assert any(list(ROOT.glob(s)) for s in sources), f"{word} {args}: copies nothing"
        for source in sources:
            # a wildcard source (README.md*) may match nothing; a plain one must exist
            if not any(c in source for c in "*?["):
                assert (ROOT / source).exists(), f"{word} {source}: no such file in the repo"
            assert source.rstrip("/") not in ignored, f"{source} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out():
    entries = set(DOCKERIGNORE.read_text().split())
    assert {".venv", "var", ".git", ".env", ".pytest_cache", ".hypothesis"} <= entries


# --- optional: a real compose client validates the file -------------------------

def compose_client():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def test_compose_client_accepts_the_file(tmp_path):
    client = compose_client()
    if client is None:
        pytest.skip("no docker-compose / docker compose client installed")
    # A copy, so that no .env is ever written into the work tree.
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    (tmp_path / "deploy").mkdir()
    shutil.copy(DOCKERFILE, tmp_path / "deploy" / "Dockerfile")
    result = subprocess.run(client + ["-f", "docker-compose.yml", "config", "-q"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
