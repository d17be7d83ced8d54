"""The typed values of a sending account (no I/O).

An :class:`AccountSpec` is what an operator gives (``postroom accounts add``); an
:class:`Account` is what the store holds, with its id and learned state, secrets decrypted only
when a connection needs them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from postroom.errors import ConfigError


class Security(enum.StrEnum):
    """How the SMTP (or IMAP) connection is protected.

    ``starttls``: plain connect then STARTTLS (RFC 3207), refused if the server lacks it;
    ``tls``: implicit TLS from the first byte (RFC 8314, port 465 / 993); ``none``: clear text,
    for loopback relays only.
    """

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class Auth(enum.StrEnum):
    """SMTP AUTH mechanism (RFC 4954): PLAIN (RFC 4616), LOGIN, XOAUTH2 (Google, Microsoft)."""

    PLAIN = "plain"
    LOGIN = "login"
    XOAUTH2 = "xoauth2"
    NONE = "none"


class Envelope(enum.StrEnum):
    """Which envelope sender (MAIL FROM, RFC 5321 section 4.1.1.2) copies go out with.

    ``verp``: a signed bounce address per copy (``bounce+...@reply-domain``), so a bounce names
    its copy even when it quotes nothing; needs a provider that keeps the envelope sender.
    ``account``: the account's own address. Gmail and Microsoft 365 rewrite the envelope sender
    to the authenticated mailbox, so for them bounces land in the sender's inbox, where the
    Mailbox part finds them by the quoted Message-ID.
    """

    VERP = "verp"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class Limits:
    """Sending limits that hold across every worker on every host. None: no limit.

    ``connections`` bounds simultaneous SMTP connections to the account's server.
    """

    per_minute: int | None = None
    per_day: int | None = None
    recipients_per_day: int | None = None
    connections: int = 2

    def __post_init__(self) -> None:
        for name in ("per_minute", "per_day", "recipients_per_day"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"limits.{name}", f"must be at least 1, got {value}", "or none")
        if self.connections < 1:
            raise ConfigError("limits.connections", "must be at least 1", "use e.g. 2")

    def to_json(self) -> dict[str, Any]:
        return {
            "per_minute": self.per_minute,
            "per_day": self.per_day,
            "recipients_per_day": self.recipients_per_day,
            "connections": self.connections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Limits:
        data = data or {}
        return cls(
            per_minute=data.get("per_minute"),
            per_day=data.get("per_day"),
            recipients_per_day=data.get("recipients_per_day"),
            connections=int(data.get("connections") or 2),
        )


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """What an operator says about an account. Secrets (password, OAuth) travel apart."""

    name: str
    from_address: str
    smtp_host: str
    smtp_port: int = 587
    smtp_security: Security = Security.STARTTLS
    smtp_auth: Auth = Auth.PLAIN
    smtp_username: str | None = None
    from_name: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_security: Security | None = None
    imap_username: str | None = None
    envelope: Envelope = Envelope.ACCOUNT
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True, slots=True)
class Account:
    """A stored account. ``state`` is what postroom learned (capabilities, Sent folder facts)."""

    id: int
    name: str
    from_address: str
    from_name: str | None
    smtp_host: str
    smtp_port: int
    smtp_security: Security
    smtp_auth: Auth
    smtp_username: str | None
    imap_host: str | None
    imap_port: int | None
    imap_security: Security | None
    imap_username: str | None
    envelope: Envelope
    limits: Limits
    has_secret: bool
    paused_until: datetime | None
    pause_reason: str | None
    state: dict[str, Any]
    last_test: dict[str, Any] | None
    created_at: datetime

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2]

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now

    def to_json(self) -> dict[str, Any]:
        """Everything but secrets (``has_secret`` says whether one is stored)."""
        return {
            "id": self.id,
            "name": self.name,
            "from_address": self.from_address,
            "from_name": self.from_name,
            "smtp": {
                "host": self.smtp_host,
                "port": self.smtp_port,
                "security": str(self.smtp_security),
                "auth": str(self.smtp_auth),
                "username": self.smtp_username,
            },
            "imap": None
            if self.imap_host is None
            else {
                "host": self.imap_host,
                "port": self.imap_port,
                "security": str(self.imap_security) if self.imap_security else None,
                "username": self.imap_username,
            },
            "envelope": str(self.envelope),
            "limits": self.limits.to_json(),
            "has_secret": self.has_secret,
            "paused_until": self.paused_until.isoformat() if self.paused_until else None,
            "pause_reason": self.pause_reason,
            "last_test": self.last_test,
        }
