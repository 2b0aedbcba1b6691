"""SMTP_URL: the one parser of the mail server's address, shared by the
setting's validator (services/common/config.py, so a malformed one stops the
service at its start) and the sender (services/notifications/smtp.py).

SMTP_URL is `smtp://[user:password@]host[:port][?starttls=true]` (port 25 by
default; STARTTLS when asked) or `smtps://...` (TLS from the first byte,
port 465 by default). The user name and password are URL-decoded; the
password is never shown (not in a repr, an error or a log line).
"""
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORTS: Final = {"smtp": 25, "smtps": 465}
TRUE: Final = ("true", "1", "yes")
FALSE: Final = ("false", "0", "no")

# The replies one message waits for once the session is open (MAIL FROM,
# RCPT TO, DATA, and the end of the data): each may take up to the SMTP
# timeout (MAIL_SMTP_TIMEOUT_SECONDS), so one mail may take this many times it.
REPLIES_PER_MAIL: Final = 4


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def _starttls(query: str) -> bool:
    """The `starttls` parameter: true or false (absent: false); ValueError otherwise."""
    values = parse_qs(query, keep_blank_values=True)
    unknown = set(values) - {"starttls"}
    if unknown:
        raise ValueError("SMTP_URL takes no parameter but starttls")
    word = values.get("starttls", ["false"])[-1].lower()
    if word not in TRUE + FALSE:
        raise ValueError("SMTP_URL: starttls must be true or false")
    return word in TRUE


def parse_smtp_url(url: str) -> SmtpSettings:
    """The settings an SMTP_URL names; ValueError (never naming the password)
    for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("SMTP_URL names a port that is not a number from 1 to 65535") from None
    starttls = _starttls(parts.query)
    if starttls and parts.scheme == "smtps":
        raise ValueError("SMTP_URL: smtps:// is TLS already; starttls=true is for smtp://")
    return SmtpSettings(host=parts.hostname, port=port, implicit_tls=parts.scheme == "smtps",
                        starttls=starttls,
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None)
