"""`coalition erasures list` and `coalition erasures replay FILE`
(services/cli_erasures.py) against the real stack, as the operator runs
them after restoring a backup: every service erases again, an id this store
does not have is skipped, a refusal fails the command after the others.
Other tests share this stack: assertions are on this module's members."""
import uuid

from click.testing import CliRunner

from services.cli import coalition
from services.stack import free_port
from tests.support import member_input

FOCAL_POINT_REMOVED = "the focal point's name, e-mail address and phone from the member's record"


def run(stack, *args, env=None):
    """The CLI as an operator runs it: its own settings, its own broker user."""
    return CliRunner().invoke(coalition, list(args), env={**stack.cli_env, **(env or {})},
                              catch_exceptions=False)


def left(stack):
    """A new member that withdrew (its personal data may be erased)."""
    with stack.rpc() as rpc:
        found = rpc.members.register_founding_member(member_input())
        return rpc.members.withdraw_membership(found["id"])


def acting(stack):
    with stack.rpc() as rpc:
        return rpc.members.register_founding_member(member_input())


def listed(stack):
    result = run(stack, "erasures", "list")
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_replay_erases_each_member_in_the_file_and_list_shows_them(stack, tmp_path):
    first, second = left(stack), left(stack)
    unknown = uuid.uuid4().hex
    erased_file = tmp_path / "erased.txt"
    erased_file.write_text(f"# erased before the restore\n\n{first['id']}\n  {unknown}  \n"
                           f"{second['id']}\n{first['id']}\n")
    result = run(stack, "erasures", "replay", str(erased_file))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{first['id']}: erased; removed {FOCAL_POINT_REMOVED}")
    assert lines[1] == f"{unknown}: not found, skipped"
    assert lines[2].startswith(f"{second['id']}: erased; removed {FOCAL_POINT_REMOVED}")
    assert lines[3] == "3 of 3 member id(s) done"
    for member in (first, second):
        stored = stack.db("members").members.find_one({"_id": member["id"]})
        assert stored["focal_point"] is None and stored["erased_by"] == "cli"
        assert member["focal_point"]["email"] not in result.output
    ids = listed(stack)
    assert ids.index(first["id"]) < ids.index(second["id"]) and unknown not in ids

    again = run(stack, "erasures", "replay", str(erased_file))  # harmless
    assert again.exit_code == 0, again.output
    assert f"{first['id']}: erased; nothing left to remove" in again.stdout.splitlines()
    history = stack.db("members").members.find_one({"_id": first["id"]})["history"]
    assert [h["note"] for h in history].count("Personal data erased") == 1


def test_replay_reports_a_refusal_and_fails_after_the_others(stack, tmp_path):
    active, gone = acting(stack), left(stack)
    erased_file = tmp_path / "erased.txt"
    erased_file.write_text(f"{active['id']}\n{gone['id']}\n")
    result = run(stack, "erasures", "replay", str(erased_file))
    assert result.exit_code == 1, result.output
    assert f"coalition: {active['id']}: members: This member is ACTIVE" in result.stderr
    assert f"{gone['id']}: erased; removed" in result.stdout
    assert "1 of 2 member id(s) done" in result.stdout
    assert result.stderr.strip().endswith(f"1 erasure(s) failed: {active['id']}")
    assert stack.db("members").members.find_one({"_id": active["id"]})["focal_point"] is not None
    assert active["id"] not in listed(stack)


def test_replay_reads_standard_input_and_refuses_a_missing_file(stack, tmp_path):
    gone = left(stack)
    result = CliRunner().invoke(coalition, ["erasures", "replay", "-"], input=f"{gone['id']}\n",
                                env=stack.cli_env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert gone["id"] in listed(stack)
    missing = run(stack, "erasures", "replay", str(tmp_path / "nowhere.txt"))
    assert missing.exit_code == 2 and "nowhere.txt" in missing.output


def test_erasures_without_a_broker_fail_in_one_line(stack, tmp_path):
    env = {"AMQP_URI": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    ids = tmp_path / "ids.txt"
    ids.write_text("m1\n")
    for args in (["erasures", "list"], ["erasures", "replay", str(ids)]):
        result = run(stack, *args, env=env)
        assert result.exit_code == 1, args
        assert result.stderr.strip().count("\n") == 0
        assert "broker" in result.stderr and "guest:guest" not in result.stderr
