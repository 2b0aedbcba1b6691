"""Settings reach the supervised processes intact, whatever characters they
hold, and no process starts without a JWT secret (DOMAIN.md section 5);
`make up` runs every service, and a local mail catcher when SMTP_URL is not set.

No broker or store is needed: supervisord runs small programs that report
their environment, and the real service and gateway commands are started
without a secret, as an operator would by mistake."""
import json
import mailbox
import os
import shlex
import smtplib
import subprocess
import sys
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import pytest

from services.common.vocabulary import SERVICES
from services.stack import ROOT, Stack, free_port, port_open
from tests.support import wait_for

# every character supervisord.conf's `environment=` cannot carry or changes:
# `%` (expanded), both quotes (stripped), `,` and `=` (separators), spaces,
# a backslash, comment markers, a newline, and a non-ASCII letter
AWKWARD = "p%(ENV_HOME)s 100% \"dq\" 'sq' a,b=c d\\e ;f #g\nline2 ü"
REPORTED = ["SHARED", "OWN", "COALITION_PROGRAM_ENV_ONE", "COALITION_PROGRAM_ENV_TWO"]


class ReportingStack(Stack):
    """A Stack whose programs write the environment they got to a file."""

    def __init__(self, tmp, env, program_env):
        super().__init__(tmp / "var", env, program_env=program_env)
        self.out = tmp

    def programs(self):
        script = ("import json, os, sys, time; "
                  "open(sys.argv[1] + '.tmp', 'w').write(json.dumps("
                  "{k: os.environ.get(k) for k in sys.argv[2:]})); "
                  "os.replace(sys.argv[1] + '.tmp', sys.argv[1]); time.sleep(120)")
        return {name: shlex.join([self.python, "-c", script, str(self.out / f"{name}.json"),
                                  *REPORTED])
                for name in ("one", "two")}


def reported(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def test_settings_reach_supervised_programs_intact(tmp_path):
    stack = ReportingStack(tmp_path, {"SHARED": AWKWARD},
                           {"one": {"OWN": AWKWARD + " one"}, "two": {"OWN": AWKWARD + " two"}})
    stack.start()
    try:
        got = {name: wait_for(lambda: reported(tmp_path / f"{name}.json"), 60, 0.2,
                              f"program {name} started")
               for name in ("one", "two")}
    finally:
        stack.stop()
    # a shared setting reaches every program, a program's own only it, and
    # no program sees the others' (the launcher removes them all)
    assert got["one"] == {"SHARED": AWKWARD, "OWN": AWKWARD + " one",
                          "COALITION_PROGRAM_ENV_ONE": None, "COALITION_PROGRAM_ENV_TWO": None}
    assert got["two"] == {"SHARED": AWKWARD, "OWN": AWKWARD + " two",
                          "COALITION_PROGRAM_ENV_ONE": None, "COALITION_PROGRAM_ENV_TWO": None}
    # and no setting is written into supervisord.conf
    conf = stack.conf.read_text()
    assert "environment=" not in conf and "dq" not in conf and "line2" not in conf


def one_line_about_the_secret(result):
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert "COALITION_JWT_SECRET" in result.stderr and not result.stdout.strip()


def environ_without_secret(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("COALITION_JWT_SECRET", "COALITION_ENV")}
    return {**env, **{k: v for k, v in extra.items() if v is not None}}


@pytest.mark.parametrize("environment", [None, "development", "test"])
@pytest.mark.parametrize("secret", [None, "", "x" * 31])
def test_a_service_will_not_start_without_a_secret(environment, secret):
    r = subprocess.run([sys.executable, "-m", "services.common.runner", "members"], cwd=ROOT,
                       env=environ_without_secret(COALITION_ENV=environment,
                                                  COALITION_JWT_SECRET=secret),
                       capture_output=True, text=True, timeout=60)
    one_line_about_the_secret(r)


@pytest.mark.parametrize("secret", [None, "short-secret"])
def test_the_gateway_will_not_start_without_a_secret(secret):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    r = subprocess.run([str(gunicorn), "--config", "python:services.gateway.gunicorn_conf",
                        "services.gateway.app:application"], cwd=ROOT,
                       env=environ_without_secret(COALITION_JWT_SECRET=secret,
                                                  GATEWAY_BIND="127.0.0.1:0"),
                       capture_output=True, text=True, timeout=60)
    one_line_about_the_secret(r)


# `make up`'s data folder is pointed at an empty one: never this checkout's ./var
LOCAL = "import services.local as s, pathlib, sys; s.LOCAL_VAR = pathlib.Path(sys.argv[1]); "


def test_the_cli_will_not_start_without_a_secret(tmp_path):
    code = LOCAL + ("from services.cli import main; "
                    "sys.exit(main(['token', '--role', 'ADMIN', '--sub', 'x']))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "var")], cwd=ROOT,
                       env=environ_without_secret(), capture_output=True, text=True, timeout=60)
    one_line_about_the_secret(r)


def test_make_down_needs_no_setting(tmp_path):
    code = LOCAL + "sys.exit(s.main(['down']))"
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "var")], cwd=ROOT,
                       env=environ_without_secret(AMQP_URI="not a url"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "coalition is not running."


# ---- `make up` on a developer's machine (its data folder pointed elsewhere) ----------

def test_make_up_makes_a_secret_once_and_gives_it_to_the_processes(tmp_path, monkeypatch,
                                                                   capsys):
    from services import local as stack_module
    monkeypatch.setattr(stack_module, "LOCAL_VAR", tmp_path / "var")
    monkeypatch.delenv("COALITION_JWT_SECRET", raising=False)
    monkeypatch.delenv("MONGO_URI", raising=False)
    old_umask = os.umask(0)  # even so, only its owner may read it
    try:
        stack, settings = stack_module.local_stack()
    finally:
        os.umask(old_umask)
    path = tmp_path / "var" / "jwt-secret"
    assert path.stat().st_mode & 0o777 == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 32 and settings["COALITION_JWT_SECRET"] == secret
    assert stack.environment()["COALITION_JWT_SECRET"] == secret  # what supervisord passes on
    assert stack_module.local_stack()[0].env["COALITION_JWT_SECRET"] == secret  # reused

    monkeypatch.setenv("COALITION_JWT_SECRET", "e" * 40)  # the variable wins
    assert stack_module.local_stack()[0].env["COALITION_JWT_SECRET"] == "e" * 40
    monkeypatch.setenv("COALITION_JWT_SECRET", "too-short")
    with pytest.raises(SystemExit) as exc:
        stack_module.local_stack()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "COALITION_JWT_SECRET" in err


def test_make_up_gives_each_process_its_own_broker_user(capsys):
    from urllib.parse import quote

    from kombu import Connection

    from services import local as stack_module
    from tests.support import drop_vhost, make_vhost
    remote = stack_module.local_broker_users("amqp://u:p@mq.example.org:5672/")
    assert remote == {} and "not on this machine" in capsys.readouterr().out
    vhost = make_vhost()
    if vhost is None:
        pytest.skip("no rabbitmqctl here")
    prefix = f"{vhost}-local-"
    try:
        base = f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}"
        uris = stack_module.local_broker_users(base, prefix=prefix)
        assert set(uris) == {*SERVICES, "gateway"} and "notifications" in uris
        for program, env in uris.items():
            assert env["AMQP_URI"].startswith(f"amqp://{prefix}{program}:")
            with Connection(env["AMQP_URI"], connect_timeout=10) as conn:
                conn.connect()  # the user exists, with this password, on this vhost
    finally:
        from services.common import broker
        broker.delete_users(prefix + p for p in broker.PROCESSES)
        drop_vhost(vhost)


