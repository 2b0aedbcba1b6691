"""The tests' SMTP server (tests/helpers/mail.py), driven by smtplib as the
notifications service drives a real one: no mocks, a socket and SMTP."""
import smtplib
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests.helpers.mail import MailServer


@pytest.fixture
def mail():
    server = MailServer().start()
    yield server
    server.stop()


def message(to="focal@idpc.example.org", subject="Consultation opened", message_id=None):
    msg = EmailMessage()
    msg["From"] = "Coalition <coalition@coalition.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="coalition.test")
    msg.set_content("Plain text body.\nhttps://coalition.test/consultations/c1\n")
    msg.add_alternative("<p>HTML body <a href='https://coalition.test/consultations/c1'>open</a></p>",
                        subtype="html")
    return msg


def send(server, msg, to=None):
    with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
        return smtp.send_message(msg, to_addrs=to)


def test_an_accepted_message_is_kept_parsed(mail):
    msg = message(subject="Открыта консультация: бюджет 2027")
    assert send(mail, msg) == {}
    [got] = mail.wait_for_messages(1, timeout=5)
    assert got.mail_from == "coalition@coalition.test"
    assert got.to == ("focal@idpc.example.org",)
    assert got.message_id == msg["Message-ID"]
    assert got.subject == "Открыта консультация: бюджет 2027"
    assert got.text.startswith("Plain text body.")
    assert "<a href='https://coalition.test/consultations/c1'>" in got.html
    assert got.header("From") == "Coalition <coalition@coalition.test>"
    assert mail.messages_to("FOCAL@idpc.example.org") == [got]
    assert mail.messages_to("other@example.org") == []
    assert mail.answers == [("focal@idpc.example.org", 250)]


def test_refused_recipients_get_550_and_the_others_are_kept(mail):
    mail.refuse(lambda address: address.startswith("bounce"))
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(mail, message(to="bounce@example.org"))
    assert refused.value.recipients["bounce@example.org"][0] == 550
    send(mail, message(to="fine@example.org"))
    [got] = mail.wait_for_messages(1, timeout=5)
    assert got.to == ("fine@example.org",)
    assert mail.answers == [("bounce@example.org", 550), ("fine@example.org", 250)]
    mail.accept()
    send(mail, message(to="bounce@example.org"))
    assert len(mail.wait_for_messages(2, timeout=5)) == 2


@pytest.mark.parametrize("stage, error", [
    ("mail", smtplib.SMTPSenderRefused), ("rcpt", smtplib.SMTPRecipientsRefused),
    ("data", smtplib.SMTPDataError)])
def test_deferring_answers_451_until_accepting_again(mail, stage, error):
    mail.defer(stage)
    with pytest.raises(error) as refused:
        send(mail, message())
    code = (refused.value.recipients["focal@idpc.example.org"][0]
            if stage == "rcpt" else refused.value.smtp_code)
    assert code == 451
    assert mail.messages == []
    mail.accept()
    send(mail, message())
    assert len(mail.wait_for_messages(1, timeout=5)) == 1


def test_a_stopped_server_refuses_connections_and_comes_back_on_its_port(mail):
    send(mail, message(subject="before"))
    port = mail.port
    open_before = smtplib.SMTP(mail.host, port, timeout=10)
    open_before.ehlo()
    mail.stop()
    assert not mail.running
    with pytest.raises(OSError):
        smtplib.SMTP(mail.host, port, timeout=5)
    with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
        open_before.send_message(message(subject="cut"))  # its connection was cut
    mail.start()
    assert mail.running and mail.port == port and mail.url == f"smtp://127.0.0.1:{port}"
    send(mail, message(subject="after"))
    assert [m.subject for m in mail.wait_for_messages(2, timeout=5)] == ["before", "after"]


def test_waiting_for_messages_sent_meanwhile_or_never(mail):
    def later():
        time.sleep(0.3)
        for to in ("a@example.org", "b@example.org", "c@example.org"):
            send(mail, message(to=to))
    sender = threading.Thread(target=later)
    sender.start()
    found = mail.wait_for_messages(2, timeout=10, where=lambda m: m.to != ("b@example.org",))
    sender.join()
    assert sorted(m.to[0] for m in found) == ["a@example.org", "c@example.org"]
    assert mail.wait_for_messages(lambda m: m.to == ("b@example.org",), timeout=1)
    started = time.monotonic()
    with pytest.raises(AssertionError, match="0 of 1"):
        mail.wait_for_messages(lambda m: m.to == ("nobody@example.org",), timeout=0.5)
    assert time.monotonic() - started < 3


def test_repeats_are_recognised_by_message_id_and_clear_forgets(mail):
    repeated = make_msgid(domain="coalition.test")
    send(mail, message(message_id=repeated))
    send(mail, message())
    send(mail, message(message_id=repeated))
    assert len(mail.settle(quiet=0.3, timeout=10)) == 3
    assert mail.duplicates() == [repeated]
    mail.clear()
    assert mail.messages == [] and mail.answers == [] and mail.duplicates() == []
