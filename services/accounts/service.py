"""Accounts service: who signs in, with which code, in which session
(DOMAIN.md section 7, docs/accounts.md). Entrypoints only: the rules are in
domain.py, the store's layout in dependencies.py.

Each RPC writes only inside `self.store.transaction(work)` and answers from
what `work` returns (a repeated call named by the gateway gets the kept
result: services/common/store.py). A refusal that is also audited
(a wrong code) is decided inside `work`, which returns it; it is raised after
the commit, so the audit entry stays.

Nothing here logs, audits or echoes an e-mail address or a code: log lines
name person ids, code ids and counts.
"""
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.common import member_data, paging
from services.common.errors import BadUserInput, Conflict, NotFound, Unavailable
from services.common.events import MEMBER_EVENTS
from services.common.handlers import OperatorRpc, consume_all, rpc
from services.common.remote import BoundedRpcProxy
from services.common.store import Tx, utcnow
from services.common.validation import load
from services.common.vocabulary import AuditAction, Role
from services.accounts import dependencies as deps
from services.accounts import domain
from services.accounts.schemas import (MAX_CLIENT, AuditQuery, AuditView, CodeInput,
                                       MemberIdInput, PersonInput, PersonView, RemoveInput,
                                       SessionView, SidInput, SignedInView, SignInRequest)

log = logging.getLogger(__name__)
A = AuditAction

person_view = PersonView().dump
signed_in_view = SignedInView().dump
session_view = SessionView().dump
audit_view = AuditView().dump


def client_or_none(client: object) -> str | None:
    """The client's address if it is one the schemas take, else None."""
    return client if isinstance(client, str) and len(client) <= MAX_CLIENT else None


def wrong_code() -> BadUserInput:
    """The one refusal of a code that does not sign in, whatever the reason."""
    return BadUserInput(domain.WRONG_CODE, {"code": [domain.WRONG_CODE]})


