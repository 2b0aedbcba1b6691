import pytest

from tests.helpers.suite_report import suite_report
from tests.support import StackHandle


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    """A stack of its own: these tests kill its processes."""
    handle = StackHandle(tmp_path_factory.mktemp("faults"))
    handle.start()
    yield handle
    handle.stop()


report, pytest_terminal_summary = suite_report("fault suite report")
