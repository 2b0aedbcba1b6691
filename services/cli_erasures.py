"""`coalition erasures`: the erasures of members' personal data (DOMAIN.md
section 11; docs/operator-guide.md), over RabbitMQ as the `cli` user.

    coalition erasures list            the erased members' ids, one a line
    coalition erasures replay FILE     erase again every member id in FILE

Restoring a backup older than an erasure brings the erased personal data
back: after each erasure keep `coalition erasures list > erased.txt` outside
the backups (they must not be lost together), and after a restore run
`coalition erasures replay erased.txt` before users come back. Each erasure runs as
the secretariat's does (services/common/erasure.py), by CLI_BY. It prints
member ids and what was removed, never a name or an address.

A file of its own so that services/cli.py stays short: it takes settings(),
cluster() and call() from there when a command runs (services/cli.py imports
this module to add the group).
"""
import click

# who erased, when the CLI did (a member's `erased_by`)
CLI_BY = "cli"


@click.group()
def erasures():
    """Erasures of members' personal data: list them, or apply them again
    (after a backup older than them was restored)."""


@erasures.command("list")
def erasures_list():
    """The ids of the members whose personal data was erased, oldest
    erasure first, one a line (a file `erasures replay` reads)."""
    from services.cli import call, cluster, settings
    with cluster(settings()) as rpc:
        ids = call(rpc, "members", "erased_ids")
    for member_id in ids:
        click.echo(member_id)


def ids_in(lines):
    """The member ids of a file's lines: each stripped, blank lines and
    lines starting with # left out, each id once, in order."""
    ids = (line.strip() for line in lines)
    return list(dict.fromkeys(i for i in ids if i and not i.startswith("#")))


@erasures.command("replay")
@click.argument("file", type=click.File("r"))
def erasures_replay(file):
    """Erase again the personal data of every member id in FILE (one a
    line; blank lines and # comments skipped; - for standard input), in
    every service. Each id is reported: what was removed, "not found,
    skipped" for a member this store does not have, or why it failed (for
    example CONFLICT: the member is no longer WITHDRAWN or REJECTED here).
    Exit status 1 if any failed; running it again is harmless."""
    from services.cli import CliError, cluster, settings
    ids = ids_in(file)
    failed = []
    with cluster(settings()) as rpc:
        for member_id in ids:
            try:
                click.echo(f"{member_id}: {replay_one(rpc, member_id)}")
            except CliError as exc:
                click.echo(f"coalition: {member_id}: {exc.message}", err=True)
                failed.append(member_id)
    click.echo(f"{len(ids) - len(failed)} of {len(ids)} member id(s) done")
    if failed:
        raise CliError(f"{len(failed)} erasure(s) failed: {' '.join(failed)}")


def replay_one(rpc, member_id):
    """Erase one member again; the line that says what happened. A member
    this store does not have is skipped (not a failure: nothing of it is
    here); any other error is the CliError of services/cli.py call()."""
    from services.cli import CliError, call
    from services.common.erasure import erase
    from services.common.errors import NotFound
    try:
        _member, removed = erase(lambda *args: call(rpc, *args), member_id, CLI_BY)
    except CliError as exc:
        if isinstance(exc.__context__, NotFound):
            return "not found, skipped"
        raise
    return "erased; removed " + "; ".join(removed) if removed else "erased; nothing left to remove"
