"""`coalition admin`: the secretariat's people and the sign-in audit
(docs/accounts.md), over RabbitMQ as the `cli` user.

    coalition admin add --email E --name N     the first person (and any other), no mail
    coalition admin list                       who signs in as ADMIN
    coalition admin audit [--limit N]          codes sent, sign-ins, sign-outs, revocations

and, for `coalition demo load`, the demo's secretariat person (demo_sign_in).
A file of its own so that services/cli.py stays short: it takes settings(),
cluster() and call() from there when a command runs (services/cli.py imports
this module to add the group).
"""
import click

# who added a person when the CLI did; an ADMIN's invitation names their person id
CLI_ADDER = "cli"
AUDIT_COLUMNS = ("at", "action", "person", "client")


@click.group()
def admin():
    """The secretariat's people (who signs in as ADMIN) and the sign-in audit.
    Inviting and removing people is an ADMIN's, in the app; the first person
    is added here."""


@admin.command("add")
@click.option("--email", required=True, help="The person's e-mail address: they sign in with it.")
@click.option("--name", required=True, help="The person's name, as the app shows it.")
def admin_add(email, name):
    """Add a secretariat person, without a mail: they ask for a sign-in code
    at PUBLIC_URL/signin. An address that is a secretariat person's already is
    refused (CONFLICT)."""
    from services.cli import call, cluster, settings
    settings_ = settings()
    with cluster(settings_) as rpc:
        person = call(rpc, "accounts", "add_secretariat", email, name, CLI_ADDER, None)
    click.echo(f"added {person['id']}  {person['name']}")
    click.echo(f"Sign in at {str(settings_['PUBLIC_URL']).rstrip('/')}/signin")


@admin.command("list")
def admin_list():
    """The secretariat's people, by name: id, added at, name, e-mail address."""
    from services.cli import call, cluster, settings
    with cluster(settings()) as rpc:
        people = call(rpc, "accounts", "secretariat")
    click.echo(f"{len(people)} secretariat person(s)")
    for p in people:
        click.echo(f"  {p['id']}  {p.get('added_at') or '-'}  {p['name']}  <{p['email']}>")


@admin.command("audit")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="At most this many entries.")
def admin_audit(limit):
    """The sign-in audit, newest first: when, what (CODE_SENT, SIGNED_IN,
    REVOKED, ...), whose (a person id; `-` when no one is known) and from which
    client address. It holds no e-mail address and no code."""
    from services.cli import call, cluster, settings
    with cluster(settings()) as rpc:
        entries = call(rpc, "accounts", "audit", limit)
    for line in audit_table(entries):
        click.echo(line)


def audit_table(entries):
    """The lines of the audit's table: a header, then one line per entry,
    each column as wide as its widest cell."""
    def text(value):  # one word each: a time as ISO 8601, nothing as "-"
        return "-" if value is None or value == "" else str(
            value.isoformat() if hasattr(value, "isoformat") else value)
    rows = [tuple(text(e.get(key)) for key in ("at", "action", "person_id", "client"))
            for e in entries]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(AUDIT_COLUMNS)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [AUDIT_COLUMNS, *rows]]


def demo_sign_in(settings_, echo=click.echo):
    """After `coalition demo load`: the demo's secretariat person, added once
    (a second time is CONFLICT: skipped), and how to sign in as them or as the
    focal point of a demo member."""
    from services import demo
    from services.cli import CliError, call, cluster
    from services.common.errors import Conflict
    person = demo.SECRETARIAT_PERSON
    with cluster(settings_) as rpc:
        try:
            added = call(rpc, "accounts", "add_secretariat", person["email"], person["name"],
                         CLI_ADDER, None)
            note = f"added ({added['id']})"
        except CliError as exc:
            if not isinstance(exc.__context__, Conflict):
                raise
            note = "already there"
    echo(f"  secretariat person: {person['name']}: {note}")
    public = str(settings_["PUBLIC_URL"]).rstrip("/")
    echo(f"Sign in: open {public}/signin and ask for a code for one of")
    echo(f"  {person['email']}  (the secretariat: ADMIN)")
    for member in demo.FOUNDERS[:3] + [demo.APPLICANT]:
        echo(f"  {member['focalPoint']['email']}  (focal point of {member['name']}: MEMBER)")
    echo("  (every demo member's focal point is in services/demo.py)")
    echo(f"then read the mail with the code at {public}/dev/mail")
