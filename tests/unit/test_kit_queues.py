"""The rules of services/common/queues.py and queue_migration.py's catalogue,
without a broker (tests/integration/test_queue_types.py runs them on one)."""
import re

import pytest

from services.common import broker, permissions
from services.common import config as settings
from services.common.events import CATALOGUE, SUBSCRIPTIONS, consumer_queues, queue_name
from services.common.queue_migration import catalogue, own_queues
from services.common.queues import (DEAD_LETTER_QUEUE_LIMIT, DELIVERY_LIMIT, dead_letter_exchange,
                                    dead_letter_queue, policies, queue_arguments)
from services.common.vocabulary import SERVICES


def test_quorum_is_the_default_and_classic_is_named_too():
    loaded = settings.load({"COALITION_JWT_SECRET": "s" * 40})
    assert loaded["QUEUE_TYPE"] == "quorum"
    assert queue_arguments(loaded) == {"x-queue-type": "quorum"}
    assert queue_arguments({"QUEUE_TYPE": "classic"}) == {"x-queue-type": "classic"}
    with pytest.raises(settings.SettingsError, match="QUEUE_TYPE"):
        settings.load({"COALITION_JWT_SECRET": "s" * 40, "QUEUE_TYPE": "mirrored"})


def _policy_of(queue, found):
    """The policy RabbitMQ applies: the matching one of highest priority
    (ours never overlap, which this checks)."""
    matching = [p for p in found if re.search(p["pattern"], queue)]
    assert len(matching) <= 1, (queue, [p["name"] for p in matching])
    return matching[0] if matching else None


def test_each_event_queue_dead_letters_to_its_own_service_and_rpc_queues_only_limit():
    found = policies("/")
    for (service, method), event_types in SUBSCRIPTIONS.items():
        for event_type in event_types:
            queue = queue_name(CATALOGUE[event_type][0], event_type, service, method)
            policy = _policy_of(queue, found)
            assert policy["definition"]["dead-letter-exchange"] == dead_letter_exchange(service)
            assert policy["definition"]["delivery-limit"] == DELIVERY_LIMIT
            assert policy["definition"]["dead-letter-strategy"] == "at-least-once"
    for service in SERVICES:
        assert _policy_of(f"rpc-{service}", found)["definition"] == {
            "delivery-limit": DELIVERY_LIMIT}
        # the last stop: a limit never reached (RabbitMQ 4's default is 20), no exchange
        assert _policy_of(dead_letter_queue(service), found)["definition"] == {
            "delivery-limit": DEAD_LETTER_QUEUE_LIMIT}
        assert _policy_of(f"rpc.reply-{service}-1-2-3-4-5", found) is None
        assert _policy_of(f"{dead_letter_queue(service)}.migrating", found) is None
    # a name that only looks like one of a service's queues is not taken for it
    assert _policy_of("evt-members-x--grantsy.on_member_event", found) is None
    assert _policy_of("rpc-members-2", found) is None


def test_every_definition_carries_the_policies():
    made = broker.definitions({"members": ("m", "p" * 40)}, "v")
    assert made["policies"] == policies("v")
    assert {p["vhost"] for p in made["policies"]} == {"v"}


def test_a_service_may_declare_and_consume_its_dead_letters_and_nobody_writes_there():
    for service in SERVICES:
        grant = permissions.grant(service)
        assert permissions.allows(grant.configure, dead_letter_queue(service))
        assert permissions.allows(grant.read, dead_letter_queue(service))
        assert permissions.allows(grant.configure, dead_letter_exchange(service))
        assert permissions.allows(grant.read, dead_letter_exchange(service))
        for process in permissions.PROCESSES:  # the broker dead-letters, no process
            assert not permissions.allows(permissions.grant(process).write,
                                          dead_letter_exchange(service))
        for other in set(SERVICES) - {service}:
            assert not permissions.allows(grant.read, dead_letter_queue(other))


def test_the_migration_catalogue_holds_every_durable_queue_once():
    names = [spec.name for spec in catalogue()]
    assert len(names) == len(set(names))
    expected = {f"rpc-{s}" for s in SERVICES} | {dead_letter_queue(s) for s in SERVICES}
    expected |= {name for s in SERVICES for _, name in consumer_queues(s)}
    assert set(names) == expected
    for service in SERVICES:  # a service checks its own queues at start
        assert set(own_queues(service)) <= set(names)
        assert all(f"--{service}." in q for q in own_queues(service) if q.startswith("evt-"))
