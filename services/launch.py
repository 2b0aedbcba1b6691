"""Start one program of a stack with its own settings:

    python -m services.launch NAME COMMAND [ARGS...]

supervisord (services/stack.py) runs every program through this. The settings
travel in supervisord's own process environment, which every program
inherits: supervisord.conf's `environment=` cannot hold every value (its
parser strips quotes and knows no escapes, and expands `%`). What belongs to
one program only (its AMQP_URI, with its own RabbitMQ password) travels as
COALITION_PROGRAM_ENV_<NAME>, a JSON object. This launcher applies its own,
removes every program's, and execs COMMAND (same pid, so supervisord still
watches it), so that no program sees another's credentials.

Standard library only: it runs before every start of every program.
"""
import json
import os
import sys
from collections.abc import Mapping

PROGRAM_ENV_PREFIX = "COALITION_PROGRAM_ENV_"


def program_env_variable(name: str) -> str:
    """Where supervisord's environment carries one program's own settings."""
    return PROGRAM_ENV_PREFIX + name.upper().replace("-", "_")


def without_program_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without any program's own settings."""
    return {k: v for k, v in environ.items() if not k.startswith(PROGRAM_ENV_PREFIX)}


def environment(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without any program's own settings, plus `name`'s."""
    env = without_program_settings(environ)
    own = environ.get(program_env_variable(name))
    if own:
        env.update({str(k): str(v) for k, v in json.loads(own).items()})
    return env


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        sys.stderr.write("usage: python -m services.launch NAME COMMAND [ARGS...]\n")
        return 2
    name, command = argv[0], argv[1:]
    os.execvpe(command[0], command, environment(name, os.environ))


if __name__ == "__main__":
    sys.exit(main())
