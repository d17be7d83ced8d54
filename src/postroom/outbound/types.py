"""Typed values of the SMTP delivery client: replies, copies, results and connection settings.

Everything here is immutable and free of I/O, so the sans-IO protocol (:mod:`.protocol`), the
copy pipeline (:mod:`.pipeline`) and the socket shell (:mod:`.connection`) share one vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from postroom.errors import ConfigError, MalformedCopy, OutboundError

__all__ = [
    "AuthMethod",
    "Command",
    "ConnectionSettings",
    "CopyResult",
    "EnhancedStatus",
    "Outcome",
    "OutgoingCopy",
    "Reply",
    "Security",
    "Timeouts",
]


class Command(Enum):
    """What a reply answers. ``CONNECT`` is the greeting; ``END_OF_DATA`` the final ".".

    ``label`` names the command for people; ``ends_group`` is true for the commands after
    which a pipelining client waits for the reply before sending more (RFC 2920 section 3.1,
    plus AUTH, RFC 4954 section 4, and STARTTLS, RFC 3207 section 4)."""

    CONNECT = ("greeting", True)
    EHLO = ("EHLO", True)
    HELO = ("HELO", True)
    STARTTLS = ("STARTTLS", True)
    AUTH = ("AUTH", True)
    MAIL = ("MAIL", False)
    RCPT = ("RCPT", False)
    DATA = ("DATA", True)
    END_OF_DATA = ("end of data", False)
    RSET = ("RSET", False)
    NOOP = ("NOOP", True)
    QUIT = ("QUIT", True)

    def __init__(self, label: str, ends_group: bool) -> None:
        self.label = label
        self.ends_group = ends_group


@dataclass(frozen=True, slots=True)
class EnhancedStatus:
    """An enhanced mail system status code, ``class.subject.detail`` (RFC 3463 section 2)."""

    klass: int
    subject: int
    detail: int

    def __str__(self) -> str:
        return f"{self.klass}.{self.subject}.{self.detail}"

    @classmethod
    def parse(cls, text: str) -> EnhancedStatus | None:
        """``"5.1.1"`` -> EnhancedStatus(5, 1, 1); anything else -> None (RFC 3463 section 2:
        class 2, 4 or 5; subject and detail of one to three digits)."""
        match = _ENHANCED.fullmatch(text)
        if match is None:
            return None
        return cls(int(match[1]), int(match[2]), int(match[3]))


_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply (RFC 5321 section 4.2): the three-digit code, the enhanced status code
    when the server sent one (RFC 2034 section 4), and the text of every line (the code and
    the enhanced code taken off each line), lines joined with "\\n"."""

    code: int
    enhanced: EnhancedStatus | None
    text: str

    @property
    def is_success(self) -> bool:
        """2yz: positive completion (RFC 5321 section 4.2.1)."""
        return 200 <= self.code < 300

    @property
    def is_intermediate(self) -> bool:
        """3yz: positive intermediate (354 to DATA, 334 during AUTH)."""
        return 300 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        """4yz: transient negative completion: the same command may succeed later."""
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        """5yz: permanent negative completion."""
        return self.code >= 500

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(self.text.split("\n"))

    def __str__(self) -> str:
        enhanced = f"{self.enhanced} " if self.enhanced is not None else ""
        return f"{self.code} {enhanced}{' / '.join(self.lines)}".rstrip()


class Outcome(Enum):
    """What became of one copy on one connection."""

    #: The server took responsibility for the message (2yz after the final ".").
    ACCEPTED = "accepted"
    #: The server refused it (MAIL, RCPT, DATA or the final "."): see the reply.
    REFUSED = "refused"
    #: The connection ended before the server answered for this copy (end of file, a reset, a
    #: timeout, garbage, or a 421). Nothing was accepted, except possibly when the final "."
    #: had been written (RFC 5321 section 6.1: the copy may arrive twice): retry it.
    CONNECTION_LOST = "connection_lost"
    #: Not attempted: the copy needs an extension the server does not offer (SMTPUTF8, RFC 6531
    #: section 3.4; 8BITMIME, RFC 6152 section 3). Nothing was written.
    UNSUPPORTED = "unsupported"


_FORBIDDEN_IN_ADDRESS = re.compile(r"[\x00-\x1f\x7f<>]")


@dataclass(frozen=True, slots=True)
class OutgoingCopy:
    """One copy to submit: one transaction, one recipient.

    ``data`` is the message with CRLF line ends and no dot-stuffing (the client stuffs it,
    RFC 5321 section 4.5.2; a "." after a bare CR or LF is stuffed too, so such data cannot end
    the message early on a lenient server, but a server may refuse bare line ends).
    ``mail_from`` may be empty (the null reverse-path, RFC 5321 section 4.5.5). ``tag`` is the
    caller's own (a delivery id) and comes back on the result.
    """

    mail_from: str
    rcpt: str
    data: bytes
    smtputf8: bool = False
    body_8bit: bool = False
    tag: object = None

    def __post_init__(self) -> None:
        for name, address in (("mail_from", self.mail_from), ("rcpt", self.rcpt)):
            if _FORBIDDEN_IN_ADDRESS.search(address):
                # A CR or LF would let the address inject SMTP commands.
                raise MalformedCopy(
                    f"{name} {address!r} holds a control character or an angle bracket: "
                    "an envelope address must be a plain address"
                )
            if not address.isascii() and not self.smtputf8:
                raise MalformedCopy(
                    f"{name} {address!r} is not ASCII: it needs SMTPUTF8 (RFC 6531); "
                    "set smtputf8=True"
                )
        if not self.rcpt:
            raise MalformedCopy("rcpt is empty: every copy needs its recipient")
        data = self.data
        if not (self.body_8bit or self.smtputf8) and not data.isascii():
            raise MalformedCopy(
                "the data holds 8-bit bytes: set body_8bit=True (8BITMIME, RFC 6152) "
                "or encode the parts as 7-bit"
            )


