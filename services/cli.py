"""The operator's command line: `coalition --help`.

    coalition token --role ADMIN --sub secretariat        a JWT for the gateway
    coalition demo load [--url http://127.0.0.1:8000]     the demo coalition, via GraphQL
    coalition export consultation ID [--out FILE]         result and audit trail as CSV
    coalition export grant ID KIND [--out FILE]           allocations|disbursements|reports CSV
    coalition export iati [--out FILE]                    every grant as one IATI 2.03 document
    coalition dlq list|replay [--service S] [IDS...]      the dead-letter queue
    coalition outbox                                      outbox lag per service
    coalition mail list|show|failed|retry                 the notifications' mail queue
    coalition admin add|list|audit                        the secretariat's people, sign-in audit
    coalition erasures list|replay FILE                   erasures of members' personal data
    coalition queues migrate --to quorum|classic          the broker's queues to another type

Settings come from the environment, as for the services (see
docs/operator-guide.md); a bad one stops the command with one line naming it.
COALITION_JWT_SECRET (the gateway's) is needed by every command; when it is
not set, the CLI reads the one `make up` keeps in ./var/jwt-secret, if there
is one (`make demo`). `export`, `dlq`, `outbox`, `mail`, `admin` and `erasures`
talk to the services over RabbitMQ (AMQP_URI; in a deployment, the `cli` user: see
docs/operator-guide.md, "Trust boundaries"). Only `admin list` and `demo load`
(the demo's) print e-mail addresses; the mail queue and the audit hold none.
"""
import os
import sys
import warnings
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlparse

import click

from services.cli_admin import admin, demo_sign_in
from services.cli_erasures import erasures
from services.cli_queues import queues
from services.common import config as settings_module
from services.common.dead_letters import PARKED, STATUSES
from services.common.vocabulary import SERVICES, MailStatus, Role
from services.cli_export import export

DEFAULT_URL = "http://127.0.0.1:8000"
RPC_TIMEOUT = 10


class CliError(click.ClickException):
    """One line on stderr, exit status 1."""

    def show(self, file=None):
        click.echo(f"coalition: {self.message}", err=True)


def settings():
    environ = dict(os.environ)
    if not environ.get("COALITION_JWT_SECRET"):
        from services.local import SecretFileError, read_secret_file, secret_file
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

        from services.common.remote import StandaloneReplyListener
    # its replies on a transient reply queue, as the gateway's (services/common/remote.py)
    proxy = ClusterRpcProxy(settings_module.nameko_config(settings_), timeout=timeout,
                            reply_listener_cls=StandaloneReplyListener)
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
        fields = getattr(exc, "fields", None) or {}  # BAD_USER_INPUT's: they never echo input
        raise CliError(f"{service}: {exc}" + "".join(f"; {k}: {' '.join(v)}"
                                                     for k, v in fields.items()))
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
    help=f"Only this service (default: all of {', '.join(SERVICES)}).")


# ---- the commands -------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def coalition():
    """Operate a coalition deployment: tokens, demo, exports, dead letters, outbox, mail, people,
    erasures."""


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
    """Load the demo coalition through the gateway's GraphQL API, add its
    secretariat person (over RabbitMQ, as `admin add`) and say how to sign in.

    Loading again reuses what is there (members by name, grants and the
    consultation by title, the person by address) instead of duplicating it."""
    from services import demo_loader
    from services.demo_client import DemoError
    settings_ = settings()
    try:
        demo_loader.load(url, settings_["COALITION_JWT_SECRET"], echo=click.echo)
    except DemoError as exc:
        raise CliError(str(exc))
    demo_sign_in(settings_)  # the demo's secretariat person, and how to sign in
    click.echo(f"GraphiQL: {url.rstrip('/')}/graphql   "
               "(a token for it: coalition token --role ADMIN --sub you)")


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


# ---- the mail queue ---------------------------------------------------------------------

@coalition.group()
def mail():
    """The notifications service's mail queue. What it shows names recipients
    by member id (or "secretariat"), never by address."""