# ---- mail: `make up`'s catcher, and none in the tests' stacks ---------------------------

def test_a_stack_runs_every_service_and_no_catcher_unless_asked(tmp_path):
    programs = Stack(tmp_path / "var", {}).programs()
    assert set(programs) == {*SERVICES, "gateway"} and "notifications" in programs
    assert "mail" not in programs and "aiosmtpd" not in " ".join(programs.values())


def test_make_up_without_smtp_url_catches_mail_in_var(tmp_path, monkeypatch):
    from services import local
    monkeypatch.setattr(local, "LOCAL_VAR", tmp_path / "var")
    monkeypatch.setenv("COALITION_JWT_SECRET", "m" * 40)
    monkeypatch.delenv("SMTP_URL", raising=False)
    monkeypatch.delenv("MAIL_CATCHER_DIR", raising=False)
    stack, settings = local.local_stack()
    maildir = tmp_path / "var" / "mail"
    assert settings["SMTP_URL"] == "smtp://127.0.0.1:8025" == stack.env["SMTP_URL"]
    assert stack.environment()["MAIL_CATCHER_DIR"] == str(maildir)  # what the gateway reads
    assert shlex.split(stack.programs()["mail"])[1:] == [
        "-m", "aiosmtpd", "-n", "-u", "-l", "127.0.0.1:8025", "-c", "aiosmtpd.handlers.Mailbox",
        str(maildir)]
    assert local.mail_line(stack, settings) == (
        f"Mail: caught in {maildir}, read at http://127.0.0.1:8000/dev/mail")

    monkeypatch.setenv("SMTP_URL", "smtps://relay:s3cret-pass@smtp.example.org:465")
    stack, settings = local.local_stack()
    assert "mail" not in stack.programs() and "MAIL_CATCHER_DIR" not in stack.env
    line = local.mail_line(stack, settings)
    assert line == "Mail: sent through smtps://smtp.example.org:465 (SMTP_URL)"


def test_make_up_refuses_a_catcher_port_another_program_holds(tmp_path):
    from services import local
    from tests.helpers.mail import MailServer
    holder = MailServer().start()
    try:
        stack = Stack(tmp_path / "var", {}, gateway_bind=f"127.0.0.1:{free_port()}",
                      mail_listen=f"127.0.0.1:{holder.port}")
        assert "the local mail catcher" in local.taken_port(stack)
        stack.mail_listen = f"127.0.0.1:{free_port()}"
        assert local.taken_port(stack) is None
    finally:
        holder.stop()


class CatcherStack(Stack):
    """A Stack that runs only its mail catcher, with the real command."""

    def programs(self):
        return {"mail": super().programs()["mail"]}


def test_the_catcher_keeps_each_message_in_the_maildir(tmp_path):
    port = free_port()
    stack = CatcherStack(tmp_path / "var", {}, mail_listen=f"127.0.0.1:{port}")
    stack.start()
    try:
        wait_for(lambda: port_open("127.0.0.1", port, 0.2), 60, 0.2, "the catcher listens")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "c@coalition.test", "m@example.org", "Вход"
        msg.set_content("code 123456")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)
        box = wait_for(lambda: list(mailbox.Maildir(stack.maildir, create=False)), 20, 0.2,
                       "a message in the maildir")
    finally:
        stack.stop()
    [kept] = box
    assert str(make_header(decode_header(kept["Subject"]))) == "Вход"
    assert "code 123456" in kept.get_payload()
