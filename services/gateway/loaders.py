"""Per-request DataLoaders: every list level of a query costs one bulk RPC,
whatever the number of items (members -> allocations -> grants is 3 calls
for 5 or for 50 members).

What a viewer may learn of a member is decided by disclosure.py: the member
loader drops the members hidden from the viewer (`keeps_member`), the
consultation loaders redact the consultations about them
(`shown_consultations`), and a focal point is read for ADMIN through
`focal_point`, which members records as a read."""
from graphene.utils.dataloader import DataLoader

from services.gateway import disclosure


def _by_id(ctx, service, method, keep=None, shown=None):
    """A loader of views by id; `keep(view)` leaves out a view the viewer
    may not see (as if unknown), `shown(ctx, views)` rewrites the views."""
    async def batch(keys):
        items = ctx.call(service, method, list(keys))
        if shown is not None:
            items = await shown(ctx, items)
        found = {item["id"]: item for item in items if keep is None or keep(item)}
        return [found.get(k) for k in keys]
    return DataLoader(batch)


def _each(ctx, service, method):
    """A loader whose service answers one key per call: a key asked many
    times in a request (every secretariat person's preferences) costs one."""
    async def batch(keys):
        return [ctx.call(service, method, k) for k in keys]
    return DataLoader(batch)


# members takes at most this many ids in one read_focal_points or focal_point_reads_many
MEMBER_IDS_AT_ONCE = 1000


def _mapped(ctx, service, method, default, *extra, max_batch_size=None):
    async def batch(keys):
        result = ctx.call(service, method, list(keys), *extra)
        return [result.get(k, default) for k in keys]
    return DataLoader(batch, max_batch_size=max_batch_size)


def _consultation_by_subject(ctx):
    """The consultation of each subject (an allocation), redacted as the
    viewer must see it (disclosure.shown_consultations)."""
    async def batch(keys):
        found = ctx.call("consultations", "get_by_subjects", list(keys))
        return await disclosure.shown_consultations(ctx, [found.get(k) for k in keys])
    return DataLoader(batch)


def _focal_points(ctx):
    """ADMIN only (None otherwise: no call): the focal points of members,
    read through members `read_focal_points`, which records who read them
    (one call and one record per list level)."""
    if not ctx.viewer.is_admin():
        return None
    by = disclosure.reader(ctx.viewer)

    async def batch(keys):
        found = {one["id"]: one.get("focal_point")
                 for one in ctx.call("members", "read_focal_points", list(keys), by)}
        return [found.get(k) for k in keys]
    return DataLoader(batch, max_batch_size=MEMBER_IDS_AT_ONCE)


class Loaders:
    """The request's DataLoaders by name (LOADERS), each made on its first
    use: most requests use a few of them (a castStance none), and making
    all of them for every request cost more than the rest of its own work."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        make = LOADERS.get(name)
        if make is None:
            raise AttributeError(name)
        loader = make(self._ctx)
        setattr(self, name, loader)  # made once per request
        return loader


LOADERS = {
    # a member the viewer may not learn of is as if unknown (disclosure.py)
    "member": lambda ctx: _by_id(ctx, "members", "get_many",
                                 keep=lambda view: disclosure.keeps_member(ctx.viewer, view)),
    "grant": lambda ctx: _by_id(ctx, "grants", "get_many"),
    "consultation": lambda ctx: _by_id(ctx, "consultations", "get_many",
                                       shown=disclosure.shown_consultations),
    "allocations_by_member": lambda ctx: _mapped(ctx, "grants", "allocations_by_members", []),
    "allocations_by_grant": lambda ctx: _mapped(ctx, "grants", "allocations_by_grants", []),
    "disbursements": lambda ctx: _mapped(ctx, "grants", "disbursements_by_allocations", []),
    "allocation": lambda ctx: _by_id(ctx, "grants", "get_allocations"),
    # a grant as one IATI document (its XML text)
    "iati": lambda ctx: _mapped(ctx, "grants", "iati_many", None),
    # every report, unfiltered: the resolvers leave out what the viewer
    # may not see (services/gateway/reports.py), and ask nothing for ANONYMOUS
    "reports": lambda ctx: _mapped(ctx, "grants", "reports_by_allocations", []),
    "report": lambda ctx: _by_id(ctx, "grants", "get_reports"),
    "consultation_by_subject": lambda ctx: _consultation_by_subject(ctx),
    # who read each member's focal point (members keeps the records)
    "focal_point_reads": lambda ctx: _mapped(ctx, "members", "focal_point_reads_many", [],
                                             max_batch_size=MEMBER_IDS_AT_ONCE),
    "focal_point": lambda ctx: _focal_points(ctx),
    # of a hidden round's current stances, consultations gives only the viewer's own
    "stances": lambda ctx: _mapped(ctx, "consultations", "stances_many", [],
                                   ctx.viewer.member_id),
    # who responded in the current round, never what (Consultation.awaiting)
    "responded": lambda ctx: _mapped(ctx, "consultations", "responded_many", []),
    "eligible": lambda ctx: _mapped(ctx, "consultations", "eligible_many", []),
    # a recipient's preferences: a member id, or "secretariat"
    "preferences": lambda ctx: _each(ctx, "notifications", "preferences"),
    "my_stance": lambda ctx: (_mapped(ctx, "consultations", "my_stances", None,
                                      ctx.viewer.member_id) if ctx.viewer.member_id else None),
    "proxies": lambda ctx: _proxies(ctx),
}


def _proxies(ctx):
    """The current round's proxies the viewer sees: ADMIN all of them, a
    MEMBER those it gives or holds; None for anyone else (no call)."""
    if ctx.viewer.is_admin():
        return _mapped(ctx, "consultations", "proxies_many", [], None, True)
    if ctx.viewer.member_id:
        return _mapped(ctx, "consultations", "proxies_many", [], ctx.viewer.member_id, False)
    return None
