"""Exec probe of a nameko service's pod: exit 0 when this pod holds an
established TCP connection to every port named, else 1 and one line.

    python /probe/connected.py 5672 27017   # readiness: the broker and the store
    python /probe/connected.py 5672         # liveness: the broker

The services have no HTTP endpoint and answer no RPC of their own user's
(permissions.py lets a service send only the RPCs it needs), and a `ping`
sent to `rpc-<service>` would be answered by any of its instances, not
necessarily this pod. What this pod itself holds is its connections: nameko
keeps one AMQP connection open to consume and answers the broker's
heartbeats on it, and pymongo keeps its monitors connected to the store. A
process that hangs stops answering heartbeats, the broker closes its
connection within two heartbeat intervals, and this probe then fails.

It reads /proc/net/tcp and /proc/net/tcp6, which list the sockets of the
pod's network namespace (only this pod's containers), and imports nothing
but the standard library, so it costs a few milliseconds.
"""
import sys

TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
ESTABLISHED = "01"  # the kernel's TCP_ESTABLISHED, as /proc/net/tcp writes it


def established_remote_ports(table: str) -> set[int]:
    """Remote ports of the established connections in a /proc/net/tcp table."""
    ports = set()
    for line in table.splitlines()[1:]:  # the first line names the columns
        fields = line.split()
        if len(fields) > 3 and fields[3] == ESTABLISHED:
            ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def missing_ports(wanted: list[int], tables: tuple[str, ...] = TABLES) -> list[int]:
    connected: set[int] = set()
    for path in tables:
        try:
            with open(path) as fh:
                connected |= established_remote_ports(fh.read())
        except FileNotFoundError:  # no IPv6 in this pod
            continue
    return [port for port in wanted if port not in connected]


def main(argv: list[str]) -> int:
    if not argv or not all(arg.isdigit() for arg in argv):
        sys.stderr.write("usage: connected.py PORT [PORT...]\n")
        return 2
    missing = missing_ports([int(arg) for arg in argv])
    if missing:
        print(f"no established connection to port {', '.join(map(str, missing))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
