"""A probe consumer for the kit's integration tests: it reacts to real
member_registered events through the real @consume machinery, and fails on
demand (per member name) to exercise retries and the dead-letter queue."""
from services.common.handlers import OperatorRpc, consume, rpc
from services.common.store import MongoStore


class ProbeService(OperatorRpc):
    name = "probe"
    store = MongoStore()

    @consume("members", "member_registered")
    def on_member_registered(self, data, tx, envelope):
        name = data["name"]
        healed = tx.db.switches.find_one({"_id": name}, session=tx.session)
        tx.db.attempts.update_one({"_id": name}, {"$inc": {"n": 1}}, upsert=True)  # outside tx
        if "fail-always" in name and not healed:
            raise RuntimeError(f"probe told to fail on {name}")
        tx.db.effects.update_one({"_id": name}, {"$inc": {"applied": 1}}, upsert=True,
                                 session=tx.session)

    @rpc
    def heal(self, name):
        self.store.db.switches.insert_one({"_id": name})
