"""The operator's command line: `coalition --help`.

    coalition token --role ADMIN --sub secretariat        a JWT for the gateway
    coalition demo load [--url http://127.0.0.1:8000]     the demo coalition, via GraphQL
    coalition export consultation ID [--out FILE]         result and audit trail as CSV
    coalition dlq list|replay [--service S] [IDS...]      the dead-letter queue
    coalition outbox                                      outbox lag per service

Settings come from the environment, as for the services (see
docs/operator-guide.md); a bad one stops the command with one line naming it.
COALITION_JWT_SECRET (the gateway's) is needed by every command; when it is
not set, the CLI reads the one `make up` keeps in ./var/jwt-secret, if there
is one (`make demo`). `export`, `dlq` and `outbox` talk to the services over
RabbitMQ (AMQP_URI; in a deployment, the `cli` user: see
docs/operator-guide.md, "Trust boundaries").
"""
import csv
import io
import os
import sys
import warnings
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlparse

import click

from services.common import config as settings_module
from services.common.dead_letters import PARKED, STATUSES
from services.common.vocabulary import SERVICES, Role

DEFAULT_URL = "http://127.0.0.1:8000"
RPC_TIMEOUT = 10


class CliError(click.ClickException):
    """One line on stderr, exit status 1."""

    def show(self, file=None):
        click.echo(f"coalition: {self.message}", err=True)


def settings():
    environ = dict(os.environ)
    if not environ.get("COALITION_JWT_SECRET"):
        from services.stack import SecretFileError, read_secret_file, secret_file
        try:
            environ["COALITION_JWT_SECRET"] = read_secret_file(secret_file())
        except FileNotFoundError:
            pass  # no `make up` here: the settings say it is missing, in one line
        except (OSError, SecretFileError) as exc:
            raise CliError(f"COALITION_JWT_SECRET is not set and {exc}")
    return settings_module.load_or_exit(environ, program="coalition")


# ---- RPC to the services ------------------------------------------------------

def _broker(settings_):
    parsed = urlparse(settings_["AMQP_URI"])  # never print the URI: it holds a password
    return f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 5672}"


