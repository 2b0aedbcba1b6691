"""A suite's report: a `report` fixture, a dict each test fills with its
figures, and a pytest_terminal_summary hook that prints every non-empty one
as JSON under `title` at the end of the run (the fault and cluster suites).

    report, pytest_terminal_summary = suite_report("fault suite report")  # in a conftest
"""
import json

import pytest


def suite_report(title):
    """(the `report` fixture, the pytest_terminal_summary hook) of one suite."""
    reports = []

    @pytest.fixture
    def report():
        data = {}
        reports.append(data)
        return data

    def pytest_terminal_summary(terminalreporter):
        for data in reports:
            if data:
                terminalreporter.section(title)
                terminalreporter.write_line(json.dumps(data, indent=2, sort_keys=True))

    return report, pytest_terminal_summary
