"""`coalition export`: records as CSV, over RabbitMQ as the `cli` user.

    coalition export consultation ID [--out FILE]    result and audit trail as CSV

A file of its own so that services/cli.py stays short: it takes settings(),
cluster(), call() and CliError from there when a command runs (services/cli.py
imports this module to add the group). The rows are services/export.py's.
"""
import io

import click

from services.export import HIDDEN, export_rows, results_hidden, write_csv


@click.group()
def export():
    """Export records as CSV."""


@export.command("consultation")
@click.argument("consultation_id")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write the CSV to this file (default: standard output).")
def export_consultation(consultation_id, out):
    """A consultation's result (each round's outcome and tally) and its audit
    trail (every stance cast, replaced ones included, and every change of a
    proxy) as one CSV table; the `record` column says which a row is:
    consultation, round, stance or proxy. Refused while the current round's
    results are hidden (until it closes)."""
    from services.cli import CliError, call, cluster, settings
    with cluster(settings()) as rpc:
        consultation = call(rpc, "consultations", "get", consultation_id)
        if consultation is None:
            raise CliError(f"no consultation with id {consultation_id!r}.")
        if results_hidden(consultation):  # stance_audit would refuse too: CONFLICT
            raise CliError(f"consultation {consultation_id}: {HIDDEN}.")
        audit = call(rpc, "consultations", "stance_audit", consultation_id)
        proxies = call(rpc, "consultations", "proxy_audit", consultation_id)
        member_ids = sorted({e["member_id"] for e in audit} | {p["granter_id"] for p in proxies})
        names = {m["id"]: m["name"] for m in
                 (call(rpc, "members", "get_many", member_ids) if member_ids else [])}
    rows = list(export_rows(consultation, audit, names, proxies))
    if out:
        with open(out, "w", newline="", encoding="utf-8") as stream:
            write_csv(stream, rows)
        count = {kind: sum(1 for r in rows if r["record"] == kind) for kind in ("stance", "proxy")}
        click.echo(f"wrote {out}: {len(consultation['rounds'])} closed round(s), "
                   f"{count['stance']} stance(s) and {count['proxy']} proxy change(s) in the "
                   "audit trail")
    else:
        buffer = io.StringIO(newline="")
        write_csv(buffer, rows)
        click.echo(buffer.getvalue(), nl=False)
