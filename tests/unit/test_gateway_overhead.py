"""What the gateway does per request, on its WSGI application with fake
services (tests/unit/test_gateway_sessions.py's): a castStance asks the
members service once about its member, fresh on every request; a
request runs in its serving thread's event loop, made once per thread; and
makes only the DataLoaders it uses."""
import pytest

from services.gateway import in_process
from services.gateway.auth import MemberStatuses, issue_token
from tests.unit import test_gateway_sessions as sessions
from tests.helpers.gateway import serve_with
from tests.unit.test_gateway_sessions import SECRET, Services, gql

client = sessions.client  # the fixture: the gateway's application, its services faked

CAST = 'mutation { castStance(consultationId: "c1", value: AGREE) { value } }'
STANCE = {"id": "c1:1:m1", "consultation_id": "c1", "round": 1, "member_id": "m1",
          "value": "AGREE", "reason": None, "cast_at": "2026-01-01T00:00:00+00:00",
          "cast_by": None}


class Voting(Services):
    """Services that also take a stance; `can_vote` is the member's."""

    can_vote = True
    page: dict = {}

    def __call__(self, service, method, *args, request=None, **kwargs):
        if (service, method) == ("consultations", "cast_stance"):
            self.asked.append((service, method))
            return STANCE
        if (service, method) == ("members", "list"):
            return self.page
        if (service, method) == ("members", "get_many"):
            self.asked.append((service, method))
            return [{"id": "m1", "status": "ACTIVE", "can_vote": self.can_vote}]
        return super().__call__(service, method, *args, request=request, **kwargs)


@pytest.fixture
def services(monkeypatch):
    return serve_with(monkeypatch, Voting())


MEMBER = issue_token(SECRET, "MEMBER", "member-m1", "m1")


def test_a_cast_asks_about_its_member_once_and_afresh_on_every_request(client, services):
    for _ in range(3):
        services.asked.clear()
        answer = gql(client, CAST, MEMBER)
        assert answer.json["data"]["castStance"]["value"] == "AGREE", answer.json
        assert services.asked == [("members", "get_many"), ("consultations", "cast_stance")]
        assert answer.headers["X-RPC-Calls"] == "1"


def test_a_member_that_can_no_longer_vote_casts_nothing(client, services):
    gql(client, CAST, MEMBER)  # the status is now cached as able to vote
    services.can_vote = False
    services.asked.clear()
    answer = gql(client, CAST, MEMBER)
    assert answer.json["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert services.asked == [("members", "get_many")]


def test_what_one_request_read_is_not_fresh_for_another():
    asked = []

    def call(service, method, ids):
        asked.append(ids)
        return [{"id": ids[0], "status": "ACTIVE", "can_vote": True}]
    shared = MemberStatuses(call, ttl=60)
    first = shared.for_request()
    first.acting("m1")
    first.acting("m1", fresh=True)
    assert asked == [["m1"]]
    shared.for_request().acting("m1", fresh=True)
    shared.acting("m1", fresh=True)
    assert asked == [["m1"]] * 3


def test_a_serving_thread_makes_one_event_loop_and_leaves_nothing_on_it(client, services,
                                                                       monkeypatch):
    import asyncio
    import threading
    monkeypatch.setattr(in_process, "_threads", threading.local())
    made = []
    real = in_process.asyncio.new_event_loop
    monkeypatch.setattr(in_process.asyncio, "new_event_loop", lambda: made.append(1) or real())
    for _ in range(3):
        assert gql(client, CAST, MEMBER).json["data"]["castStance"]["value"] == "AGREE"
        # DataLoaders are coroutines, run in the same loop
        answer = gql(client, "{ viewer { member { id } } }", MEMBER)
        assert answer.json["data"]["viewer"]["member"] is not None, answer.json
    assert made == [1]
    loop = in_process._threads.loop
    assert not loop.is_running() and not asyncio.all_tasks(loop) and not loop._ready


def test_a_page_primes_its_loader_in_the_request_s_loop(client, services, monkeypatch):
    """A list resolver is synchronous, yet primes the DataLoader of its nodes
    (a future of the running loop): with no loop running it failed."""
    services.page = {"edges": [{"cursor": "a", "node": {"id": "m1", "name": "Org",
                                                          "status": "ACTIVE"}}],
                     "page_info": {"has_next_page": False, "end_cursor": "a"}, "total": None}
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as serving:  # as gunicorn's threads serve (not the main thread)
        answer = serving.submit(gql, client, "{ members(first: 5) { edges { node { id name } } } }",
                                issue_token(SECRET, "ADMIN", "admin-test")).result()
    assert answer.json["data"]["members"]["edges"] == [{"node": {"id": "m1", "name": "Org"}}], \
        answer.json


def test_a_request_makes_only_the_dataloaders_it_uses(client, services, monkeypatch):
    from services.gateway import loaders
    made = []
    monkeypatch.setattr(loaders, "LOADERS", {
        name: (lambda ctx, name=name, make=make: made.append(name) or make(ctx))
        for name, make in loaders.LOADERS.items()})
    assert gql(client, CAST, MEMBER).json["data"]["castStance"]["value"] == "AGREE"
    assert made == []
    answer = gql(client, "{ viewer { member { id } } }", MEMBER)
    assert answer.json["data"]["viewer"]["member"] is not None, answer.json
    assert made == ["member"]


def test_a_dataloader_is_made_once_per_request_and_only_by_its_name():
    from types import SimpleNamespace

    from services.gateway.auth import Viewer
    from services.gateway.loaders import Loaders
    ctx = SimpleNamespace(viewer=Viewer(), call=None)
    mine, theirs = Loaders(ctx), Loaders(ctx)
    assert mine.member is mine.member and mine.member is not theirs.member
    assert mine.my_stance is None and mine.proxies is None  # no member, no call to make
    with pytest.raises(AttributeError):
        mine.no_such_loader


def test_a_change_the_request_made_is_what_its_later_checks_see():
    """`withdrawMembership` then `castStance` in one document: the cast's
    fresh check sees the withdrawal the request itself made, not the read
    its token check made before it."""
    reads = []

    def call(service, method, ids):
        reads.append(ids)
        return [{"id": "m1", "status": "ACTIVE", "can_vote": True}]
    statuses = MemberStatuses(call, ttl=60).for_request()
    assert statuses.status("m1", fresh=True) == ("ACTIVE", True)
    statuses.remember({"id": "m1", "status": "WITHDRAWN", "can_vote": False})
    assert statuses.status("m1", fresh=True) == ("WITHDRAWN", False)
    assert reads == [["m1"]]
