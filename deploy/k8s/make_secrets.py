"""Make every Secret that deploy/k8s references, with new random passwords,
and hand them to `kubectl create` on its standard input: never in a file,
never on a command line, never printed.

    read -rs SMTP_URL && export SMTP_URL     # smtp://USER:PASSWORD@host:587?starttls=true
    .venv/bin/python deploy/k8s/make_secrets.py --namespace coalition
    .venv/bin/python deploy/k8s/make_secrets.py --dry-run   # names and keys only
    .venv/bin/python deploy/k8s/make_secrets.py --refresh-definitions

--refresh-definitions makes only coalition-rabbitmq-definitions again, from
the passwords the coalition-amqp-* Secrets hold, for a release whose
permissions or queue policies changed (then restart the broker's nodes, which
import it at boot).

The Secrets (docs/operator-guide.md, "From one host to a cluster"):
- coalition-jwt              COALITION_JWT_SECRET, for every process;
- coalition-amqp-<process>   AMQP_URI with the process's own broker user
                             (services/common/permissions.py), one per process;
- coalition-amqp-admin       AMQP_ADMIN_URI, the broker's administrator, for
                             the queue migration Job only;
- coalition-rabbitmq-definitions  definitions.json: the users (salted hashes of
                             the passwords above), their permissions and the
                             queue policies, as `python -m services.common.broker
                             definitions FILE` writes them; every broker node
                             imports it at boot (base/rabbitmq.yaml);
- coalition-mongo-<user>-password  password, for each store user of
                             base/mongodb.yaml (the MongoDB operator then writes
                             each user's connection string, coalition-mongo-<user>-uri);
- coalition-smtp             SMTP_URL, the notifications service's only.
It refuses to run while any of them exists: new passwords for some Secrets
and not the others would lock processes out. To change them all, see the
guide ("Rotating the Secrets").
"""
import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

from services.common import broker
from services.common.smtp_url import parse_smtp_url
from services.common.vocabulary import SERVICES

BROKER_SERVICE = "coalition-rabbitmq"  # the RabbitmqCluster's name, so its Service's
STORE_USERS = (*SERVICES, "gateway", "backup")  # the users of base/mongodb.yaml
Run = Callable[..., subprocess.CompletedProcess]


class SecretsError(Exception):
    """One line for the operator."""


def new_password() -> str:
    return secrets.token_urlsafe(48)  # URL-safe: it goes into AMQP URIs as it is


def amqp_uri(user: str, password: str, namespace: str) -> str:
    return f"amqp://{user}:{password}@{BROKER_SERVICE}.{namespace}.svc:5672/"


def secret(name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "coalition"}},
            "stringData": dict(data)}


def broker_secrets(namespace: str) -> list[dict[str, Any]]:
    """Each process's AMQP_URI, the administrator's, and the definitions
    (hashes of the same passwords) the broker imports."""
    passwords = {process: new_password() for process in broker.PROCESSES}
    admin = new_password()
    environ = {broker.password_variable(p): pw for p, pw in passwords.items()}
    environ[broker.ADMIN_PASSWORD_VARIABLE] = admin
    definitions = json.dumps(broker.compose_definitions(environ), indent=2, sort_keys=True)
    out = [secret(f"coalition-amqp-{process}",
                  {"AMQP_URI": amqp_uri(process, password, namespace)})
           for process, password in sorted(passwords.items())]
    out.append(secret("coalition-amqp-admin",
                      {"AMQP_ADMIN_URI": amqp_uri(broker.ADMIN_USER, admin, namespace)}))
    out.append(secret("coalition-rabbitmq-definitions", {"definitions.json": definitions}))
    return out


def all_secrets(namespace: str, smtp_url: str) -> list[dict[str, Any]]:
    try:
        parse_smtp_url(smtp_url)
    except ValueError as exc:  # its text never names the password
        raise SecretsError(f"invalid SMTP_URL: {exc}") from None
    out = [secret("coalition-jwt", {"COALITION_JWT_SECRET": new_password()})]
    out += broker_secrets(namespace)
    out += [secret(f"coalition-mongo-{user}-password", {"password": new_password()})
            for user in STORE_USERS]
    out.append(secret("coalition-smtp", {"SMTP_URL": smtp_url}))
    return out


