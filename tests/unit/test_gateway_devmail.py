"""GET /dev/mail on a real Maildir in a temporary folder, through the
gateway's own WSGI application: the list, one message, its HTML part under
a policy of its own, escaping, and every 404 (production, no folder, names
that are not a message's, a client that is not this machine). A large
maildir is listed by parsing only the messages shown."""
import mailbox
import os
import time
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
from unittest.mock import patch

import pytest
from werkzeug.test import Client

from services.common import config

SECRET = "s" * 40

with patch.dict(os.environ, {"COALITION_JWT_SECRET": SECRET}):
    from services.gateway import app, devmail  # the module makes its application at import


def mail(subject, to, day, html=True):
    message = EmailMessage()
    message["From"] = "Coalition <coalition@localhost>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 12, day, 18, 0, tzinfo=timezone.utc))
    message.set_content("Round 1 of <Budget> opened.\nhttp://127.0.0.1:8000/consultations/c1\n")
    if html:
        message.add_alternative("<p style='color: red'>Round 1 of <b>Budget</b> opened.</p>",
                                subtype="html")
    return message


def file_at(folder, name, day):
    """Give the message `name` the time the catcher filed it: 18:00 UTC of `day`."""
    moment = datetime(2026, 12, day, 18, 0, tzinfo=timezone.utc).timestamp()
    os.utime(folder / "new" / name, (moment, moment))


@pytest.fixture
def maildir(tmp_path):
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    names = {"old": box.add(mail("First round", "a@example.org", 1)),
             "new": box.add(mail("<script>alert(1)</script> Reminder", "b@example.org", 3)),
             "plain": box.add(mail("Text only", "c@example.org", 2, html=False))}
    for key, day in (("old", 1), ("new", 3), ("plain", 2)):
        file_at(tmp_path / "mail", names[key], day)
    return tmp_path / "mail", names


def gateway(folder, env="development", **settings):
    return app.Gateway(config.load({"COALITION_JWT_SECRET": SECRET, "COALITION_ENV": env,
                                    "MAIL_CATCHER_DIR": str(folder) if folder else "",
                                    **settings}))


class Browser(Client):
    """A browser on this machine (REMOTE_ADDR 127.0.0.1, unless a test says otherwise)."""

    def open(self, *args, **kwargs):
        kwargs["environ_base"] = {"REMOTE_ADDR": "127.0.0.1", **(kwargs.get("environ_base") or {})}
        return super().open(*args, **kwargs)


def client(folder, env="development", **settings):
    return Browser(gateway(folder, env, **settings))


def test_the_list_is_newest_first_with_date_recipient_and_a_link(maildir):
    folder, names = maildir
    page = client(folder).get("/dev/mail")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    order = [text.index(f"/dev/mail/{names[k]}'") for k in ("new", "plain", "old")]
    assert order == sorted(order)
    assert "2026-12-03T18:00:00+00:00" in text and "b@example.org" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert page.headers["Content-Security-Policy"] == devmail.PAGE_POLICY


