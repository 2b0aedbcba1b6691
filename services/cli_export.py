"""`coalition export`: records as CSV (and IATI XML), over RabbitMQ as the `cli` user.

    coalition export consultation ID [--out FILE]    result and audit trail as CSV
    coalition export grant ID KIND [--out FILE]      a grant's allocations, disbursements
                                                     or reports as CSV
    coalition export iati [--out FILE]               every grant as one IATI 2.03 document

A file of its own so that services/cli.py stays short: it takes settings(),
cluster(), call() and CliError from there when a command runs (services/cli.py
imports this module to add the group). The rows are services/export.py's and
services/grant_export.py's; the IATI document is the grants service's.

The RPCs these commands send (services/common/permissions.py, RPC_CALLS["cli"]):
consultations get, stance_audit, proxy_audit; grants get,
allocations_by_grants, disbursements_by_allocations, reports_by_allocations,
iati_portfolio; members get_many (names).
"""
import io

import click

from services import grant_export
from services.export import HIDDEN, export_rows, results_hidden, write_csv


@click.group()
def export():
    """Export records as CSV, and the grants as IATI XML."""


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


def _member_names(rpc, call, member_ids):
    """{member id: name} of the members asked (one members.get_many call)."""
    ids = sorted({m for m in member_ids if m})
    return {m["id"]: m["name"] for m in (call(rpc, "members", "get_many", ids) if ids else [])}


CHILDREN = {"disbursements": "disbursements_by_allocations",
            "reports": "reports_by_allocations"}


def _emit(text, out, summary):
    """`text` to the file `out` (then `summary` on stdout), or to stdout."""
    if out:
        with open(out, "w", newline="", encoding="utf-8") as stream:
            stream.write(text)
        click.echo(summary)
    else:
        click.echo(text, nl=False)


@export.command("grant")
@click.argument("grant_id")
@click.argument("kind", type=click.Choice(grant_export.KINDS))
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write the CSV to this file (default: standard output).")
def export_grant(grant_id, kind, out):
    """A grant's allocations, disbursements or reports (KIND) as CSV, one row
    each, with the member's name; a report's indicators in one cell. Text
    people wrote never starts a cell as a spreadsheet formula."""
    from services.cli import CliError, call, cluster, settings
    with cluster(settings()) as rpc:
        grant = call(rpc, "grants", "get", grant_id)
        if grant is None:
            raise CliError(f"no grant with id {grant_id!r}.")
        allocations = call(rpc, "grants", "allocations_by_grants", [grant_id]).get(grant_id, [])
        ids = [a["id"] for a in allocations]
        children = (call(rpc, "grants", CHILDREN[kind], ids) if kind in CHILDREN and ids
                    else {})
        names = _member_names(rpc, call, [a.get("member_id") for a in allocations])
    table = list(grant_export.rows(kind, grant, allocations, children, names))
    buffer = io.StringIO(newline="")
    grant_export.write_rows(buffer, kind, table)
    _emit(buffer.getvalue(), out, f"wrote {out}: {len(table)} {kind[:-1]} row(s) of grant "
                                  f"{grant_id}")


@export.command("iati")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write the XML to this file (default: standard output).")
def export_iati(out):
    """Every grant, oldest first, as one IATI 2.03 `iati-activities`
    document (one `iati-activity` each), as the grants service builds it:
    `coalition export iati > activities.xml`. With no grant at all it
    fails and writes nothing: the schema wants at least one activity."""
    from services.cli import CliError, call, cluster, settings
    with cluster(settings()) as rpc:
        xml = call(rpc, "grants", "iati_portfolio")
    if _activities(xml) == 0:
        raise CliError("there is no grant yet: an IATI file needs at least one activity, "
                       "so nothing was written")
    _emit(xml, out, f"wrote {out}: {_activities(xml)} grant(s), one IATI activity each")


def _activities(xml):
    """How many iati-activity elements a document holds ("?" if it does not parse)."""
    from lxml import etree
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except (etree.XMLSyntaxError, ValueError):
        return "?"
    return len(root.findall("iati-activity"))
