import pytest

from tests.support import StackHandle


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole system, started once for the session (see tests/support.py),
    sending its mail to a real SMTP server of its own (`stack.mail`)."""
    handle = StackHandle(tmp_path_factory.mktemp("stack"))
    try:
        handle.start()
    except Exception:
        logs = handle.stack.var / "logs"
        for f in sorted(logs.glob("*.log")) if logs.exists() else []:
            print(f"==== {f.name}\n" + f.read_text()[-3000:])
        handle.stop()
        raise
    yield handle
    handle.stop()


@pytest.fixture
def mail(stack):
    """The session stack's SMTP server (tests/helpers/mail.py), running and
    accepting everything; whatever a test switches (refuse, defer, stop) is
    undone after it. Other tests' mail may arrive meanwhile: select by
    recipient or subject, never by count alone."""
    stack.mail.start()
    stack.mail.accept()
    yield stack.mail
    stack.mail.start()
    stack.mail.accept()
