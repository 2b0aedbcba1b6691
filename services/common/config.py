"""Settings from environment variables, validated at start-up.

A service started with a missing or malformed setting exits with one line
naming it (see `load_or_exit`), instead of failing later in a worker.
"""
import ipaddress
import os
import sys
from decimal import Decimal
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.smtp_url import REPLIES_PER_MAIL, parse_smtp_url

# There is no built-in secret (DOMAIN.md section 5): every process refuses to
# start without one, whatever COALITION_ENV is. `make up` makes one for a
# developer's machine (services/stack.py); the processes never read a file.
MIN_SECRET_LENGTH = 32
SECRET_RULE = (f"it must be a random secret of at least {MIN_SECRET_LENGTH} characters "
               "(none is built in; generate one with "
               "python3 -c 'import secrets; print(secrets.token_urlsafe(48))')")


Settings = dict[str, Any]  # validated: every setting of SettingsSchema, typed

# MAIL_LEASE_SECONDS >= this x MAIL_SMTP_TIMEOUT_SECONDS: twice one mail's worst case
LEASE_PER_TIMEOUT = 2 * REPLIES_PER_MAIL


def _url(schemes: Collection[str]) -> Callable[[str], None]:
    def check(value: str) -> None:
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not (parsed.hostname or parsed.netloc):
            raise ValidationError(f"must be a URL with scheme {' or '.join(sorted(schemes))}")
    return check


def _smtp_url(value: str) -> None:
    """SMTP_URL as the sender reads it (services/common/smtp_url.py), at start."""
    try:
        parse_smtp_url(value)
    except ValueError as exc:  # its text never names the password
        raise ValidationError(str(exc)) from None