MAIL_FIELDS = [("id", "id"), ("status", "status"), ("kind", "kind"),
               ("recipient", "recipient"), ("language", "language"), ("attempts", "attempts"),
               ("created_at", "created at"), ("next_attempt_at", "next try"),
               ("sent_at", "sent at"), ("message_id", "Message-ID"), ("error", "error"),
               ("link", "link"), ("subject", "subject")]


def _mail_line(m):
    line = (f"  {m['id']}  {m['status']:<7}  {m['kind']:<19}  to {m['recipient']}  "
            f"attempts={m.get('attempts', 0)}  created {m.get('created_at') or '-'}  "
            f"sent {m.get('sent_at') or '-'}  {_one_line(m.get('subject'), 80)}")
    return line + (f"  error: {_one_line(m['error'])}" if m.get("error") else "")


def _list_mails(status, limit):
    with cluster(settings()) as rpc:
        mails = call(rpc, "notifications", "mails", status, limit)
    click.echo(f"{len(mails)} {status + ' ' if status else ''}mail(s)"
               + (f" (at most {limit})" if len(mails) >= limit else ""))
    for m in mails:
        click.echo(_mail_line(m))
    return mails


# the notifications service refuses more than it lists at once (in one line)
limit_option = click.option("--limit", type=click.IntRange(1), default=50,
                            show_default=True, help="At most this many mails.")


@mail.command("list")
@click.option("--status", type=click.Choice([s.value for s in MailStatus]),
              help="Only mails in this status (default: any).")
@limit_option
def mail_list(status, limit):
    """List mails, newest first: id, status, kind, recipient, attempts, times,
    subject and the last error."""
    _list_mails(status, limit)


@mail.command("failed")
@limit_option
def mail_failed(limit):
    """List the mails that failed for good (refused, or given up after
    MAIL_GIVE_UP_HOURS): `coalition mail retry` sends them again."""
    if _list_mails(MailStatus.FAILED.value, limit):
        click.echo("Send them again: coalition mail retry [ID ...] (without IDs: every failed one)")


@mail.command("show")
@click.argument("mail_id")
def mail_show(mail_id):
    """One mail: its fields, then its plain text."""
    with cluster(settings()) as rpc:
        found = call(rpc, "notifications", "mail", mail_id)
    if not found:
        raise CliError(f"no mail with id {mail_id!r}.")
    for key, label in MAIL_FIELDS:
        click.echo(f"{label + ':':<12} {found.get(key) if found.get(key) is not None else '-'}")
    click.echo("")
    click.echo(found.get("text") or "")


@mail.command("retry")
@click.argument("ids", nargs=-1)
def mail_retry(ids):
    """Queue failed mails again, to be sent at once (attempts and the give-up
    time start anew). With IDS, only those (the service takes a thousand at a
    time); without, every FAILED mail."""
    with cluster(settings()) as rpc:
        moved = call(rpc, "notifications", "retry_mails", list(ids)) if ids else _retry_all(rpc)
    click.echo(f"queued again: {len(moved)}" + (f": {' '.join(moved)}" if moved else ""))
    missing = [i for i in ids if i not in set(moved)]
    if missing:
        raise CliError(f"not FAILED (unknown, or queued or sent already): {' '.join(missing)}")


def _retry_all(rpc):
    """Every FAILED mail queued again: the service takes the ones that failed
    longest ago, a bounded number per call, so the CLI asks until a call
    brings none it had not queued already (one that failed again at once is
    not taken twice, so this ends)."""
    moved, seen = [], set()
    while True:
        fresh = [i for i in call(rpc, "notifications", "retry_mails", None) if i not in seen]
        if not fresh:
            return moved
        seen.update(fresh)
        moved += fresh


coalition.add_command(export)  # services/cli_export.py: `coalition export ...`
coalition.add_command(admin)  # services/cli_admin.py: `coalition admin ...`
coalition.add_command(erasures)  # services/cli_erasures.py: `coalition erasures ...`
coalition.add_command(queues)  # services/cli_queues.py: `coalition queues migrate ...`


def main(argv=None):
    return coalition.main(args=argv, prog_name="coalition")


if __name__ == "__main__":
    sys.exit(main())
