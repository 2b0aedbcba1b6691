"""Loads the demo coalition (services/demo.py) through the gateway's public
GraphQL API, as a secretariat would do it: an ADMIN token for the
secretariat's steps, one MEMBER token per organisation for its stances and
its reports, no token at all for the membership application. `coalition
demo load` runs it.

The RCNF grant's allocations are adopted as any allocation is: demo members
of each GRANT_ALLOCATION round agree until its quorum is reached (no more,
to keep the load fast), the secretariat closes the round, and grants
approves the allocation on the `round_closed` event.

Loading twice reuses what is there (members by name, grants by title, the
consultation by title, allocations by member, disbursements by amount and
date, an allocation's first report) instead of duplicating it, and takes
each one on from where it stands.
"""
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from services.common.vocabulary import (DEFAULT_QUORUM, DEFAULT_RULE, SUBMITTABLE_REPORT,
                                        AllocationStatus, ConsultationKind, ConsultationStatus,
                                        GrantStatus, MemberStatus, Outcome, ReportStatus, Role,
                                        StanceValue)
from services.demo import (ALLOCATIONS, APPLICANT, CONSULTATION, DISBURSEMENTS, FOUNDERS, GRANTS,
                           RCNF_GRANT, REPORTS, ROUND_1_STANCES, ROUND_2_STANCES, Record)
from services.demo_client import (ACTIVATE_GRANT, ALLOCATION_ROUND, APPLY, CAST, CLOSE,
                                  CREATE_GRANT, DISBURSE, FIND_MEMBERS, GET_CONSULTATION,
                                  GET_GRANT, LIST_CONSULTATIONS, LIST_GRANTS, NEXT_ROUND,
                                  OPEN_CONSULTATION, PROPOSE, REGISTER, REVIEW_REPORT,
                                  SCHEDULE_REPORT, SIGN_MOU, SUBMIT_REPORT, VIEWER, DemoError,
                                  Gateway, GatewayError)
from services.gateway.auth import issue_token

V = TypeVar("V")

DEADLINE_DAYS = 14  # consultations and allocations the demo opens close this many days later


def _later(days: int = DEADLINE_DAYS) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat(timespec="seconds")


def _due(due: str | int) -> str:
    """A report's due date: as written, or a number of days after today (UTC)."""
    if isinstance(due, str):
        return due
    return (datetime.now(timezone.utc) + timedelta(days=due)).date().isoformat()


def _key(name: str) -> str:
    return name.casefold()


def _first(nodes: Iterable[Record], wanted: Callable[[Record], bool]) -> Record | None:
    return next((node for node in nodes if wanted(node)), None)


def _short(title: str, width: int = 70) -> str:
    return title if len(title) <= width else title[:width - 3] + "..."


