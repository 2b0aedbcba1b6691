"""SMTP_URL (services/common/smtp_url.py, also the setting's validator), the
message on the wire and one SMTP connection (services/notifications/smtp.py)
against a real SMTP server: tests/helpers/mail.MailServer, aiosmtpd on a port
of its own. Nothing of smtplib is replaced. The sender itself, on the real
store, is in tests/service/test_notifications_service.py."""
import os
import subprocess
import sys

import pytest

from services.common import config as settings_module
from services.common.smtp_url import SmtpSettings, parse_smtp_url
from services.common.store import utcnow
from services.notifications.smtp import Connection, SmtpFailure, build_message
from tests.helpers.mail import MailServer, free_port
from tests.support import ROOT, SECRET

MAIL_FROM = "Coalition <mail@coalition.example.org>"
SENDER = "mail@coalition.example.org"
MAIL = {"subject": "S", "text": "T", "html": "<p>T</p>", "message_id": "<a@b>", "language": "RU"}


@pytest.fixture
def server():
    running = MailServer().start()
    yield running
    running.stop()


def send(connection, address):
    connection.send(build_message(MAIL, address, MAIL_FROM, utcnow()), SENDER, address)


# ---- one connection ------------------------------------------------------------------

def test_a_connection_reports_the_servers_reply_codes(server):
    with Connection(parse_smtp_url(server.url), timeout=5) as connection:
        server.refuse(lambda address: address == "no@x.org")
        with pytest.raises(SmtpFailure) as refused:
            send(connection, "no@x.org")
        server.defer()
        with pytest.raises(SmtpFailure) as deferred:
            send(connection, "later@x.org")
        for failure, code in ((refused.value, 550), (deferred.value, 451)):
            assert failure.code == code and not failure.broken
            assert "x.org" not in str(failure)
        server.accept()
        send(connection, "yes@x.org")  # the session is still good after a refusal
    assert [m.to for m in server.messages] == [("yes@x.org",)]


def test_a_reply_slower_than_the_timeout_is_a_broken_connection_not_a_refusal(server):
    server.slow(2)
    with Connection(parse_smtp_url(server.url), timeout=0.5) as connection:
        with pytest.raises(SmtpFailure) as failure:
            send(connection, "slow@x.org")
    assert failure.value.code is None and failure.value.broken
    assert "timed out" in failure.value.reply


def test_no_server_is_a_failure_of_the_connection():
    with pytest.raises(SmtpFailure) as failure:
        with Connection(SmtpSettings("127.0.0.1", free_port()), timeout=5):
            pass
    assert failure.value.code is None and failure.value.broken


def test_a_failure_keeps_no_address_anywhere_not_even_in_its_args():
    failure = SmtpFailure(550, "550 5.1.1 <focal.point@ngo.example.org>: no such user",
                          broken=False)
    assert "@" not in failure.reply and "@" not in str(failure)
    assert not any("ngo.example.org" in str(arg) for arg in failure.args)
    assert "ngo.example.org" not in repr(failure)


def test_a_message_is_multipart_with_one_line_headers():
    mail = {"subject": "Line one\r\nBcc: evil@x.org", "text": "Plain", "html": "<p>Rich</p>",
            "message_id": "<k@coalition.example.org>", "language": "RU"}
    message = build_message(mail, "to@x.org", MAIL_FROM, utcnow())
    assert message["Subject"] == "Line one Bcc: evil@x.org" and message["Bcc"] is None
    assert message["Message-ID"] == "<k@coalition.example.org>"
    assert message["Content-Language"] == "ru"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


# ---- SMTP_URL --------------------------------------------------------------------------

@pytest.mark.parametrize("url,expected", [
    ("smtp://127.0.0.1:8025", SmtpSettings("127.0.0.1", 8025)),
    ("smtp://mail.example.org", SmtpSettings("mail.example.org", 25)),
    ("smtps://u:p%40ss@mail.example.org", SmtpSettings("mail.example.org", 465, True, False,
                                                       "u", "p@ss")),
    ("smtp://u@mail.example.org:587?starttls=true", SmtpSettings("mail.example.org", 587,
                                                                 False, True, "u")),
    ("smtp://mail.example.org:587?starttls=false", SmtpSettings("mail.example.org", 587)),
])
def test_smtp_urls(url, expected):
    assert parse_smtp_url(url) == expected


BAD_URLS = ["http://mail.example.org", "smtp://", "smtp://h:port", "smtp://h:99999",
            "smtps://h?starttls=true", "smtp://h?starttls=maybe", "smtp://h?startls=true"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_other_urls_are_refused_without_naming_a_password(url):
    with pytest.raises(ValueError) as refused:
        parse_smtp_url(url.replace("//", "//user:secret@", 1) if "//h" in url else url)
    assert "secret" not in str(refused.value)


def test_the_password_is_never_shown():
    settings = parse_smtp_url("smtps://user:s3cret@mail.example.org")
    assert "s3cret" not in repr(settings) and settings.password == "s3cret"


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_malformed_smtp_url_stops_the_settings_at_start(url):
    env = {"COALITION_JWT_SECRET": SECRET, "SMTP_URL": url.replace("//h", "//user:secret@h")}
    with pytest.raises(settings_module.SettingsError) as refused:
        settings_module.load(env)
    assert str(refused.value).startswith("invalid setting SMTP_URL: ")
    assert "secret" not in str(refused.value)


def test_the_runner_of_notifications_refuses_a_malformed_smtp_url_in_one_line():
    env = {**os.environ, "COALITION_JWT_SECRET": SECRET,
           "SMTP_URL": "smtps://relay:s3cret@smtp.example.org?starttls=true"}
    done = subprocess.run([sys.executable, "-m", "services.common.runner", "notifications"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("notifications: invalid setting SMTP_URL: ")
    assert done.stderr.strip().count("\n") == 0 and "s3cret" not in done.stderr


# ---- the lease and the SMTP timeout ----------------------------------------------------

def test_the_smtp_timeout_is_a_setting_of_its_own_and_the_lease_must_cover_it():
    base = {"COALITION_JWT_SECRET": SECRET}
    defaults = settings_module.load(base)
    assert defaults["MAIL_SMTP_TIMEOUT_SECONDS"] == 30
    assert defaults["MAIL_LEASE_SECONDS"] >= settings_module.LEASE_PER_TIMEOUT * 30
    short = settings_module.load({**base, "MAIL_SMTP_TIMEOUT_SECONDS": "2",
                                  "MAIL_LEASE_SECONDS": "16"})
    assert (short["MAIL_SMTP_TIMEOUT_SECONDS"], short["MAIL_LEASE_SECONDS"]) == (2, 16)
    with pytest.raises(settings_module.SettingsError) as refused:
        settings_module.load({**base, "MAIL_LEASE_SECONDS": "5"})  # with the 30 s timeout
    assert str(refused.value).startswith("invalid setting MAIL_LEASE_SECONDS: must be at least "
                                         "8 times MAIL_SMTP_TIMEOUT_SECONDS (240")