def test_a_message_shows_its_headers_its_text_and_a_link_to_its_html(maildir):
    folder, names = maildir
    page = client(folder).get(f"/dev/mail/{names['old']}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "First round" in text and "a@example.org" in text and "coalition@localhost" in text
    assert "Round 1 of &lt;Budget&gt; opened." in text  # the text part, escaped
    assert f"/dev/mail/{names['old']}/html" in text
    assert "<b>Budget</b>" not in text  # the HTML part is never inlined


def test_the_html_part_is_served_alone_under_a_policy_that_runs_nothing(maildir):
    folder, names = maildir
    page = client(folder).get(f"/dev/mail/{names['old']}/html")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "<b>Budget</b>" in page.get_data(as_text=True)
    policy = page.headers["Content-Security-Policy"]
    assert policy == devmail.MAIL_HTML_POLICY  # not replaced by GraphiQL's
    assert "sandbox" in policy and "default-src 'none'" in policy and "script-src" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_a_message_without_html_has_no_html_page(maildir):
    folder, names = maildir
    browser = client(folder)
    assert "No HTML part." in browser.get(f"/dev/mail/{names['plain']}").get_data(as_text=True)
    assert browser.get(f"/dev/mail/{names['plain']}/html").status_code == 404


@pytest.mark.parametrize("path", ["/dev/mail/nope", "/dev/mail/..", "/dev/mail/%2e%2e",
                                  "/dev/mail/..%2fsecret", "/dev/mail/.hidden",
                                  "/dev/mail/a%5cb", "/dev/mail/x/text"])
def test_a_name_that_is_not_a_message_is_not_found(maildir, path):
    folder, _ = maildir
    (folder.parent / "secret").write_text("not mail")
    assert client(folder).get(path).status_code == 404


def test_a_name_is_looked_up_among_the_maildirs_keys_only(maildir, tmp_path):
    """A file of the right shape beside the maildir is no message of it."""
    folder, _ = maildir
    (folder / "cur" / "1700000000.M1P1Q1.elsewhere").write_bytes(b"Subject: planted\n\nx\n")
    (tmp_path / "1700000000.M2P2Q2.outside").write_bytes(b"Subject: outside\n\nx\n")
    browser = client(folder)
    assert browser.get("/dev/mail/1700000000.M2P2Q2.outside").status_code == 404
    assert browser.get("/dev/mail/1700000000.M1P1Q1.elsewhere").status_code == 200


def test_a_catcher_that_has_caught_nothing_yet_lists_nothing(tmp_path):
    page = client(tmp_path / "not-yet").get("/dev/mail")
    assert page.status_code == 200 and "0 message(s)" in page.get_data(as_text=True)


@pytest.mark.parametrize("env,folder", [("production", "mail"), ("development", None),
                                        ("test", None)])
def test_no_mail_is_shown_in_production_or_without_a_catcher(maildir, env, folder):
    real, names = maildir
    browser = client(real if folder else None, env)
    for path in ("/dev/mail", f"/dev/mail/{names['old']}", f"/dev/mail/{names['old']}/html"):
        assert browser.get(path).status_code == 404


@pytest.mark.parametrize("peer,forwarded,trusted,shown", [
    ("127.0.0.1", None, "", True),
    ("::1", None, "", True),
    ("127.0.0.2", None, "", True),
    ("192.168.1.20", None, "", False),             # GATEWAY_BIND=0.0.0.0: the LAN
    ("10.0.0.7", None, "", False),
    ("192.168.1.20", "127.0.0.1", "", False),      # a client's own X-Forwarded-For is not believed
    ("127.0.0.1", "192.168.1.20", "127.0.0.1", False),  # a local proxy forwarding the LAN
    ("127.0.0.1", "127.0.0.1", "127.0.0.1", True),     # ... or this machine
    ("127.0.0.1", "192.168.1.20", "", True),       # no trusted proxy: the peer is the client
])
def test_the_mail_is_shown_to_this_machine_only(maildir, peer, forwarded, trusted, shown):
    """Every caught sign-in code is on these pages: a client that is not a
    loopback address (as the gateway finds the client, TRUSTED_PROXIES
    honoured) gets 404, like production."""
    folder, names = maildir
    browser = client(folder, TRUSTED_PROXIES=trusted)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    for path in ("/dev/mail", f"/dev/mail/{names['old']}", f"/dev/mail/{names['old']}/html"):
        page = browser.get(path, headers=headers, environ_base={"REMOTE_ADDR": peer})
        assert page.status_code == (200 if shown else 404), (path, page.status_code)


@pytest.mark.parametrize("address,loopback", [
    ("127.0.0.1", True), ("127.255.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("::ffff:192.168.1.20", False),
    ("fe80::1", False), ("unknown", False), ("", False), ("localhost", False)])
def test_loopback_is_an_address_of_this_machine(address, loopback):
    assert devmail.is_loopback(address) is loopback


def test_a_large_maildir_parses_only_the_newest_it_lists(tmp_path):
    """A bench fan-out leaves thousands of mails: the list scans the folder
    and parses only the LISTED newest (by when each was filed), whatever
    their Date headers say."""
    folder = tmp_path / "mail"
    mailbox.Maildir(folder, create=True)
    total, start = devmail.LISTED * 5, time.time() - 100000
    for n in range(total):  # as the catcher files them, each its own file in new/
        name = f"{int(start) + n}.M{n}P1Q{n}.catcher"
        (folder / "new" / name).write_bytes(
            mail(f"Message {n}", f"m{n}@example.org", 1 + n % 28).as_bytes())
        os.utime(folder / "new" / name, (start + n, start + n))
    (folder / "cur" / f"{int(start) + total}.M0P2Q0.catcher:2,S").write_bytes(
        mail("Read already, newest", "r@example.org", 1).as_bytes())  # a name in cur/ has flags
    os.utime(folder / "cur" / f"{int(start) + total}.M0P2Q0.catcher:2,S",
             (start + total, start + total))
    served = gateway(folder)
    page = Browser(served).get("/dev/mail")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert served.dev_mail.parsed == devmail.LISTED
    assert f"the newest {devmail.LISTED} of {total + 1} message(s)" in text
    assert text.count("<tr><td>") == devmail.LISTED
    assert text.index("Read already, newest") < text.index(f"Message {total - 1}<")
    assert f"Message {total - devmail.LISTED + 1}<" in text
    assert f"Message {total - devmail.LISTED}<" not in text and "Message 0<" not in text
    # one message is read alone
    Browser(served).get(f"/dev/mail/{int(start) + total}.M0P2Q0.catcher")
    assert served.dev_mail.parsed == devmail.LISTED + 1