@dataclass(frozen=True, slots=True)
class CopyResult:
    """The server's answers for one copy, and what they amount to.

    ``mail`` and ``rcpt`` answer MAIL FROM and RCPT TO. ``data`` is the reply that ended the
    DATA phase: the answer to the final "." when the message was sent, else the refusal of
    DATA itself (503/554 after a refused RCPT, RFC 2920 section 3.1). ``error`` explains a
    lost connection or an unsupported copy.
    """

    copy: OutgoingCopy
    outcome: Outcome
    mail: Reply | None = None
    rcpt: Reply | None = None
    data: Reply | None = None
    error: OutboundError | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def reply(self) -> Reply | None:
        """The reply that decided the outcome: the first that was not a success, else the
        acceptance (None when the connection ended before any answer)."""
        for candidate in (self.mail, self.rcpt, self.data):
            if candidate is not None and not candidate.is_success:
                return candidate
        return self.data

    @property
    def stage(self) -> Command | None:
        """Which command :attr:`reply` answers (DATA and END_OF_DATA both read as DATA)."""
        if self.reply is None:
            return None
        if self.reply is self.mail:
            return Command.MAIL
        if self.reply is self.rcpt:
            return Command.RCPT
        return Command.DATA

    @property
    def queue_id(self) -> str | None:
        """The id the server gave the accepted message, when its reply names one in a
        documented form: Postfix ``queued as ID`` (cleanup(8)), Exim ``id=ID`` (its default
        acknowledgement). The whole reply is kept either way."""
        if not self.accepted or self.data is None:
            return None
        match = _QUEUE_ID.search(self.data.text)
        return match[1] if match else None


_QUEUE_ID = re.compile(r"(?:queued as |\bid=)([A-Za-z0-9][A-Za-z0-9-]*)")


class Security(Enum):
    """How the connection is protected."""

    #: Plain connect, then STARTTLS (RFC 3207); a server without STARTTLS is an error.
    STARTTLS = "starttls"
    #: TLS from the first byte (implicit TLS, RFC 8314 section 3.3; port 465).
    TLS = "tls"
    #: No TLS at all: a trusted local relay only.
    NONE = "none"


class AuthMethod(Enum):
    """The SASL mechanism used to log in (RFC 4954)."""

    PLAIN = "plain"  # RFC 4616
    LOGIN = "login"  # draft-murchison-sasl-login
    XOAUTH2 = "xoauth2"  # Google's and Microsoft's OAuth 2.0 bearer mechanism
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait for each phase. Defaults are RFC 5321 section 4.5.3.2's minimums:
    greeting 5 min, MAIL 5, RCPT 5, DATA initiation 2, each data block 3, DATA termination 10.
    ``command`` covers what the RFC does not name (EHLO, STARTTLS and the TLS handshake, AUTH,
    RSET, NOOP, QUIT); ``connect`` the TCP connect."""

    connect: float = 30.0
    greeting: float = 300.0
    command: float = 300.0
    mail: float = 300.0
    rcpt: float = 300.0
    data_initiation: float = 120.0
    data_block: float = 180.0
    data_termination: float = 600.0

    @classmethod
    def uniform(cls, seconds: float) -> Timeouts:
        """The same limit for every phase (tests use a small one)."""
        return cls(**{name: seconds for name in cls.__dataclass_fields__})

    def for_reply(self, command: Command) -> float:
        """How long to wait for the reply to ``command``."""
        if command is Command.CONNECT:
            return self.greeting
        if command is Command.MAIL:
            return self.mail
        if command is Command.RCPT:
            return self.rcpt
        if command is Command.DATA:
            return self.data_initiation
        if command is Command.END_OF_DATA:
            return self.data_termination
        return self.command


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where and how to connect and log in. ``secret`` is the password, or the OAuth access
    token for XOAUTH2 (the caller refreshes it). ``tls_server_name`` overrides the name the
    certificate must carry (default: ``host``). ``ehlo_name`` defaults to the address literal
    of the local end of the connection (RFC 5321 section 4.1.4)."""

    host: str
    port: int
    security: Security = Security.STARTTLS
    auth: AuthMethod = AuthMethod.NONE
    username: str = ""
    secret: str = field(default="", repr=False)
    ca_file: str | None = None
    tls_server_name: str | None = None
    ehlo_name: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError("port", f"{self.port!r} is not a TCP port", "use 1-65535 (587, 465)")
        if self.auth is not AuthMethod.NONE and not (self.username and self.secret):
            raise ConfigError(
                "username",
                f"auth is {self.auth.value} but the username or the secret is empty",
                "give both, or set auth to 'none'",
            )
        if self.ehlo_name is not None and not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", self.ehlo_name):
            raise ConfigError(
                "ehlo_name",
                f"{self.ehlo_name!r} is not a domain or address literal",
                "use the machine's fully qualified name",
            )

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"
