"""`coalition queues migrate --to quorum|classic`: move every durable queue
of the deployment to another type, keeping its messages
(services/common/queue_migration.py; docs/operator-guide.md, "Queue types").

Stop every service and the gateway first. It connects as the broker's
administrator, whose URI it reads from AMQP_ADMIN_URI (an environment
variable, never an argument: a command line is visible to every user of the
machine): each process of ours may delete only its own queues. Then start the processes
with QUEUE_TYPE set to the same type. Running it again is harmless, and
finishes a migration that stopped halfway.
"""
import os

import click

from services.common.queues import QUEUE_TYPES


@click.group()
def queues():
    """The broker's queues: move them to another type."""


@queues.command("migrate")
@click.option("--to", "queue_type", type=click.Choice(QUEUE_TYPES), required=True,
              help="the type every durable queue should have")
def queues_migrate(queue_type):
    """Re-declare every RPC, event and dead-letter queue of the services as
    QUEUE_TYPE, moving their messages through a holding queue. Prints each
    queue and how many messages it moved."""
    from amqp.exceptions import AMQPError
    from kombu.exceptions import OperationalError

    from services.cli import CliError
    from services.common.queue_migration import MigrationError, migrate
    admin_uri = os.environ.get("AMQP_ADMIN_URI", "")
    if not admin_uri:
        raise CliError("AMQP_ADMIN_URI is not set: the broker administrator's "
                       "amqp://user:password@host:port/vhost")
    try:
        results = migrate(admin_uri, queue_type)
    except MigrationError as exc:
        raise CliError(str(exc))
    except (OSError, ConnectionError, OperationalError, AMQPError) as exc:
        # never the URI: it holds the administrator's password
        raise CliError(f"the broker refused or did not answer: {type(exc).__name__}: {exc}")
    for name, moved in results:
        click.echo(f"{name}\t{queue_type}\t{moved} moved")
    click.echo(f"{len(results)} queues are {queue_type}; start the processes with "
               f"QUEUE_TYPE={queue_type}")
