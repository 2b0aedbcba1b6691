"""Per-request DataLoaders: every list level of a query costs one bulk RPC,
whatever the number of items (members -> allocations -> grants is 3 calls
for 5 or for 50 members)."""
from graphene.utils.dataloader import DataLoader


def _by_id(ctx, service, method):
    async def batch(keys):
        items = ctx.call(service, method, list(keys))
        found = {item["id"]: item for item in items}
        return [found.get(k) for k in keys]
    return DataLoader(batch)


def _each(ctx, service, method):
    """A loader whose service answers one key per call: a key asked many
    times in a request (every secretariat person's preferences) costs one."""
    async def batch(keys):
        return [ctx.call(service, method, k) for k in keys]
    return DataLoader(batch)


def _mapped(ctx, service, method, default, *extra):
    async def batch(keys):
        result = ctx.call(service, method, list(keys), *extra)
        return [result.get(k, default) for k in keys]
    return DataLoader(batch)


class Loaders:
    def __init__(self, ctx):
        self.member = _by_id(ctx, "members", "get_many")
        self.grant = _by_id(ctx, "grants", "get_many")
        self.consultation = _by_id(ctx, "consultations", "get_many")
        self.allocations_by_member = _mapped(ctx, "grants", "allocations_by_members", [])
        self.allocations_by_grant = _mapped(ctx, "grants", "allocations_by_grants", [])
        self.disbursements = _mapped(ctx, "grants", "disbursements_by_allocations", [])
        self.allocation = _by_id(ctx, "grants", "get_allocations")
        # a grant as one IATI document (its XML text)
        self.iati = _mapped(ctx, "grants", "iati_many", None)
        # every report, unfiltered: the resolvers leave out what the viewer
        # may not see (services/gateway/reports.py), and ask nothing for ANONYMOUS
        self.reports = _mapped(ctx, "grants", "reports_by_allocations", [])
        self.report = _by_id(ctx, "grants", "get_reports")
        self.consultation_by_subject = _mapped(ctx, "consultations", "get_by_subjects", None)
        # of a hidden round's current stances, consultations gives only the viewer's own
        self.stances = _mapped(ctx, "consultations", "stances_many", [], ctx.viewer.member_id)
        # who responded in the current round, never what (Consultation.awaiting)
        self.responded = _mapped(ctx, "consultations", "responded_many", [])
        self.eligible = _mapped(ctx, "consultations", "eligible_many", [])
        # a recipient's preferences: a member id, or "secretariat"
        self.preferences = _each(ctx, "notifications", "preferences")
        self.my_stance = (_mapped(ctx, "consultations", "my_stances", None, ctx.viewer.member_id)
                          if ctx.viewer.member_id else None)
        self.proxies = _proxies(ctx)


def _proxies(ctx):
    """The current round's proxies the viewer sees: ADMIN all of them, a
    MEMBER those it gives or holds; None for anyone else (no call)."""
    if ctx.viewer.is_admin():
        return _mapped(ctx, "consultations", "proxies_many", [], None, True)
    if ctx.viewer.member_id:
        return _mapped(ctx, "consultations", "proxies_many", [], ctx.viewer.member_id, False)
    return None
