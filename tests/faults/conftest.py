import json

import pytest

from tests.support import StackHandle

REPORTS = []


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    """A stack of its own: these tests kill its processes."""
    handle = StackHandle(tmp_path_factory.mktemp("faults"))
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture
def report():
    data = {}
    REPORTS.append(data)
    return data


def pytest_terminal_summary(terminalreporter):
    for data in REPORTS:
        if data:
            terminalreporter.section("fault suite report")
            terminalreporter.write_line(json.dumps(data, indent=2, sort_keys=True))