@contextmanager
def cluster(settings_, timeout=RPC_TIMEOUT):
    """A started nameko ClusterRpcProxy, or CliError if the broker does not answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's deprecation notice on import
        import services.common.errors  # noqa: F401  (typed errors over RPC)
        from nameko.standalone.rpc import ClusterRpcProxy
    proxy = ClusterRpcProxy(settings_module.nameko_config(settings_), timeout=timeout)
    try:
        rpc = proxy.start()
    except Exception as exc:  # refused, DNS, auth, vhost: kombu/amqp/OS errors
        raise CliError(f"the broker at {_broker(settings_)} does not answer "
                       f"({type(exc).__name__}: {exc}); is RabbitMQ running, and AMQP_URI right?")
    try:
        yield rpc
    finally:
        try:
            proxy.stop()
        except Exception:
            pass


def call(rpc, service, method, *args):
    """One RPC; CliError naming the service if it does not answer."""
    from kombu.exceptions import OperationalError
    from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

    from services.common.errors import DomainError
    try:
        return getattr(getattr(rpc, service), method)(*args)
    except DomainError as exc:
        raise CliError(f"{service}: {exc}")
    except RemoteError as exc:
        raise CliError(f"{service}.{method} failed: {_one_line(exc)}")
    except RpcTimeout:
        raise CliError(f"the {service} service did not answer within {RPC_TIMEOUT}s; "
                       "is it running?")
    except UnknownService:
        raise CliError(f"no {service} service is listening on this broker; is it running?")
    except (OSError, OperationalError) as exc:
        raise CliError(f"lost the broker while asking {service} ({type(exc).__name__}: {exc})")


def each_service(rpc, services, method, *args):
    """(service, result) for each service; a service that does not answer is
    reported on stderr and makes the command fail at the end, after the others."""
    failed = []
    for service in services:
        try:
            yield service, call(rpc, service, method, *args)
        except CliError as exc:
            click.echo(f"coalition: {exc.message}", err=True)
            failed.append(service)
    if failed:
        raise click.exceptions.Exit(1)


def chosen(service):
    return (service,) if service else SERVICES


service_option = click.option(
    "--service", type=click.Choice(SERVICES),
    help="Only this service (default: members, consultations and grants).")


# ---- the commands -------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def coalition():
    """Operate a coalition deployment: tokens, demo data, exports, dead letters, outbox."""


@coalition.command()
@click.option("--role", type=click.Choice([Role.ADMIN, Role.MEMBER]), required=True,
              help="ADMIN for the secretariat, MEMBER for one member organisation.")
@click.option("--sub", required=True, help="Who the token is for (the JWT `sub`).")
@click.option("--member-id", help="The member organisation's id (required for MEMBER).")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True, max=24 * 366), default=12.0,
              show_default=True, help="Lifetime of the token.")
def token(role, sub, member_id, hours):
    """Print a JWT signed with COALITION_JWT_SECRET."""
    from services.gateway.auth import issue_token
    if role == Role.MEMBER and not member_id:
        raise click.UsageError("--member-id is required with --role MEMBER.")
    if role == Role.ADMIN and member_id:
        raise click.UsageError("--member-id is only for --role MEMBER.")
    secret = settings()["COALITION_JWT_SECRET"]
    click.echo(issue_token(secret, role, sub, member_id, ttl=timedelta(hours=hours)))


@coalition.group()
def demo():
    """The demo coalition."""


@demo.command("load")
@click.option("--url", default=DEFAULT_URL, show_default=True,
              help="Base URL of the gateway (its GraphQL API is URL/graphql).")
def demo_load(url):
    """Load the demo coalition through the gateway's GraphQL API.

    Loading again reuses what is there (members by name, grants and the
    consultation by title) instead of duplicating it."""
    from services import demo_loader
    from services.demo_client import DemoError
    secret = settings()["COALITION_JWT_SECRET"]
    try:
        demo_loader.load(url, secret, echo=click.echo)
    except DemoError as exc:
        raise CliError(str(exc))
    click.echo(f"GraphiQL: {url.rstrip('/')}/graphql   "
               "(a token for it: coalition token --role ADMIN --sub you)")


# ---- export -----------------------------------------------------------------------

EXPORT_COLUMNS = [
    "record", "consultation_id", "kind", "title", "status", "rule", "quorum", "threshold",
    "round", "proposal", "outcome", "explanation", "eligible", "responded", "agree",
    "reservations", "stand_aside", "block", "quorum_reached", "opened_at", "closes_at",
    "closed_at", "member_id", "member_name", "stance", "reason", "cast_at", "replaces",
    "superseded",
]
TEXT_COLUMNS = {"title", "proposal", "explanation", "member_name", "reason"}


def _cell(column, value):
    """Text written by people is data: never let a spreadsheet run it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = str(value)
    if column in TEXT_COLUMNS and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _tally(tally):
    return {k: tally.get(k) for k in ("eligible", "responded", "agree", "reservations",
                                      "stand_aside", "block", "quorum_reached")}


def export_rows(consultation, audit, names):
    """The consultation, each round (closed ones, then the open one) and every
    stance ever cast (replaced ones too, marked superseded), oldest first."""
    base = {"consultation_id": consultation["id"], "kind": consultation["kind"],
            "title": consultation["title"]}
    yield {**base, "record": "consultation", "status": consultation["status"],
           "rule": consultation["rule"], "quorum": consultation["quorum"],
           "threshold": consultation.get("threshold"), "round": consultation["round"],
           "proposal": consultation["proposal"], "outcome": consultation.get("outcome"),
           "opened_at": consultation["opened_at"], "closes_at": consultation["closes_at"],
           "closed_at": consultation.get("closed_at"), **_tally(consultation["tally"])}
    closed_numbers = set()
    for r in consultation["rounds"]:
        closed_numbers.add(r["number"])
        yield {**base, "record": "round", "status": "CLOSED", "round": r["number"],
               "proposal": r["proposal"], "outcome": r["outcome"],
               "explanation": r.get("explanation"), "closed_at": r["closed_at"],
               **_tally(r["tally"])}
    if consultation["round"] not in closed_numbers:  # the current round, not closed
        yield {**base, "record": "round", "status": consultation["status"],
               "round": consultation["round"], "proposal": consultation["proposal"],
               "closes_at": consultation["closes_at"], **_tally(consultation["tally"])}
    last = {}
    for i, entry in enumerate(audit):
        last[(entry["round"], entry["member_id"])] = i
    for i, entry in enumerate(audit):
        yield {**base, "record": "stance", "round": entry["round"],
               "member_id": entry["member_id"], "member_name": names.get(entry["member_id"], ""),
               "stance": entry["value"], "reason": entry.get("reason"),
               "cast_at": entry.get("cast_at") or entry.get("at"),
               "replaces": entry.get("replaces"),
               "superseded": last[(entry["round"], entry["member_id"])] != i}


