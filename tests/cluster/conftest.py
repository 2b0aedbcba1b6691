"""The cluster suite (`make test-cluster`): three RabbitMQ nodes of its own
behind a local HAProxy (tests/cluster/nodes.py), started once for the
session and deleted after it. Without Debian's rabbitmq-server or haproxy
the suite fails, saying how to install them: a suite that skips would pass
in a CI that lacks them."""
import signal
import tempfile
from pathlib import Path

import pytest

from tests.cluster.nodes import INSTALL, Cluster, missing_tools
from tests.helpers.suite_report import suite_report


def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def cluster():
    missing = missing_tools()
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)}; {INSTALL}", pytrace=False)
    # SIGTERM (a CI's timeout) unwinds like Ctrl-C, so that the nodes (in
    # sessions of their own) and HAProxy are stopped by the finalizers below
    previous = signal.signal(signal.SIGTERM, interrupt)
    # not pytest's tmp_path: pytest keeps those; Cluster.stop() deletes this one
    handle = Cluster(Path(tempfile.mkdtemp(prefix="coalition-cluster-")))
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def whole_cluster(cluster):
    """The session's cluster with every node running (a test before may have
    failed with one killed)."""
    for index, node in enumerate(cluster.nodes):
        if not node.running:
            cluster.restart(index)
    return cluster


report, pytest_terminal_summary = suite_report("cluster suite report")
