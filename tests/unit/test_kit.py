"""The common kit without a broker: settings, typed errors over nameko's
serialisation, the event catalogue and its subscriptions."""
import ast
import inspect
import re
from pathlib import Path

import pytest
from nameko.exceptions import deserialize, serialize

from services.common import config, events, vocabulary
from services.common.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated

DOMAIN = Path(__file__).resolve().parents[3] / "shared" / "DOMAIN.md"
EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


SECRET = {"COALITION_JWT_SECRET": "s" * 40}


def test_defaults_are_sane_for_a_laptop():
    s = config.load(SECRET)
    assert s["AMQP_URI"].startswith("amqp://") and s["COALITION_ENV"] == "development"


@pytest.mark.parametrize("env,name", [
    ({**SECRET, "AMQP_URI": "http://x"}, "AMQP_URI"),
    ({**SECRET, "MONGO_URI": "nonsense"}, "MONGO_URI"),
    ({**SECRET, "HANDLER_MAX_ATTEMPTS": "many"}, "HANDLER_MAX_ATTEMPTS"),
    ({**SECRET, "COALITION_ENV": "prod"}, "COALITION_ENV"),
    ({"COALITION_ENV": "production"}, "COALITION_JWT_SECRET"),
    ({"COALITION_ENV": "production", "COALITION_JWT_SECRET": "short"}, "COALITION_JWT_SECRET"),
])
def test_bad_setting_is_one_line_naming_it(env, name):
    with pytest.raises(config.SettingsError) as exc:
        config.load(env)
    assert name in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("environment", [None, "development", "test", "production"])
@pytest.mark.parametrize("secret", [None, "", "x" * 31])
def test_no_built_in_secret_whatever_the_environment(environment, secret):
    env = {"COALITION_ENV": environment, "COALITION_JWT_SECRET": secret}
    with pytest.raises(config.SettingsError) as exc:
        config.load({k: v for k, v in env.items() if v is not None})
    assert "COALITION_JWT_SECRET" in str(exc.value) and "\n" not in str(exc.value)
    assert not hasattr(config, "DEV_SECRET")
    ok = {k: v for k, v in {**env, "COALITION_JWT_SECRET": "x" * 32}.items() if v is not None}
    assert config.load(ok)["COALITION_JWT_SECRET"] == "x" * 32


def test_a_service_exits_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        config.load_or_exit({**SECRET, "MONGO_URI": "nope"}, program="members")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MONGO_URI" in err and err.startswith("members:")


def test_production_accepts_a_long_secret():
    s = config.load({"COALITION_ENV": "production", "COALITION_JWT_SECRET": "s" * 40})
    assert s["COALITION_JWT_SECRET"] == "s" * 40


@pytest.mark.parametrize("error", [
    BadUserInput("bad", {"name": ["Too long."], "focalPoint": {"email": ["Not valid."]}}),
    NotFound("no such member"), Conflict("member is WITHDRAWN"), Forbidden("no"),
    Unauthenticated("who?"),
])
def test_typed_errors_cross_rpc_with_type_and_fields(error):
    back = deserialize(serialize(error))
    assert type(back) is type(error) and str(back) == str(error) and back.code == error.code
    if isinstance(error, BadUserInput):
        assert back.fields == {"name": ["Too long."], "focalPoint.email": ["Not valid."]}


def snake_words(text):
    return set(re.findall(r"\b([a-z]+(?:_[a-z]+)+)\b", text))


def test_catalogue_has_every_event_of_domain_md_and_the_added_ones_are_explained():
    """Every event of DOMAIN.md section 4 is in the catalogue; every event of
    the catalogue is named there, or in docs/events.md's "Added since"."""
    text = DOMAIN.read_text()
    named = snake_words(text[text.index("## 4."):text.index("## 5.")])
    named -= {"event_id", "occurred_at"}
    assert named <= set(events.CATALOGUE), named - set(events.CATALOGUE)
    guide = EVENTS_DOC.read_text()
    added = snake_words(guide[guide.index("## Added since DOMAIN.md section 4"):])
    assert set(events.CATALOGUE) - named <= added, set(events.CATALOGUE) - named - added


def test_the_event_guide_lists_every_event_with_its_publisher():
    rows = re.findall(r"^\| `([a-z_]+)` \| ([a-z]+) \|", EVENTS_DOC.read_text(), re.MULTILINE)
    assert dict(rows) == {name: publisher for name, (publisher, _) in events.CATALOGUE.items()}
    assert len(rows) == len(events.CATALOGUE)


def test_envelope_refuses_data_that_breaks_the_schema():
    with pytest.raises(events.EventSchemaError):
        events.make_envelope("member_admitted", {"member_id": "x"}, source="members")
    with pytest.raises(events.EventSchemaError):
        events.make_envelope("round_closed", {}, source="members")  # wrong publisher
    env = events.make_envelope("grant_activated", {"grant_id": "g"}, source="grants")
    assert events.load_envelope(env)["data"] == {"grant_id": "g"}
    assert set(env) == {"event_id", "event_type", "source", "occurred_at", "version", "data"}


def _handlers():
    from services.accounts.service import AccountsService
    from services.consultations.service import ConsultationsService
    from services.grants.service import GrantsService
    from services.members.service import MembersService
    from services.notifications.service import NotificationsService
    found = {}
    for cls in (MembersService, ConsultationsService, GrantsService, NotificationsService,
                AccountsService):
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            for source, event in getattr(fn, "__subscriptions__", []):
                found.setdefault((cls.name, name), set()).add(event)
                assert events.CATALOGUE[event][0] == source
    return found


def test_subscription_table_matches_the_handlers():
    declared = {k: set(v) for k, v in events.SUBSCRIPTIONS.items()}
    assert _handlers() == declared


@pytest.mark.parametrize("env,name", [({"MONGO_URI": "nope"}, "MONGO_URI"),
                                      ({"AMQP_URI": "ftp://x"}, "AMQP_URI")])
def test_a_real_service_process_exits_with_one_line_naming_the_setting(env, name):
    import os
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "services.common.runner", "members"],
                       env={**os.environ, **SECRET, **env}, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and name in r.stderr, r.stderr


def test_the_runner_starts_exactly_the_services_of_the_vocabulary():
    """runner.SERVICES is a literal (the deploy test reads it without importing
    the runner, which would monkey-patch this process with eventlet)."""
    runner = Path(config.__file__).with_name("runner.py")
    table = next(ast.literal_eval(node.value) for node in ast.parse(runner.read_text()).body
                 if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", None) == "SERVICES" for t in node.targets))
    assert tuple(table) == vocabulary.SERVICES
