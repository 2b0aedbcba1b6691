"""Static checks of the deployment files: docker-compose.yml,
deploy/rabbitmq/coalition.conf, deploy/mongo (the store's key file and users),
.env.example. (deploy/Dockerfile and .dockerignore, the image both compose and
Kubernetes run: tests/unit/test_k8s_image.py; deploy/k8s: test_k8s_*.py.)

Nothing here needs Docker. Commands are checked against the repository's files
without importing the modules they name (the runner monkey-patches with
eventlet on import; the gateway is checked by file only). If a `docker-compose`
(v1) or `docker compose` (v2) client is installed, the compose file is also
validated by it (`config`, which needs no engine).
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common import broker
from services.common import config as settings
from services.common.vocabulary import SERVICES
from tests.helpers.deploy import (
    COMPOSE, DOCKERFILE, DOCKERIGNORE, ENV_EXAMPLE, INFRA, MONGO_DIR, ONE_SHOT, OPTIONAL,
    RABBITMQ_CONF, ROOT, app_services, command_argv, compose_client, dockerfile_instructions,
    env_example, environment, image_services, literal_of, load_compose, load_script,
    module_file, mounts, password_ref, services, top_level_names)

APPS = {*SERVICES, "gateway"}
RUNNER_MODULE = "services.common.runner"
# settings only one container gets (they may hold a secret): setting -> container
OWN_SETTINGS = {"SMTP_URL": "notifications"}
# settings compose fixes for every process, not passed on from .env as they are
FIXED = {"COALITION_ENV": "production", "QUEUE_TYPE": "${QUEUE_TYPE:-quorum}",
         "MONGO_DB_PREFIX": "${MONGO_DB_PREFIX:-coalition}"}
MONGO_USERS = load_script(MONGO_DIR / "users.py")


# --- docker-compose.yml ------------------------------------------------------

def test_compose_has_the_expected_services():
    assert set(services()) == INFRA | ONE_SHOT | OPTIONAL | APPS
    assert set(app_services()) == APPS and {"notifications", "accounts"} <= APPS
    # sign-in's service hands codes to notifications: it never gets the SMTP password
    assert "SMTP_URL" not in environment(services()["accounts"])


def test_every_runner_service_is_deployed_and_every_runner_command_is_valid():
    known = literal_of(module_file(RUNNER_MODULE), "SERVICES")
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


def test_app_services_environment():
    for name, svc in image_services().items():
        env_file = svc.get("env_file")
        env_files = [env_file] if isinstance(env_file, str) else list(env_file or [])
        assert ".env" not in env_files, \
            f"{name}: .env holds every process's password: it must be no container's env_file"
    for name in APPS | {"cli"}:
        env = environment(services()[name])
        for setting, value in FIXED.items():
            assert env.get(setting) == value, (name, setting, env.get(setting))
        assert password_ref("COALITION_JWT_SECRET").match(env.get("COALITION_JWT_SECRET", "")), \
            f"{name}: compose must demand the JWT secret"
        # its own broker user, with its own password, and no one else's
        variable = broker.password_variable(name)
        user, _, rest = env.get("AMQP_URI", "").removeprefix("amqp://").partition(":")
        password, _, address = rest.rpartition("@")
        assert user == name and address == "rabbitmq:5672/", f"{name}: {env.get('AMQP_URI')}"
        assert password_ref(variable).match(password), f"{name}: password from ${{{variable}}}"
        others = {broker.password_variable(p) for p in broker.PROCESSES} - {variable}
        others |= {broker.ADMIN_PASSWORD_VARIABLE, "MONGO_ROOT_PASSWORD"}
        others |= {MONGO_USERS.password_variable(p) for p in APPS} - {MONGO_USERS.password_variable(name)}
        assert not any(o in str(v) for o in others for v in env.values()), name
    gateway = services()["gateway"]
    assert environment(gateway).get("GATEWAY_BIND") == "0.0.0.0:8000"
    assert gateway.get("ports") == ["127.0.0.1:8000:8000"], "publish the gateway on loopback only"
    assert "/healthz" in " ".join(map(str, gateway["healthcheck"]["test"]))


def test_every_app_container_opens_the_store_as_its_own_user():
    """MONGO_URI names the container's own user, whose password only it and
    mongo-init get; the CLI, which talks RPC only, has no MONGO_URI at all."""
    for name in APPS:
        uri = environment(services()[name])["MONGO_URI"]
        user, _, rest = uri.removeprefix("mongodb://").partition(":")
        password, _, address = rest.rpartition("@")
        assert user == name, f"{name}: {uri}"
        assert password_ref(MONGO_USERS.password_variable(name)).match(password), uri
        assert address == "mongo:27017/?replicaSet=rs0&authSource=admin", uri
    assert "MONGO_URI" not in environment(services()["cli"])
    assert "MONGO_URI" not in load_compose()["x-settings"]
    # the administrator's URI (queue migration) only from the operator's shell, only to the CLI
    assert environment(services()["cli"])["AMQP_ADMIN_URI"] == "${AMQP_ADMIN_URI:-}"
    assert [n for n, svc in services().items() if "AMQP_ADMIN_URI" in environment(svc)] == ["cli"]
    assert "AMQP_ADMIN_URI" not in env_example()
    for path in (ROOT / "services").glob("cli*.py"):  # the commands: none opens the store
        assert not re.search(r"pymongo|make_client|MONGO_URI", path.read_text()), path.name
    assert set(services()["cli"]["depends_on"]) == {"rabbitmq"}


def test_every_setting_reaches_every_process():
    """.env is no env_file, so each setting is passed on by name: an unset one is
    empty, which the processes read as unset (their default)."""
    fixed = {*FIXED, "MONGO_URI", "AMQP_URI", "COALITION_JWT_SECRET"}
    for name in APPS | {"cli"}:
        env = environment(services()[name])
        for setting in settings.SettingsSchema().fields:
            if OWN_SETTINGS.get(setting, name) != name:
                continue  # test_a_setting_that_may_hold_a_secret_reaches_only_its_container
            if name == "cli" and setting == "MONGO_URI":
                continue  # test_every_app_container_opens_the_store_as_its_own_user
            assert setting in env, f"{name}: setting {setting} is not passed on"
            if setting not in fixed | set(OWN_SETTINGS):
                assert env[setting] == f"${{{setting}:-}}", (name, setting, env[setting])


def test_queues_are_quorum_queues_unless_env_says_classic():
    """QUEUE_TYPE defaults to quorum; .env may say classic only until the
    migration (the processes refuse a broker holding the other type)."""
    assert load_compose()["x-settings"]["QUEUE_TYPE"] == "${QUEUE_TYPE:-quorum}"
    assert settings.load({"COALITION_JWT_SECRET": "s" * 40})["QUEUE_TYPE"] == "quorum"
    assert "QUEUE_TYPE" not in env_example(), ".env.example must leave the default: quorum"
    assert "# QUEUE_TYPE=classic" in ENV_EXAMPLE.read_text()


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


def test_mongo_runs_a_keyfile_replica_set_with_a_root_user_from_env():
    mongo = services()["mongo"]
    assert mongo["image"].startswith("mongo:7.0")
    argv = command_argv(mongo)
    assert argv[0] == "mongod" and "--bind_ip_all" in argv
    replset = argv[argv.index("--replSet") + 1]  # transactions need a replica set
    assert replset == MONGO_USERS.REPLICA_SET
    for name, svc in app_services().items():
        assert f"replicaSet={replset}" in environment(svc)["MONGO_URI"], name
    key = Path(argv[argv.index("--keyFile") + 1])
    volumes = mounts(mongo)
    assert volumes[str(key.parent)] in load_compose()["volumes"], "keep the key with the data"
    assert volumes["/data/db"] in load_compose()["volumes"]
    # the entrypoint that makes the key is ours, mounted read-only, and hands over to the image's
    entry = mongo["entrypoint"]
    assert entry[0] == "sh" and mounts(mongo)[entry[1]] == "./deploy/mongo/keyfile-entrypoint.sh"
    assert f":{entry[1]}:ro" in " ".join(map(str, mongo["volumes"]))
    assert f'"${{COALITION_KEY_FILE:-{key}}}"' in (MONGO_DIR / "keyfile-entrypoint.sh").read_text()
    env = environment(mongo)
    assert env["MONGO_INITDB_ROOT_USERNAME"] == MONGO_USERS.ROOT_USER
    assert password_ref("MONGO_ROOT_PASSWORD").match(env["MONGO_INITDB_ROOT_PASSWORD"])
    assert "ping" in " ".join(mongo["healthcheck"]["test"]), "healthy = mongod answers"


def test_mongo_init_makes_one_user_per_process_that_opens_the_store():
    init = services()["mongo-init"]
    assert command_argv(init) == ["python", "/coalition/mongo_users.py"]
    assert mounts(init)["/coalition/mongo_users.py"] == "./deploy/mongo/users.py"
    assert init["depends_on"] == {"mongo": {"condition": "service_healthy"}}
    for name, svc in app_services().items():
        assert svc["depends_on"]["mongo-init"] == {"condition": "service_completed_successfully"}
    assert set(MONGO_USERS.STORE_USERS) == APPS == {
        name for name, svc in services().items() if "MONGO_URI" in environment(svc)}
    env = environment(init)
    passwords = {MONGO_USERS.password_variable(p) for p in APPS} | {"MONGO_ROOT_PASSWORD"}
    assert set(env) == passwords | {"MONGO_DB_PREFIX"}, "the root password and the users', only"
    assert all(password_ref(variable).match(env[variable]) for variable in passwords)
    assert env["MONGO_DB_PREFIX"] == FIXED["MONGO_DB_PREFIX"]


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
    store_passwords = {MONGO_USERS.password_variable(p) for p in APPS} | {"MONGO_ROOT_PASSWORD"}
    assert {"COALITION_JWT_SECRET"} | passwords | store_passwords <= set(values)
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
    good = {v: "a" * 48 for v in store_passwords}
    for variable in sorted(store_passwords - {"MONGO_ROOT_PASSWORD"}):
        with pytest.raises(MONGO_USERS.SetupError, match=variable):
            MONGO_USERS.plan({**good, variable: values[variable]})
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


# --- optional: a real compose client validates the file -------------------------

def test_compose_client_accepts_the_file(tmp_path):
    client = compose_client()
    if client is None:
        pytest.skip("no docker-compose / docker compose client installed")
    # A copy, so that no .env is ever written into the work tree.
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    (tmp_path / "deploy").mkdir()
    shutil.copy(DOCKERFILE, tmp_path / "deploy" / "Dockerfile")
    result = subprocess.run(client + ["-f", "docker-compose.yml", "config"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # as the client resolves it: quorum queues, each process its own store user
    resolved = yaml.safe_load(result.stdout)["services"]
    for name in APPS:
        env = environment(resolved[name])
        assert env["QUEUE_TYPE"] == "quorum" and env["MONGO_DB_PREFIX"] == "coalition", name
        assert env["MONGO_URI"].startswith(f"mongodb://{name}:CHANGE_ME@mongo:27017/"), name
    assert "MONGO_URI" not in environment(resolved["cli"])
