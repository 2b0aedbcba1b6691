import pytest

from tests.support import StackHandle


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole system, started once for the session (see tests/support.py)."""
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