@coalition.group()
def export():
    """Export records as CSV."""


@export.command("consultation")
@click.argument("consultation_id")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write the CSV to this file (default: standard output).")
def export_consultation(consultation_id, out):
    """A consultation's result (each round's outcome and tally) and its audit
    trail (every stance cast, replaced ones included) as one CSV table; the
    `record` column says which a row is: consultation, round or stance."""
    with cluster(settings()) as rpc:
        consultation = call(rpc, "consultations", "get", consultation_id)
        if consultation is None:
            raise CliError(f"no consultation with id {consultation_id!r}.")
        audit = call(rpc, "consultations", "stance_audit", consultation_id)
        member_ids = sorted({entry["member_id"] for entry in audit})
        names = {m["id"]: m["name"] for m in
                 (call(rpc, "members", "get_many", member_ids) if member_ids else [])}
    rows = list(export_rows(consultation, audit, names))

    def write(stream):
        writer = csv.writer(stream)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([_cell(c, row.get(c)) for c in EXPORT_COLUMNS])

    if out:
        with open(out, "w", newline="", encoding="utf-8") as stream:
            write(stream)
        stances = sum(1 for r in rows if r["record"] == "stance")
        click.echo(f"wrote {out}: {len(consultation['rounds'])} closed round(s), "
                   f"{stances} stance(s) in the audit trail")
    else:
        buffer = io.StringIO(newline="")
        write(buffer)
        click.echo(buffer.getvalue(), nl=False)


# ---- dead letters and outbox --------------------------------------------------------

@coalition.group()
def dlq():
    """The dead-letter queue: events a consumer failed on after every retry."""


def _one_line(text, limit=300):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dlq.command("list")
@service_option
@click.option("--status", type=click.Choice([*STATUSES, "all"]), default=PARKED,
              show_default=True, help="Which dead letters to list.")
def dlq_list(service, status):
    """List dead letters per service (oldest first, at most 1000 each)."""
    with cluster(settings()) as rpc:
        for name, letters in each_service(rpc, chosen(service), "dead_letters",
                                          None if status == "all" else status):
            click.echo(f"{name}: {len(letters)} {'' if status == 'all' else status + ' '}"
                       f"dead letter(s)")
            for d in letters:
                click.echo(f"  {d['id']}  {d.get('failed_at')}  {d.get('status')}  "
                           f"{d.get('consumer')}  {d.get('source')}.{d.get('event_type')}  "
                           f"event {d.get('event_id')}  attempts={d.get('attempts')}  "
                           f"{_one_line(d.get('error'))}")


@dlq.command("replay")
@service_option
@click.argument("ids", nargs=-1)
def dlq_replay(service, ids):
    """Send parked dead letters back to their consumer's queue.

    With IDS, only those; without, every parked one of the chosen services."""
    found = set()
    with cluster(settings()) as rpc:
        for name, replayed in each_service(rpc, chosen(service), "replay_dead_letters",
                                           list(ids) or None):
            found.update(replayed)
            click.echo(f"{name}: replayed {len(replayed)}" +
                       (f": {' '.join(replayed)}" if replayed else ""))
    missing = [i for i in ids if i not in found]
    if missing:
        raise CliError(f"not parked in {service or 'any service'}: {' '.join(missing)}")


def _age(seconds):
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


@coalition.command()
@service_option
def outbox(service):
    """Outbox lag: events committed but not yet published, per service."""
    with cluster(settings()) as rpc:
        click.echo(f"{'service':<15}{'pending':>9}  {'oldest pending':<16}{'sent':>8}")
        for name, status in each_service(rpc, chosen(service), "outbox_status"):
            click.echo(f"{name:<15}{status['pending']:>9}  "
                       f"{_age(status['oldest_pending_age_seconds']):<16}{status['sent']:>8}")


def main(argv=None):
    return coalition.main(args=argv, prog_name="coalition")


if __name__ == "__main__":
    sys.exit(main())
