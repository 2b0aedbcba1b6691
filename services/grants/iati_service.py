"""The IATI entrypoints of the grants service (DOMAIN.md section 10), a part
of GrantsService (service.py) kept in a file of its own. The XML is built
by iati.py (pure); this reads what it needs and asks the members service
for the names, organisation types and visibility of the members it names
(a MEMBERS_ONLY member is named UNDISCLOSED_MEMBER only: iati.py).

Invariants: an export is three reads of the store (grants, their
allocations, their disbursements) and at most one call to members
(`get_many`, none when no member is named), whatever the number of grants;
it changes nothing. Members are named as the members service has them at
the time of the export.
"""
from services.common import paging
from services.common.handlers import rpc
from services.common.remote import BoundedRpcProxy
from services.common.store import utcnow
from services.grants import iati


def by_grant(docs):
    """{grant_id: [docs]}, each list oldest first."""
    result = {}
    for doc in sorted(docs, key=lambda d: d["_id"]):
        result.setdefault(doc["grant_id"], []).append(doc)
    return result


class IatiEntrypoints:
    """Mixed into GrantsService: `self.store` is its store."""

    members = BoundedRpcProxy("members")

    def _activities(self, grants):
        """[(grant_id, iati-activity element)] of `grants`, oldest first."""
        grants = sorted(grants, key=lambda g: g["_id"])
        ids = [g["_id"] for g in grants]
        db = self.store.db
        allocations = list(db.allocations.find({"grant_id": {"$in": ids}})) if ids else []
        disbursements = list(db.disbursements.find({"grant_id": {"$in": ids}})) if ids else []
        wanted = iati.member_ids(allocations, disbursements)
        members = {m["id"]: m for m in self.members.get_many(wanted)} if wanted else {}
        allocations_of, disbursements_of = by_grant(allocations), by_grant(disbursements)
        now = utcnow()
        return [(g["_id"], iati.activity(g, allocations_of.get(g["_id"], []),
                                         disbursements_of.get(g["_id"], []), members,
                                         self.store.config, now))
                for g in grants]

    @rpc
    def iati_many(self, grant_ids):
        """{grant_id: the grant as a whole iati-activities document (XML
        text) with its one activity}; unknown ids are left out."""
        ids = paging.clean_ids(grant_ids)
        grants = list(self.store.db.grants.find({"_id": {"$in": ids}})) if ids else []
        now = utcnow()
        return {grant_id: iati.to_text(iati.document([element], now))
                for grant_id, element in self._activities(grants)}

    @rpc
    def iati_portfolio(self):
        """Every grant, oldest first, in one iati-activities document (XML
        text). With no grant at all the document holds no activity (the
        schema wants one: there is nothing to publish yet)."""
        elements = [element for _, element in self._activities(self.store.db.grants.find())]
        return iati.to_text(iati.document(elements, utcnow()))