class AccountsService(OperatorRpc):
    name = "accounts"
    store = deps.accounts_store()
    members = BoundedRpcProxy("members")
    notifications = BoundedRpcProxy("notifications")

    def _secret(self) -> str:
        return str(self.store.config["COALITION_JWT_SECRET"])

    def _setting(self, name: str) -> Any:
        return self.store.config[name]

    # ---- asking for a code -----------------------------------------------------------

    @rpc
    def request_sign_in(self, address: object, client: object = None) -> bool:
        """True, always: whether the address is known, limited or malformed
        is never told. For a known address within the per-address limit, the
        address's pending codes become void, a new one is stored (its hash)
        and mailed by notifications."""
        try:
            q = load(SignInRequest(), {"address": address, "client": client})
        except BadUserInput:
            log.info("sign-in request with a malformed address or client: nothing sent")
            return True
        try:
            person = self._person_of(q["address"])
        except Unavailable:
            log.warning("sign-in request: members did not answer; nothing sent")
            return True
        code = domain.new_code()
        code_id = paging.new_id()
        kept = self.store.transaction(
            lambda tx: self._issue(tx, code_id, code, q["address"], person, q["client"],
                                   limited=True))
        if kept.get("code_id") != code_id:  # limited, unknown, or a repeated call's
            return True
        assert person is not None
        self._mail(code_id, q["address"], code, person)
        return True

    def _person_of(self, address: str) -> domain.Person | None:
        """Who signs in with `address`: a secretariat person first (people),
        else the focal point of an acting member (members), else None."""
        doc = deps.person_by_email(self.store.db, address)
        if doc is not None:
            return domain.secretariat_person(doc["_id"])
        return domain.focal_point_person(self.members.find_by_focal_point(address))

    def _issue(self, tx: Tx, code_id: str, code: str, address: str,
               person: domain.Person | None, client: str | None,
               limited: bool) -> dict[str, Any]:
        """In `tx`: count the request against the per-address limit (when
        `limited`), then void the address's pending codes and store the new
        one (audited CODE_SENT). {"code_id"} if it was stored, else {}."""
        now = utcnow()
        key = domain.address_key(self._secret(), address)
        person_id = person["id"] if person else None
        if limited and not deps.take_request(tx, key, now,
                                             self._setting("SIGN_IN_PER_ADDRESS_PER_HOUR")):
            deps.audit(tx, A.CODE_LIMITED, person_id, client, now)
            log.info("sign-in request over the per-address limit (person %s)", person_id)
            return {}
        if person is None:
            return {}
        deps.void_pending(tx, {"address_key": key}, now)
        tx.db.codes.insert_one(domain.new_code_doc(code_id, code, self._secret(), address, person,
                                                   now, self._setting("SIGN_IN_CODE_MINUTES")),
                               session=tx.session)
        deps.audit(tx, A.CODE_SENT, person_id, client, now)
        return {"code_id": code_id}

    def _mail(self, code_id: str, address: str, code: str, person: domain.Person,
              invited: str | None = None) -> bool:
        """Hand the code to notifications; False (logged) if it is not there."""
        extra = {"invited": invited} if invited is not None else {}
        try:
            self.notifications.send_sign_in(address, domain.shown(code), None,
                                            domain.recipient_of(person), **extra)
        except Exception as exc:  # its type only: the arguments hold the address and code
            log.warning("sign-in code %s (person %s) not mailed: %s", code_id, person["id"],
                        type(exc).__name__)
            return False
        log.info("sign-in code %s sent to person %s", code_id, person["id"])
        return True

    # ---- using a code ----------------------------------------------------------------

    @rpc
    def complete_sign_in(self, code: object, client: object = None) -> dict[str, Any]:
        """A new session for the code's person: {sid, expires_at (ISO text),
        person_id, role, member_id}. A wrong, used, void or expired code, or
        one whose member no longer acts, is the same BAD_USER_INPUT (field
        `code`). The code becomes USED by an update guarded by PENDING, so
        two completions at once give one session."""
        try:
            q = load(CodeInput(), {"code": code, "client": client})
        except BadUserInput:  # not even text: as wrong as any other wrong code
            q = {"code": None, "client": client_or_none(client)}
        normalised = domain.normalise_code(q["code"])
        code_hash = domain.code_hash(self._secret(), normalised) if normalised else None
        acting = self._member_check(code_hash)
        outcome = self.store.transaction(
            lambda tx: self._complete(tx, normalised, code_hash, acting, q["client"]))
        if not outcome:
            raise wrong_code()
        log.info("person %s signed in (session of %s)", outcome["person_id"], outcome["role"])
        return dict(signed_in_view(outcome))

    def _member_check(self, code_hash: str | None) -> dict[str, bool]:
        """{member id: whether it acts} for the code's member, asked of
        members before the transaction (not inside it: its retries would
        repeat the call); {} when the code is no usable focal point's."""
        if code_hash is None:
            return {}
        doc = self.store.db.codes.find_one({"hash": code_hash})
        if not domain.usable(doc, utcnow()) or doc is None or doc["person"]["role"] != Role.MEMBER:
            return {}
        member_id = doc["person"]["member_id"]
        return {member_id: domain.member_acts(self.members.get_many([member_id]), member_id)}

    def _complete(self, tx: Tx, normalised: str | None, code_hash: str | None,
                  acting: dict[str, bool], client: str | None) -> dict[str, Any]:
        """In `tx`: the session (as stored) if the code signs in, else {} and
        the failure counted and audited."""
        now = utcnow()
        doc = tx.db.codes.find_one({"hash": code_hash}, session=tx.session) if code_hash else None
        if domain.usable(doc, now) and doc is not None and self._still_acts(tx, doc, acting):
            used = tx.db.codes.update_one(
                {"_id": doc["_id"], "status": domain.CodeStatus.PENDING},
                {"$set": {"status": domain.CodeStatus.USED, "used_at": now}}, session=tx.session)
            if used.modified_count == 1:
                session = domain.new_session(secrets.token_urlsafe(24), doc["person"], now,
                                             self._setting("SESSION_HOURS"), client)
                tx.db.sessions.insert_one(session, session=tx.session)
                deps.audit(tx, A.SIGNED_IN, session["person_id"], client, now)
                return session
        if doc is not None:  # right code, but used, void, expired or no longer acting
            deps.audit(tx, A.CODE_FAILED, doc["person"]["id"], client, now)
            return {}
        person_id = self._wrong_try(tx, normalised, now) if normalised else None
        deps.audit(tx, A.CODE_FAILED, person_id, client, now)
        return {}

    def _still_acts(self, tx: Tx, doc: dict[str, Any], acting: dict[str, bool]) -> bool:
        """A focal point's member still acts (as members said just before);
        a secretariat person is still in `people`."""
        person = doc["person"]
        if person["role"] == Role.MEMBER:
            return acting.get(person["member_id"], False)
        return tx.db.people.find_one({"_id": person["id"]}, {"_id": 1},
                                     session=tx.session) is not None

    def _wrong_try(self, tx: Tx, normalised: str, now: datetime) -> str | None:
        """A code that is no stored code: if its locator finds pending codes,
        one wrong try for each of their addresses, whose pending codes become
        void at SIGN_IN_WRONG_CODES in the hour. The person the locator
        names (for the audit), or None."""
        pending = list(tx.db.codes.find({"locator": domain.locator_of(normalised),
                                         "status": domain.CodeStatus.PENDING,
                                         "expires_at": {"$gt": now}},
                                        {"address_key": 1, "person": 1}, session=tx.session))
        limit = self._setting("SIGN_IN_WRONG_CODES")
        for key in {p["address_key"] for p in pending}:
            if deps.count_wrong(tx, key, now) >= limit:
                voided = deps.void_pending(tx, {"address_key": key}, now)
                log.info("%d pending sign-in codes void after %d wrong codes", voided, limit)
        return pending[0]["person"]["id"] if pending else None

    # ---- sessions ----------------------------------------------------------------------

    @rpc
    def session(self, sid: object) -> dict[str, Any] | None:
        """The live session `sid`: {sid, person_id, role, member_id,
        expires_at (ISO text), name, email} (name and email the secretariat
        person's, None for a focal point); None if unknown, revoked or
        expired. One read (two for a secretariat person)."""
        clean = paging.clean_id(sid)
        if clean is None:
            return None
        doc = self.store.db.sessions.find_one({"_id": clean})
        if not domain.live(doc, utcnow()) or doc is None:
            return None
        name = email = None
        if doc["role"] == Role.ADMIN:
            person = self.store.db.people.find_one({"_id": doc["person_id"]})
            if person is None:
                return None
            name, email = person["name"], person["email"]
        return dict(session_view({**doc, "name": name, "email": email}))

    @rpc
    def sign_out(self, sid: object, client: object = None) -> bool:
        """Revoke the session `sid`: True if it was live, else False."""
        try:
            q = load(SidInput(), {"sid": sid, "client": client})
        except BadUserInput:
            return False

        def work(tx: Tx) -> bool:
            now = utcnow()
            return bool(deps.revoke_sessions(tx, {"_id": q["sid"]}, now, q["client"],
                                             action=A.SIGNED_OUT))
        return self.store.transaction(work)

    # ---- the secretariat -----------------------------------------------------------------

    @rpc
    def add_secretariat(self, email: object, name: object, by: object,
                        client: object = None) -> dict[str, Any]:
        """Add a secretariat person (the CLI's, for the first one): its view
        {id, email, name, added_at}; CONFLICT if the address is one already."""
        q = load(PersonInput(), {"email": email, "name": name, "by": by, "client": client})
        person = self._add(q, lambda tx, doc: {})
        log.info("secretariat person %s added by %s", person["_id"], q["by"])
        return dict(person_view(person))

    @rpc
    def invite_secretariat(self, email: object, name: object, by: object,
                           client: object = None) -> bool:
        """Add a secretariat person (CONFLICT if the address is one already)
        and mail them a sign-in code with a welcome (notifications'
        `invited`). If notifications cannot take the mail, the person is
        added all the same and SERVICE_UNAVAILABLE says so."""
        q = load(PersonInput(), {"email": email, "name": name, "by": by, "client": client})
        code = domain.new_code()
        code_id = paging.new_id()

        def issue(tx: Tx, doc: dict[str, Any]) -> dict[str, Any]:
            return self._issue(tx, code_id, code, q["email"], domain.secretariat_person(doc["_id"]),
                               q["client"], limited=False)
        person = self._add(q, issue, keep_address=False)
        log.info("secretariat person %s invited by %s", person["_id"], q["by"])
        if person.get("code_id") != code_id:  # a repeated call: the first one mailed
            return True
        if not self._mail(code_id, q["email"], code, domain.secretariat_person(person["_id"]),
                          invited=q["name"]):
            raise Unavailable("The person was added, but the invitation could not be mailed "
                              "now. They can ask for a sign-in code on the sign-in page.")
        return True

    def _add(self, q: dict[str, Any], then: Callable[[Tx, dict[str, Any]], dict[str, Any]],
             keep_address: bool = True) -> dict[str, Any]:
        """In one transaction: the person (audited SECRETARIAT_ADDED), then
        `then(tx, person)`, whose answer is merged into the person returned.
        CONFLICT if the address is a secretariat person's already. Without
        `keep_address` the answer holds no address: a named call's answer is
        kept for its repeats (services/common/store.py), and an invitation's
        caller needs none."""
        def work(tx: Tx) -> dict[str, Any]:
            now = utcnow()
            doc = domain.new_person(paging.new_id(), q["email"], q["name"], q["by"], now)
            tx.db.people.insert_one(doc, session=tx.session)
            deps.audit(tx, A.SECRETARIAT_ADDED, doc["_id"], q["client"], now)
            kept = doc if keep_address else {k: v for k, v in doc.items()
                                              if k not in ("email", "email_key")}
            return {**kept, **then(tx, doc)}
        try:
            return self.store.transaction(work)
        except DuplicateKeyError:
            raise Conflict("This address is already a secretariat person's.") from None

    @rpc
    def remove_secretariat(self, email: object, by: object, client: object = None) -> bool:
        """Remove a secretariat person and revoke their sessions and pending
        codes. NOT_FOUND if no secretariat person has the address; CONFLICT
        if they are the last one (checked and removed in one transaction)."""
        q = load(RemoveInput(), {"email": email, "by": by, "client": client})

        def work(tx: Tx) -> dict[str, Any]:
            now = utcnow()
            doc = deps.person_by_email(tx.db, q["email"], tx.session)
            if doc is None:
                return {"refused": "NOT_FOUND"}
            # conflicts with any removal at the same moment (dependencies.py)
            tx.db.guards.update_one({"_id": deps.SECRETARIAT_GUARD}, {"$inc": {"removals": 1}},
                                    upsert=True, session=tx.session)
            if tx.db.people.count_documents({}, session=tx.session) <= 1:
                return {"refused": "CONFLICT"}
            tx.db.people.delete_one({"_id": doc["_id"]}, session=tx.session)
            revoked = deps.revoke_sessions(tx, {"person_id": doc["_id"]}, now, q["client"])
            deps.void_pending(tx, {"person.id": doc["_id"]}, now)
            deps.audit(tx, A.SECRETARIAT_REMOVED, doc["_id"], q["client"], now)
            return {"person_id": doc["_id"], "revoked": len(revoked)}
        done = self.store.transaction(work)
        if done.get("refused") == "NOT_FOUND":
            raise NotFound("No secretariat person has this e-mail address.")
        if done.get("refused") == "CONFLICT":
            raise Conflict(domain.LAST_PERSON)
        log.info("secretariat person %s removed by %s; %d sessions revoked", done["person_id"],
                 q["by"], done["revoked"])
        return True

    @rpc
    def secretariat(self) -> list[dict[str, Any]]:
        """The secretariat people, by name."""
        people = sorted(self.store.db.people.find({}),
                        key=lambda d: (d["name"].casefold(), d["_id"]))
        return [dict(person_view(p)) for p in people]

    @rpc
    def audit(self, limit: object = 100) -> list[dict[str, Any]]:
        """The newest `limit` (1 to 1000) audit entries, newest first:
        {at (ISO text), action, person_id, client}."""
        q = load(AuditQuery(), {"limit": limit})
        return [dict(audit_view(d)) for d in deps.audit_listing(self.store.db, q["limit"])]

    # ---- a member's personal data (DOMAIN.md section 11) --------------------------------

    @rpc
    def member_data(self, member_id: object) -> dict[str, Any]:
        """{collection: [documents]}: all this service holds about the member's
        focal point (deps.MEMBER_DATA); read-only; all empty for a bad id."""
        return member_data.export(self.store.db, deps.MEMBER_DATA, member_id)

    @rpc
    def erase_member_data(self, member_id: object) -> list[str]:
        """Delete the codes and sessions of the member's focal point (its audit
        stays) in one transaction; what was removed, in words ([] if none)."""
        clean = load(MemberIdInput(), {"member_id": member_id})["member_id"]
        codes, sessions = self.store.transaction(
            lambda tx: list(deps.erase_member(tx, clean, utcnow())))
        log.info("member %s: %d codes and %d sessions of its focal point erased", clean, codes,
                 sessions)
        return domain.erasure_words(codes, sessions)

    # ---- members that stop acting ------------------------------------------------------

    @consume_all("members", MEMBER_EVENTS)
    def on_member_event(self, data: dict[str, Any], tx: Tx, envelope: dict[str, Any]) -> None:
        """A member now WITHDRAWN or REJECTED: every live session of its focal
        point is revoked (audit REVOKED each) and its pending codes are void.
        Applied twice, the second finds nothing live."""
        if not domain.revokes(data["status"]):
            return
        now = utcnow()
        revoked = deps.revoke_sessions(tx, {"member_id": data["member_id"]}, now, None)
        voided = deps.void_pending(tx, {"person.member_id": data["member_id"]}, now)
        log.info("member %s is %s: %d sessions revoked, %d codes void", data["member_id"],
                 data["status"], len(revoked), voided)