def existing(kubectl: Sequence[str], namespace: str, run: Run) -> set[str]:
    """The names of the Secrets in the namespace (none if it does not exist yet)."""
    result = run([*kubectl, "-n", namespace, "get", "secrets", "-o", "name"],
                 capture_output=True, text=True)
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return set()
        raise SecretsError(f"kubectl get secrets failed: {result.stderr.strip()[:300]}")
    return {line.removeprefix("secret/") for line in result.stdout.split()}


def create(kubectl: Sequence[str], namespace: str, items: list[dict[str, Any]],
           run: Run) -> None:
    """All of them in one `kubectl create`, the values on its standard input."""
    clashes = sorted(existing(kubectl, namespace, run) & {s["metadata"]["name"] for s in items})
    if clashes:
        raise SecretsError(f"these Secrets exist already: {', '.join(clashes)}; nothing was "
                           "changed (to replace them all: docs/operator-guide.md, "
                           "\"Rotating the Secrets\")")
    listing = {"apiVersion": "v1", "kind": "List", "items": items}
    result = run([*kubectl, "-n", namespace, "create", "-f", "-"],
                 input=json.dumps(listing), capture_output=True, text=True)
    if result.returncode != 0:
        raise SecretsError(f"kubectl create failed: {result.stderr.strip()[:300]}")


def current_passwords(kubectl: Sequence[str], namespace: str, run: Run) -> dict[str, str]:
    """{RABBITMQ_<PROCESS>_PASSWORD: password} read back from the AMQP URI Secrets."""
    environ = {}
    names = {process: f"coalition-amqp-{process}" for process in broker.PROCESSES}
    names[broker.ADMIN_USER] = "coalition-amqp-admin"
    for process, name in names.items():
        result = run([*kubectl, "-n", namespace, "get", "secret", name, "-o", "json"],
                     capture_output=True, text=True)
        if result.returncode != 0:
            raise SecretsError(f"kubectl get secret {name} failed: {result.stderr.strip()[:300]}")
        [encoded] = json.loads(result.stdout)["data"].values()
        password = unquote(urlparse(base64.b64decode(encoded).decode()).password or "")
        variable = (broker.ADMIN_PASSWORD_VARIABLE if process == broker.ADMIN_USER
                    else broker.password_variable(process))
        environ[variable] = password
    return environ


def refresh_definitions(kubectl: Sequence[str], namespace: str, run: Run) -> None:
    """The definitions Secret again, with today's permissions and policies."""
    definitions = broker.compose_definitions(current_passwords(kubectl, namespace, run))
    item = secret("coalition-rabbitmq-definitions",
                  {"definitions.json": json.dumps(definitions, indent=2, sort_keys=True)})
    result = run([*kubectl, "-n", namespace, "apply", "-f", "-"], input=json.dumps(item),
                 capture_output=True, text=True)
    if result.returncode != 0:
        raise SecretsError(f"kubectl apply failed: {result.stderr.strip()[:300]}")


def describe(items: list[dict[str, Any]]) -> str:
    """Names and keys, never values."""
    return "\n".join(f"{s['metadata']['name']}: {', '.join(sorted(s['stringData']))}"
                     for s in items)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         run: Run = subprocess.run) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespace", default="coalition")
    parser.add_argument("--kubectl", default="kubectl", help="the kubectl command (may hold "
                        "arguments, as 'kubectl --context prod')")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the Secrets' names and keys; create nothing")
    parser.add_argument("--refresh-definitions", action="store_true",
                        help="make coalition-rabbitmq-definitions again from the passwords "
                        "of the coalition-amqp-* Secrets")
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        if args.refresh_definitions:
            refresh_definitions(args.kubectl.split(), args.namespace, run)
            print(f"make_secrets: coalition-rabbitmq-definitions made again in namespace "
                  f"{args.namespace}; restart the broker's nodes to import it")
            return 0
        if not environ.get("SMTP_URL"):
            raise SecretsError("set SMTP_URL in the environment (your mail provider's; "
                               "docs/operator-guide.md, \"Mail\")")
        items = all_secrets(args.namespace, environ["SMTP_URL"])
        if not args.dry_run:
            create(args.kubectl.split(), args.namespace, items, run)
    except SecretsError as exc:
        sys.stderr.write(f"make_secrets: {exc}\n")
        return 2
    verb = "would create" if args.dry_run else "created"
    print(f"make_secrets: {verb} in namespace {args.namespace}:\n{describe(items)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
