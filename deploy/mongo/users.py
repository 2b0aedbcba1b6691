"""docker-compose.yml's `mongo-init`: the replica set and one MongoDB user
per process, each allowed to read and write its own database only.

    python /coalition/mongo_users.py      (in our image, at every `up`)

Compose's MongoDB runs with a key file, so with authorization on; its only
user at first is `root`, made by the image from MONGO_ROOT_PASSWORD. As
root, this script
1. initiates the one-member replica set `rs0` (transactions need one), if
   it is not yet, and waits until the member is a writable primary;
2. creates or updates, in the `admin` database, user `<process>` for each
   process that opens the store (the five services and the gateway), with
   the password MONGO_<PROCESS>_PASSWORD and the single role readWrite on
   `<MONGO_DB_PREFIX>_<process>` (services/common/store.py names them so).
   The CLI opens no store (it talks RPC only) and gets no user.

Each run sets every user's password and roles again, so a password changed
in .env takes effect at the next `docker compose up`. Passwords are never
printed. Exit status 2 and one line on a bad setting; 1 if the store did not
become writable in time.
"""
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from services.common.broker import PASSWORD_RULE
from services.common.vocabulary import SERVICES

# the processes that open the store: the services and the gateway (its
# idempotency keys and rate limits, services/gateway/store.py)
STORE_USERS = (*SERVICES, "gateway")
ROOT_USER = "root"
HOST = "mongo:27017"
REPLICA_SET = "rs0"
PREFIX_RULE = re.compile(r"^[A-Za-z0-9_]{1,40}$")  # as MONGO_DB_PREFIX in config.py
NOT_YET_INITIALIZED = 94  # replSetGetStatus before replSetInitiate
WAIT_SECONDS = 120.0


class SetupError(Exception):
    """A setting is missing or malformed; str() is one line naming it."""


class NotReady(Exception):
    """The store did not become a writable primary in time."""


def password_variable(process: str) -> str:
    return f"MONGO_{process.upper()}_PASSWORD"


def _password(environ: Mapping[str, str], variable: str) -> str:
    value = environ.get(variable, "")
    if "CHANGE_ME" in value or not PASSWORD_RULE.match(value):
        raise SetupError(f"invalid setting {variable}: it must be a random password of at least "
                         "32 URL-safe characters (python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe(48))')")
    return value


def plan(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """The users to create or update: name, password, roles (one per process)."""
    prefix = environ.get("MONGO_DB_PREFIX") or "coalition"
    if not PREFIX_RULE.match(prefix):
        raise SetupError("invalid setting MONGO_DB_PREFIX: 1 to 40 letters, digits or _")
    return [{"user": process, "pwd": _password(environ, password_variable(process)),
             "roles": [{"role": "readWrite", "db": f"{prefix}_{process}"}]}
            for process in STORE_USERS]


def replica_set_config(host: str = HOST) -> dict[str, Any]:
    return {"_id": REPLICA_SET, "members": [{"_id": 0, "host": host}]}


Command = Callable[..., dict[str, Any]]  # admin.command(name, value, **fields)


def ensure_replica_set(command: Command, host: str = HOST) -> bool:
    """Initiate the replica set unless it is; True if this call initiated it."""
    from pymongo.errors import OperationFailure
    try:
        command("replSetGetStatus")
        return False
    except OperationFailure as exc:
        if exc.code != NOT_YET_INITIALIZED:
            raise
    command("replSetInitiate", replica_set_config(host))
    return True


def wait_for_primary(command: Command, timeout: float = WAIT_SECONDS,
                     sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once this member is a writable primary; NotReady after `timeout`."""
    deadline = time.monotonic() + timeout
    while not command("hello").get("isWritablePrimary"):
        if time.monotonic() > deadline:
            raise NotReady(f"the store is not a writable primary after {timeout:g}s")
        sleep(0.5)


def ensure_user(command: Command, user: Mapping[str, Any]) -> str:
    """Create the user, or set its password and roles: 'created' or 'updated'."""
    found = command("usersInfo", user["user"]).get("users")
    verb = "updateUser" if found else "createUser"
    command(verb, user["user"], pwd=user["pwd"], roles=user["roles"])
    return "updated" if found else "created"


def connect(environ: Mapping[str, str]) -> Any:
    """A client to the one member, as root (directly: no replica set yet)."""
    from pymongo import MongoClient
    return MongoClient(environ.get("MONGO_HOST", HOST), directConnection=True,
                       username=ROOT_USER, password=_password(environ, "MONGO_ROOT_PASSWORD"),
                       authSource="admin", serverSelectionTimeoutMS=int(WAIT_SECONDS * 1000))


def run(environ: Mapping[str, str], client: Any, out: Callable[[str], None] = print) -> None:
    users = plan(environ)  # every setting checked before anything changes
    command = client.admin.command
    if ensure_replica_set(command, environ.get("MONGO_HOST", HOST)):
        out(f"mongo-init: replica set {REPLICA_SET} initiated")
    wait_for_primary(command)
    for user in users:
        roles = ", ".join(f"{r['role']}@{r['db']}" for r in user["roles"])
        out(f"mongo-init: user {user['user']} {ensure_user(command, user)} ({roles})")


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    from pymongo.errors import PyMongoError
    try:
        plan(environ)
        client = connect(environ)
        try:
            run(environ, client)
        finally:
            client.close()
    except SetupError as exc:
        sys.stderr.write(f"mongo-init: {exc}\n")
        return 2
    except NotReady as exc:
        sys.stderr.write(f"mongo-init: {exc}\n")
        return 1
    except PyMongoError as exc:  # its text may name the host, never a password
        sys.stderr.write(f"mongo-init: the store refused or did not answer: "
                         f"{type(exc).__name__}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