def parse_networks(text: str | None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """TRUSTED_PROXIES: comma-separated IP addresses or CIDR networks."""
    networks = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValidationError(f"{part!r} is not an IP address or network") from None
    return networks


# an IATI organisation identifier: the registration agency's code (a country
# or XM/XI, a hyphen, its list) then a hyphen and the number it gave, as
# "XM-DAC-41114", "GB-CHC-1234567" or "XI-IATI-EC_DEVCO"; never a space or "/"
IATI_REF = r"^[A-Za-z]{2}-[A-Za-z0-9]+-[A-Za-z0-9._-]+$"
IATI_REF_RULE = ('must be an IATI organisation identifier: the registration agency\'s code and '
                 'the number it gave, such as "XM-DAC-41114" or "GB-CHC-1234567" (letters, '
                 'digits, ".", "_" and "-"; no spaces)')
# IATI's OrganisationType codelist (COALITION_ORG_TYPE)
IATI_ORGANISATION_TYPES = ("10", "11", "15", "21", "22", "23", "24", "30", "40", "60", "70",
                           "71", "72", "73", "80", "90")

# the kinds HIDDEN_KINDS may name: those opened by an event or a proposal, not
# by a form that chooses resultsVisibility itself (DOMAIN.md section 9)
HIDEABLE_KINDS = ("GRANT_ALLOCATION", "MEMBER_SUSPENSION")


def hidden_kinds(text: str | None) -> frozenset[str]:
    """HIDDEN_KINDS: comma-separated consultation kinds, each of HIDEABLE_KINDS."""
    kinds = frozenset(filter(None, (p.strip() for p in (text or "").split(","))))
    wrong = sorted(kinds - set(HIDEABLE_KINDS))
    if wrong:
        raise ValidationError(f"{', '.join(wrong)} cannot default to hidden; only "
                              f"{' and '.join(HIDEABLE_KINDS)} can")
    return kinds


def _hidden_kinds(text: str) -> None:
    hidden_kinds(text)


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
    COALITION_JWT_SECRET = fields.String(
        required=True,
        validate=validate.Length(min=MIN_SECRET_LENGTH, error="is too short; " + SECRET_RULE),
        error_messages={"required": "is not set; " + SECRET_RULE})
    CONSULTATION_DEFAULT_DAYS = fields.Integer(load_default=14, validate=validate.Range(min=1, max=365))
    DEADLINE_CHECK_SECONDS = fields.Float(load_default=2.0, validate=validate.Range(min=0.1, max=60))
    HANDLER_MAX_ATTEMPTS = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))
    HANDLER_RETRY_BASE_SECONDS = fields.Float(load_default=0.2, validate=validate.Range(min=0, max=60))
    OUTBOX_RELAY = fields.Boolean(load_default=True)
    # quorum: every durable queue is a replicated quorum queue (services/common/queues.py);
    # classic: single-node queues. Changing it: docs/operator-guide.md, "Queue types"
    QUEUE_TYPE = fields.String(load_default="quorum", validate=validate.OneOf(["classic", "quorum"]))
    OUTBOX_POLL_SECONDS = fields.Float(load_default=0.5, validate=validate.Range(min=0.05, max=60))
    RPC_TIMEOUT_SECONDS = fields.Float(load_default=10.0, validate=validate.Range(min=0.1, max=300))
    GATEWAY_RPC_POOL_SIZE = fields.Integer(load_default=8, validate=validate.Range(min=1, max=256))
    MAX_QUERY_DEPTH = fields.Integer(load_default=10, validate=validate.Range(min=2, max=50))
    MAX_PAGE_SIZE = fields.Integer(load_default=200, validate=validate.Range(min=1, max=10000))
    MAX_WORKERS = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000))
    # how many `seq` numbers a process reserves at once for a sequenced
    # collection (members): services/common/paging.py, SeqBlocks
    SEQ_BLOCK = fields.Integer(load_default=64, validate=validate.Range(min=1, max=100000))
    # ---- proxies and hidden results (DOMAIN.md section 9) ----
    MAX_PROXIES_PER_HOLDER = fields.Integer(load_default=2, validate=validate.Range(min=1, max=100))
    # kinds whose consultations open HIDDEN_UNTIL_CLOSED: a comma-separated
    # subset of GRANT_ALLOCATION,MEMBER_SUSPENSION (the ones opened without a form)
    HIDDEN_KINDS = fields.String(load_default="", validate=_hidden_kinds)
    # ---- reports and IATI (DOMAIN.md section 10; docs/operator-guide.md "IATI") ----
    # the reporting organisation of every IATI export: its name, its IATI
    # organisation identifier ("XM-DAC-<code>", or a registration agency's
    # code and the number it gave, such as "GB-CHC-1234567"), and its IATI
    # OrganisationType code (21 International NGO)
    COALITION_NAME = fields.String(load_default="Coalition (development)",
                                   validate=validate.Length(min=1, max=200))
    COALITION_IATI_REF = fields.String(load_default="XX-DEV-COALITION",
                                       validate=validate.Regexp(IATI_REF, error=IATI_REF_RULE))
    COALITION_ORG_TYPE = fields.String(load_default="21", validate=validate.OneOf(
        IATI_ORGANISATION_TYPES, error="must be an IATI OrganisationType code, such as 21 "
        "(International NGO): one of {choices}"))
    # ---- the gateway's limits (DOMAIN.md section 6; docs/operator-guide.md "Limits") ----
    MAX_REQUEST_BYTES = fields.Integer(load_default=1024 * 1024,
                                       validate=validate.Range(min=1024, max=64 * 1024 * 1024))
    MAX_QUERY_COST = fields.Integer(load_default=20000, validate=validate.Range(min=1))
    UNPAGED_LIST_ESTIMATE = fields.Integer(load_default=50, validate=validate.Range(min=1))
    ANONYMOUS_APPLICATIONS_PER_HOUR = fields.Integer(load_default=5, validate=validate.Range(min=0))
    TRUSTED_PROXIES = fields.String(load_default="", validate=parse_networks)
    MEMBER_STATUS_TTL_SECONDS = fields.Float(load_default=2.0,
                                             validate=validate.Range(min=0, max=10))
    GRAPHIQL = fields.Boolean(load_default=True)
    READY_TIMEOUT_SECONDS = fields.Float(load_default=2.0, validate=validate.Range(min=0.1, max=30))
    # ---- notifications (DOMAIN.md section 8; docs/operator-guide.md "Mail") ----
    # smtp://user:pass@host:port, smtps:// for implicit TLS, ?starttls=true;
    # the default is the local catcher `make up` starts when SMTP_URL is not set
    SMTP_URL = fields.String(load_default="smtp://127.0.0.1:8025", validate=_smtp_url)
    MAIL_FROM = fields.String(load_default="Coalition <coalition@localhost>",
                              validate=validate.Regexp(r"^[^\r\n]*@[^\r\n]*$",
                                                       error="must hold an e-mail address"))
    # links in mails are built from this, never from a request's Host header
    PUBLIC_URL = fields.String(load_default="http://127.0.0.1:8000", validate=_url({"http", "https"}))
    # a decimal number of hours before closesAt (tests use 0.01)
    REMINDER_HOURS = fields.Decimal(load_default=Decimal(24),
                                    validate=validate.Range(min=Decimal("0.0001"), max=24 * 365))
    REMINDER_CHECK_SECONDS = fields.Float(load_default=5.0, validate=validate.Range(min=0.1, max=300))
    MAIL_SEND_SECONDS = fields.Float(load_default=1.0, validate=validate.Range(min=0.05, max=300))
    MAIL_BATCH = fields.Integer(load_default=100, validate=validate.Range(min=1, max=10000))
    MAIL_RETRY_BASE_SECONDS = fields.Float(load_default=5.0, validate=validate.Range(min=0.01, max=3600))
    MAIL_RETRY_MAX_SECONDS = fields.Float(load_default=300.0, validate=validate.Range(min=0.01, max=86400))
    MAIL_GIVE_UP_HOURS = fields.Float(load_default=72.0, validate=validate.Range(min=0.001, max=24 * 30))
    # each SMTP reply (connect, EHLO, MAIL, RCPT, DATA, ...) is waited for this long
    MAIL_SMTP_TIMEOUT_SECONDS = fields.Float(load_default=30.0,
                                             validate=validate.Range(min=0.5, max=600))
    # at least LEASE_PER_TIMEOUT SMTP timeouts (see lease_covers_sending)
    MAIL_LEASE_SECONDS = fields.Float(load_default=300.0, validate=validate.Range(min=1, max=7200))
    # the secretariat's shared mailbox, for what DOMAIN.md sends "to the
    # secretariat" (until sign-in adds secretariat people); empty: in-app only
    SECRETARIAT_EMAIL = fields.String(load_default="", validate=validate.Regexp(
        r"^([^@\s]+@[^@\s]+)?$", error="must be an e-mail address"))
    # ---- sign-in (DOMAIN.md section 7; docs/accounts.md) ----
    SESSION_HOURS = fields.Float(load_default=12.0, validate=validate.Range(min=0.001, max=24 * 90))
    # a code's validity (tests shorten it)
    SIGN_IN_CODE_MINUTES = fields.Float(load_default=30.0, validate=validate.Range(min=0.01, max=24 * 60))
    SIGN_IN_PER_ADDRESS_PER_HOUR = fields.Integer(load_default=5, validate=validate.Range(min=0))
    SIGN_IN_PER_CLIENT_PER_HOUR = fields.Integer(load_default=20, validate=validate.Range(min=0))
    SIGN_IN_WRONG_CODES = fields.Integer(load_default=5, validate=validate.Range(min=1, max=100))
    # the local catcher's maildir, shown at /dev/mail outside production
    MAIL_CATCHER_DIR = fields.String(load_default="")

    @validates_schema
    def lease_covers_sending(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        """A claimed batch's lease must outlast the slowest mail, with room to
        send more than one: the sender starts a mail only while at least one
        mail's worst case (REPLIES_PER_MAIL SMTP timeouts) is left of its
        lease, so half the lease at least is for sending."""
        lease, timeout = data.get("MAIL_LEASE_SECONDS"), data.get("MAIL_SMTP_TIMEOUT_SECONDS")
        if lease is not None and timeout is not None and lease < LEASE_PER_TIMEOUT * timeout:
            raise ValidationError(
                f"must be at least {LEASE_PER_TIMEOUT} times MAIL_SMTP_TIMEOUT_SECONDS "
                f"({LEASE_PER_TIMEOUT * timeout:g} with a timeout of {timeout:g}), so that a "
                "slow mail ends within its sender's lease", field_name="MAIL_LEASE_SECONDS")


class SettingsError(Exception):
    """A setting is missing or malformed; str() is one line naming it."""


def load(environ: Mapping[str, str] | None = None, exclude: Iterable[str] = ()) -> Settings:
    """Validated settings as a dict; raises SettingsError naming the bad setting.

    `exclude` names settings a caller does not need (`make down` and the
    broker check need no secret); every process of coalition loads them all."""
    environ = os.environ if environ is None else environ
    schema = SettingsSchema(exclude=tuple(exclude))
    known = schema.fields.keys()
    raw = {k: environ[k] for k in known if environ.get(k, "") != ""}
    try:
        settings: Settings = schema.load(raw)
    except ValidationError as exc:
        name, messages = sorted(exc.messages_dict.items())[0]
        if isinstance(messages, dict):  # nested, should not happen for flat settings
            messages = list(messages.values())
        raise SettingsError(f"invalid setting {name}: {' '.join(map(str, messages))}") from None
    return settings


def load_or_exit(environ: Mapping[str, str] | None = None, program: str = "coalition",
                 exclude: Iterable[str] = ()) -> Settings:
    """The settings, or one line on stderr naming the bad one and exit 2."""
    try:
        return load(environ, exclude)
    except SettingsError as exc:
        sys.stderr.write(f"{program}: {exc}\n")
        raise SystemExit(2)


def nameko_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The nameko config dict for a service: nameko's own keys plus ours."""
    config = dict(settings)
    config["max_workers"] = settings["MAX_WORKERS"]
    config["serializer"] = "json"
    return config