class Loader:
    """Loads the demo coalition through one gateway, reusing what is there."""

    def __init__(self, url: str, secret: str, echo: Callable[[str], Any] = print,
                 wait_seconds: float = 20.0, poll_seconds: float = 0.5) -> None:
        self.gw = Gateway(url)
        self.secret = secret
        self.echo = echo
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.admin = issue_token(secret, Role.ADMIN, "demo-loader", ttl=timedelta(hours=1))
        self.members: dict[str, Record] = {}  # name casefolded -> member
        self.summary = {"created": 0, "reused": 0}

    def member_token(self, member: Record) -> str:
        return issue_token(self.secret, Role.MEMBER, f"demo-{member['id']}", member["id"],
                           ttl=timedelta(hours=1))

    def _wait(self, probe: Callable[[], V]) -> V:
        """probe() until truthy or wait_seconds have passed; the last value."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            value = probe()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(self.poll_seconds)

    def _admin(self, document: str, variables: Record | None, field: str,
               operation: str | None = None) -> Record:
        """One request as the secretariat; the answer's `field`."""
        answer: Record = self.gw.gql(document, variables, self.admin, operation or field)[field]
        return answer

    # ---- members -------------------------------------------------------------

    def find_member(self, name: str) -> Record | None:
        """The member with exactly this name (case-insensitively), not REJECTED."""
        return _first(self.gw.pages("members", FIND_MEMBERS, {"search": name}, self.admin,
                                    "the member search"),
                      lambda node: _key(node["name"]) == _key(name)
                      and node["status"] != MemberStatus.REJECTED)

    def ensure_founder(self, data: Record) -> Record:
        member = self.find_member(data["name"])
        if member is None:
            member = self._admin(REGISTER, {"input": data}, "registerFoundingMember",
                                 f"registerFoundingMember({data['name']})")
            self.summary["created"] += 1
        else:
            self.summary["reused"] += 1
            if member["status"] == MemberStatus.ACTIVE and not member["mouSignedAt"]:
                member = self._admin(SIGN_MOU, {"id": member["id"]}, "signMou",
                                     f"signMou({data['name']})")
        self.members[_key(data["name"])] = member
        return member

    def ensure_applicant(self, data: Record) -> tuple[Record, Record | None]:
        member = self.find_member(data["name"])
        if member is None:
            # anyone may apply, also without a token
            member = self.gw.gql(APPLY, {"input": data}, None,
                                 f"applyForMembership({data['name']})")["applyForMembership"]
            self.summary["created"] += 1
        else:
            self.summary["reused"] += 1
        self.members[_key(data["name"])] = member
        admission = None
        if member["status"] == MemberStatus.CANDIDATE:
            admission = self._wait(lambda: self.admission_of(member["id"]))
        return member, admission

    def admission_of(self, member_id: str) -> Record | None:
        return _first(self.gw.pages("consultations", LIST_CONSULTATIONS,
                                    {"kind": ConsultationKind.MEMBERSHIP_ADMISSION,
                                     "status": ConsultationStatus.OPEN},
                                    self.admin, "the consultations list"),
                      lambda node: node["subjectId"] == member_id)

    # ---- grants ----------------------------------------------------------------

    def find_grant(self, title: str) -> Record | None:
        return _first(self.gw.pages("grants", LIST_GRANTS, {}, self.admin, "the grants list"),
                      lambda node: node["title"] == title)

    def ensure_grant(self, data: Record, activate: bool = True) -> Record:
        grant = self.find_grant(data["title"])
        if grant is not None:
            grant = self._admin(GET_GRANT, {"id": grant["id"]}, "grant")
        else:
            grant = self._admin(CREATE_GRANT, {"input": data}, "createGrant",
                                f"createGrant({data['title'][:40]}...)")
        if activate and grant["status"] == GrantStatus.PIPELINE:
            grant = self._admin(ACTIVATE_GRANT, {"id": grant["id"]}, "activateGrant")
        return grant

    def ensure_allocation(self, grant: Record, spec: Record) -> str:
        member = self.members.get(_key(spec["member"]))
        if member is None:
            return "skipped: not a demo member"
        for allocation in grant["allocations"]:
            if allocation["member"]["id"] == member["id"] \
                    and allocation["status"] != AllocationStatus.REJECTED:
                return f"already {allocation['status']}"
        variables = {"input": {"grantId": grant["id"], "memberId": member["id"],
                               "amount": spec["amount"], "purpose": spec["purpose"],
                               "closesAt": _later()}}
        # the grants service learns of a new member by an event: until it has,
        # the member is NOT_FOUND there; try again for a while
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                self._admin(PROPOSE, variables, "proposeAllocation",
                            f"proposeAllocation({spec['member']})")
                return AllocationStatus.PROPOSED
            except GatewayError as exc:
                if exc.code == "NOT_FOUND" and time.monotonic() < deadline:
                    time.sleep(self.poll_seconds)
                    continue
                if exc.code == "CONFLICT":  # e.g. the member withdrew meanwhile
                    return f"skipped: {exc}"
                raise

    def settled_grant(self, grant_id: str) -> Record:
        """The grant once each allocation's consultation opened (or after wait_seconds)."""
        def settled() -> Record | None:
            grant = self._admin(GET_GRANT, {"id": grant_id}, "grant")
            pending = [a for a in grant["allocations"]
                       if a["status"] == AllocationStatus.PROPOSED and a["consultation"] is None]
            return None if pending else grant
        return self._wait(settled) or self._admin(GET_GRANT, {"id": grant_id}, "grant")

    # ---- allocations adopted, money paid, reports -----------------------------------

    def adopt(self, grant: Record) -> int:
        """Each allocation still PROPOSED whose round is OPEN: demo members
        agree up to the quorum, and the secretariat closes the round (ADOPTED;
        grants approves it by an event). The rounds are taken in parallel,
        each over a connection of its own. How many rounds were closed."""
        rounds = [(a["member"]["name"], a["consultation"]["id"]) for a in grant["allocations"]
                  if a["status"] == AllocationStatus.PROPOSED and a["consultation"]
                  and a["consultation"]["status"] == ConsultationStatus.OPEN]
        if not rounds:
            return 0
        with ThreadPoolExecutor(max_workers=min(len(rounds), 8)) as pool:
            return sum(pool.map(lambda round_: self.adopt_round(*round_), rounds))

    def adopt_round(self, name: str, consultation_id: str) -> bool:
        """Agree up to the quorum, then close; whether the round was closed."""
        gw = Gateway(self.gw.base)
        try:
            if not self.agree_to_quorum(gw, consultation_id):
                return False
            gw.gql(CLOSE, {"id": consultation_id}, self.admin, f"closeConsultation({name})")
            return True
        finally:
            gw.close()

    def agree_to_quorum(self, gw: Gateway, consultation_id: str) -> bool:
        """Demo members of the round's snapshot that have not responded agree
        until the quorum is reached; whether it is (other members of the
        snapshot, not the demo's, may make it unreachable)."""
        round_ = gw.gql(ALLOCATION_ROUND, {"id": consultation_id}, self.admin,
                        "consultation")["consultation"]
        tally = round_["tally"]
        needed = math.ceil(round_["quorum"] * tally["eligible"] - 1e-9) - tally["responded"]
        responded = {stance["member"]["id"] for stance in round_["stances"]}
        ours = {member["id"]: member for member in self.members.values()}
        voters = [ours[m["id"]] for m in round_["eligibleMembers"]
                  if m["id"] in ours and m["id"] not in responded]
        for member in voters[:max(needed, 0)]:
            gw.gql(CAST, {"c": consultation_id, "v": StanceValue.AGREE, "r": None},
                   self.member_token(member), f"castStance({member['name']})")
        return len(voters) >= needed

    def decided_grant(self, grant_id: str) -> Record:
        """The grant once no allocation waits for grants to apply its closed
        round (or after wait_seconds)."""
        def decided() -> Record | None:
            grant = self._admin(GET_GRANT, {"id": grant_id}, "grant")
            waiting = [a for a in grant["allocations"]
                       if a["status"] == AllocationStatus.PROPOSED and a["consultation"]
                       and a["consultation"]["status"] != ConsultationStatus.OPEN]
            return None if waiting else grant
        return self._wait(decided) or self._admin(GET_GRANT, {"id": grant_id}, "grant")

    def ensure_disbursement(self, allocation: Record | None, spec: Record) -> str:
        if allocation is None or allocation["status"] != AllocationStatus.APPROVED:
            return f"skipped: the allocation is {allocation and allocation['status']}"
        if any((d["amount"], d["paidOn"]) == (spec["amount"], spec["paidOn"])
               for d in allocation["disbursements"]):
            return "already there"
        try:
            self._admin(DISBURSE, {"input": {"allocationId": allocation["id"], **{
                k: spec[k] for k in ("amount", "paidOn", "reference")}}},
                "recordDisbursement", f"recordDisbursement({spec['member']})")
        except GatewayError as exc:
            if exc.code == "CONFLICT":  # e.g. more than is left of the allocation
                return f"skipped: {exc}"
            raise
        return "recorded"

    def ensure_report(self, allocation: Record | None, spec: Record) -> str:
        """The allocation's first report (scheduled if there is none), then
        submitted by its member and reviewed, as far as `spec` says."""
        if allocation is None or allocation["status"] not in (AllocationStatus.APPROVED,
                                                              AllocationStatus.ON_HOLD):
            return f"skipped: the allocation is {allocation and allocation['status']}"
        report = allocation["reports"][0] if allocation["reports"] else self._admin(
            SCHEDULE_REPORT, {"a": allocation["id"], "d": _due(spec["due"])}, "scheduleReport",
            f"scheduleReport({spec['member']})")
        if spec.get("submit") and report["status"] in SUBMITTABLE_REPORT:
            token = self.member_token(self.members[_key(spec["member"])])
            report = self.gw.gql(SUBMIT_REPORT, {"id": report["id"], "input": spec["submit"]},
                                 token, f"submitReport({spec['member']})")["submitReport"]
        if spec.get("accept") and report["status"] == ReportStatus.SUBMITTED:
            report = self._admin(REVIEW_REPORT, {"id": report["id"], "accept": True,
                                                 "note": spec["accept"]}, "reviewReport")
        return (f"{report['status']}, due {report['dueOn']}"
                + (", overdue" if report["overdue"] else ""))

    def load_rcnf(self, grant: Record) -> Record:
        """The RCNF grant's allocations adopted, its disbursements and reports."""
        closed = self.adopt(grant)
        grant = self.decided_grant(grant["id"])
        statuses = [a["status"] for a in grant["allocations"]]
        self.echo(f"    allocations: {closed} adopted now; "
                  + ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
                  + ("; those PROPOSED wait for a quorum the demo's members cannot reach alone"
                     if AllocationStatus.PROPOSED in statuses else ""))
        by_member = {_key(a["member"]["name"]): a for a in grant["allocations"]
                     if a["status"] != AllocationStatus.REJECTED}
        for spec in DISBURSEMENTS:
            result = self.ensure_disbursement(by_member.get(_key(spec["member"])), spec)
            self.echo(f"    disbursement {spec['amount']} to {spec['member']}: {result}")
        for spec in REPORTS:
            result = self.ensure_report(by_member.get(_key(spec["member"])), spec)
            self.echo(f"    report of {spec['member']}: {result}")
        return self._admin(GET_GRANT, {"id": grant["id"]}, "grant")

    # ---- the general consultation -------------------------------------------------

    def find_general(self, title: str) -> Record | None:
        return _first(self.gw.pages("consultations", LIST_CONSULTATIONS,
                                    {"kind": ConsultationKind.GENERAL}, self.admin,
                                    "the consultations list"),
                      lambda node: node["title"] == title)

    def cast_round(self, consultation: Record, plan: list[tuple[Any, ...]]) -> tuple[int, int]:
        """Cast each planned stance of a member eligible in this round."""
        eligible = {m["id"] for m in consultation["eligibleMembers"]}
        cast = replaced = 0
        for name, value, reason, *then in plan:
            member = self.members.get(_key(name))
            if member is None or member["id"] not in eligible:
                continue
            token = self.member_token(member)
            for value_, reason_ in [(value, reason)] + list(then):
                self.gw.gql(CAST, {"c": consultation["id"], "v": value_, "r": reason_}, token,
                            f"castStance({name})")
                cast += 1
            replaced += len(then)
        return cast, replaced

    def ensure_consultation(self) -> tuple[Record, str]:
        existing = self.find_general(CONSULTATION["title"])
        if existing is not None:
            return existing, "reused (stances left as they are)"
        opened = self._admin(OPEN_CONSULTATION, {"input": {
            "title": CONSULTATION["title"], "proposal": CONSULTATION["proposal"],
            "closesAt": _later(), "rule": DEFAULT_RULE, "quorum": DEFAULT_QUORUM}},
            "openConsultation")
        first, _ = self.cast_round(opened, ROUND_1_STANCES)
        closed = self._admin(CLOSE, {"id": opened["id"]}, "closeConsultation")
        outcome = closed["outcome"]
        if outcome == Outcome.ADOPTED:  # cannot happen with the planned BLOCK, but be honest
            return closed, f"round 1: {first} stances, ADOPTED"
        second_round = self._admin(NEXT_ROUND, {"id": opened["id"],
                                                "p": CONSULTATION["next_proposal"],
                                                "at": _later()}, "startNextRound")
        second, replaced = self.cast_round(second_round, ROUND_2_STANCES)
        current = self._admin(GET_CONSULTATION, {"id": opened["id"]}, "consultation")
        return current, (f"round 1: {first} stances, closed {outcome}; round 2 OPEN: "
                         f"{second} stances cast, {replaced} of them replacing an earlier one")

    # ---- all of it -----------------------------------------------------------------

    def load(self) -> Record:
        if self._admin(VIEWER, None, "viewer", "the ADMIN token")["role"] != Role.ADMIN:
            raise DemoError("the gateway did not accept the loader's ADMIN token")
        self.echo(f"Loading the demo coalition through {self.gw.endpoint}")
        applicant, admission = self.load_members()
        grants = self.load_grants()
        consultation, note = self.ensure_consultation()
        self.echo(f"  consultation: {consultation['title']} ({consultation['id']}): {note}")
        return {"members": dict(self.members), "applicant": applicant, "admission": admission,
                "grants": grants, "consultation": consultation}

    def load_members(self) -> tuple[Record, Record | None]:
        """The founders, then the applicant and its admission consultation."""
        for data in FOUNDERS:
            self.ensure_founder(data)
        self.echo(f"  founding members: {len(FOUNDERS)} ({self.summary['created']} registered, "
                  f"{self.summary['reused']} already there)")
        applicant, admission = self.ensure_applicant(APPLICANT)
        if admission:
            note = f"admission consultation {admission['id']} OPEN"
        elif applicant["status"] == MemberStatus.CANDIDATE:
            note = "admission consultation not open yet (it opens by an event; look again soon)"
        else:
            note = "no longer a candidate"
        self.echo(f"  applicant: {applicant['name']} {applicant['status']}, {note}")
        return applicant, admission

    def load_grants(self) -> dict[str, Record]:
        """The grants, active, with their allocations proposed, and the RCNF
        grant's adopted, paid and reported on; {title: grant}."""
        grants = {}
        for data in GRANTS:
            grant = grants[data["title"]] = self.ensure_grant(data)
            self.echo(f"  grant: {_short(grant['title'])} {grant['currency']} {grant['amount']} "
                      f"{grant['status']} ({grant['id']})")
        for spec in ALLOCATIONS:
            result = self.ensure_allocation(grants[spec["grant"]], spec)
            self.echo(f"    allocation {spec['amount']} to {spec['member']}: {result}")
        settled = {title: self.settled_grant(grant["id"]) for title, grant in grants.items()}
        settled[RCNF_GRANT["title"]] = self.load_rcnf(settled[RCNF_GRANT["title"]])
        return settled


def load(url: str, secret: str, echo: Callable[[str], Any] = print, **options: Any) -> Record:
    """Load the demo coalition through the gateway at `url`; a summary dict.
    Raises DemoError (one line) when the gateway does not answer or refuses."""
    return Loader(url, secret, echo, **options).load()
