"""The gateway's own part of notifications, on the real schema without any
service: the API's enum of kinds, the cost of a page, and that a request
without a token asks no service anything. What each token reads, marks and
sets through the real services is tests/integration/test_notifications_e2e.py
and tests/integration/test_preferences.py."""
from types import SimpleNamespace

import pytest

from services.common.vocabulary import NotificationKind
from services.gateway.auth import MemberStatuses, Viewer
from services.gateway.schema import schema
from tests.unit.test_gateway_limits import cost

PAGE = ("query($u: Boolean) { notifications(unreadOnly: $u, first: 10) { totalCount unreadCount "
        "pageInfo { hasNextPage endCursor } edges { cursor node { id kind at subject body link "
        "read } } } }")


@pytest.mark.parametrize("query", [PAGE, 'mutation { markNotificationsRead(ids: ["n1"]) }',
                                   'mutation { setPreferences(input: {reminders: false}) '
                                   '{ reminders } }'])
def test_without_a_token_nothing_is_asked(query):
    calls = []

    def call(service, method, *args):
        calls.append((service, method))
    ctx = SimpleNamespace(viewer=Viewer(), call=call, members=MemberStatuses(call, ttl=60))
    result = schema.execute(query, context_value=ctx)
    assert result.errors[0].original_error.code == "UNAUTHENTICATED"
    assert calls == []


def test_the_api_shows_every_kind_but_sign_in():
    kinds = set(schema.graphql_schema.type_map["NotificationKind"].values)
    assert kinds == {k.value for k in NotificationKind} - {"SIGN_IN"}
    language = schema.graphql_schema.type_map["Member"].fields["language"]
    assert str(language.type) == "Language!"


def test_a_page_of_notifications_costs_its_first_like_every_page():
    assert cost("{ notifications(first: 20) { edges { node { id } } } }") == 1 + 20 * 2
    assert cost("{ notifications { totalCount edges { node { id } } } }") == 1 + 50 * 2
    q = "query($n: Int) { notifications(first: $n) { edges { node { id } } } }"
    assert cost(q, {"n": 3}) == 1 + 3 * 2
