"""Settings from environment variables, validated at start-up.

A service started with a missing or malformed setting exits with one line
naming it (see `load_or_exit`), instead of failing later in a worker.
"""
import os
import sys
from urllib.parse import urlparse

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

DEV_SECRET = "coalition-dev-secret-change-me-0123456789"  # never accepted in production
MIN_SECRET_LENGTH = 32


def _url(schemes):
    def check(value):
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not (parsed.hostname or parsed.netloc):
            raise ValidationError(f"must be a URL with scheme {' or '.join(sorted(schemes))}")
    return check


class SettingsSchema(Schema):
    """Every setting, its default for a local machine, and its rule."""

    COALITION_ENV = fields.String(load_default="development",
                                  validate=validate.OneOf(["development", "test", "production"]))
    AMQP_URI = fields.String(load_default="amqp://guest:guest@127.0.0.1:5672/",
                             validate=_url({"amqp", "amqps"}))
    MONGO_URI = fields.String(load_default="mongodb://127.0.0.1:27027/?directConnection=true",
                              validate=_url({"mongodb", "mongodb+srv"}))
    MONGO_DB_PREFIX = fields.String(load_default="coalition",
                                    validate=validate.Regexp(r"^[A-Za-z0-9_]{1,40}$"))
    COALITION_JWT_SECRET = fields.String(load_default=DEV_SECRET)
    CONSULTATION_DEFAULT_DAYS = fields.Integer(load_default=14, validate=validate.Range(min=1, max=365))
    DEADLINE_CHECK_SECONDS = fields.Float(load_default=2.0, validate=validate.Range(min=0.1, max=60))
    HANDLER_MAX_ATTEMPTS = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))
    HANDLER_RETRY_BASE_SECONDS = fields.Float(load_default=0.2, validate=validate.Range(min=0, max=60))
    OUTBOX_RELAY = fields.Boolean(load_default=True)
    OUTBOX_POLL_SECONDS = fields.Float(load_default=0.5, validate=validate.Range(min=0.05, max=60))
    RPC_TIMEOUT_SECONDS = fields.Float(load_default=10.0, validate=validate.Range(min=0.1, max=300))
    GATEWAY_RPC_POOL_SIZE = fields.Integer(load_default=8, validate=validate.Range(min=1, max=256))
    MAX_QUERY_DEPTH = fields.Integer(load_default=10, validate=validate.Range(min=2, max=50))
    MAX_PAGE_SIZE = fields.Integer(load_default=200, validate=validate.Range(min=1, max=10000))
    MAX_WORKERS = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000))

    @validates_schema
    def production_secret(self, data, **kwargs):
        if data.get("COALITION_ENV") == "production":
            secret = data.get("COALITION_JWT_SECRET") or ""
            if secret == DEV_SECRET or len(secret) < MIN_SECRET_LENGTH:
                raise ValidationError(
                    f"must be set to a random secret of at least {MIN_SECRET_LENGTH} characters "
                    "in production", "COALITION_JWT_SECRET")


class SettingsError(Exception):
    """A setting is missing or malformed; str() is one line naming it."""


def load(environ=None):
    """Validated settings as a dict; raises SettingsError naming the bad setting."""
    environ = os.environ if environ is None else environ
    known = SettingsSchema().fields.keys()
    raw = {k: environ[k] for k in known if environ.get(k, "") != ""}
    try:
        return SettingsSchema().load(raw)
    except ValidationError as exc:
        name, messages = sorted(exc.messages.items())[0]
        if isinstance(messages, dict):  # nested, should not happen for flat settings
            messages = list(messages.values())
        raise SettingsError(f"invalid setting {name}: {' '.join(map(str, messages))}") from None


def load_or_exit(environ=None, program="coalition"):
    try:
        return load(environ)
    except SettingsError as exc:
        sys.stderr.write(f"{program}: {exc}\n")
        raise SystemExit(2)


def nameko_config(settings):
    """The nameko config dict for a service: nameko's own keys plus ours."""
    config = dict(settings)
    config["max_workers"] = settings["MAX_WORKERS"]
    config["serializer"] = "json"
    return config
