"""Mailbox addresses as compose writes them: checked, with IDNA 2008 domains.

An address is an RFC 5322 §3.4.1 addr-spec, ``local@domain``:

* the local part is a dot-atom (§3.2.3 atext, plus any non-ASCII character, RFC 6532 §3.2),
  at most 64 octets (RFC 5321 §4.5.3.1.1). A non-ASCII local part can only travel with
  SMTPUTF8 (RFC 6531), so it marks the address ``needs_smtputf8``. Quoted local parts
  (``"john doe"@...``) are refused: RFC 5321 §4.1.2 asks senders not to make them and few
  systems accept them;
* the domain is converted with IDNA 2008 and the UTS 46 mapping (the ``idna`` package): a
  Unicode domain becomes its A-label form (``bücher.example`` -> ``xn--bcher-kva.example``),
  written lower case, at most 253 octets. Address literals (``[192.0.2.1]``) are refused.

The whole address is at most 254 octets (RFC 5321 §4.5.3.1.3 less the angle brackets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import idna

from postroom.errors import ComposeError

MAX_LOCAL_PART = 64
MAX_DOMAIN = 253
MAX_ADDRESS = 254

# RFC 5322 §3.2.3 atext; RFC 6532 §3.2 adds every non-ASCII character (UTF8-non-ascii).
_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_ASCII_DOMAIN = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


class Role(StrEnum):
    """The header a recipient is listed in (Bcc recipients are listed in none)."""

    TO = "to"
    CC = "cc"
    BCC = "bcc"


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A display name and an address: the account's From (RFC 5322 §3.4 mailbox)."""

    address: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """A checked address: the local part as given, the domain in A-labels, lower case."""

    local: str
    domain: str

    @property
    def needs_smtputf8(self) -> bool:
        """True when the local part is not ASCII (RFC 6531 §3.2): only SMTPUTF8 carries it."""
        return not self.local.isascii()

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"

    def key(self) -> str:
        """The form two addresses are compared in to find duplicates: case folded, because
        mailbox providers treat local parts case-insensitively whatever RFC 5321 §2.4 allows."""
        return f"{self.local.casefold()}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Addressee:
    """One recipient of the email as the template keeps it.

    ``index`` is the recipient's position in ``Email.recipients()`` (To, then Cc, then Bcc), so
    the caller can find the ``Recipient`` (its ``user`` and ``data``) again.
    """

    role: Role
    address: Address
    name: str | None
    index: int

    @property
    def needs_smtputf8(self) -> bool:
        """Whether this address itself needs SMTPUTF8 in RCPT TO (RFC 6531 §3.4). Every copy
        needs it anyway when ``Template.needs_smtputf8`` is true."""
        return self.address.needs_smtputf8


def domain_to_ascii(domain: str, field: str) -> str:
    """``domain`` in A-labels, lower case (IDNA 2008, UTS 46 mapping); ComposeError names
    ``field`` when it is no domain name."""
    lowered = domain.lower()
    if lowered.isascii() and _ASCII_DOMAIN.fullmatch(lowered) and "xn--" not in lowered:
        return lowered
    try:
        # uts46 maps the domain first (case, width, compatibility forms), as UTS 46 §4 says;
        # transitional=False keeps IDNA 2008's own rules for ß and ς (RFC 5891).
        ascii_domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        raise ComposeError(
            field,
            f"domain {domain!r} is not a valid IDNA 2008 domain name ({exc})",
            "use the domain exactly as it is registered, such as 'example.org' or 'bücher.example'",
        ) from None
    return ascii_domain.lower()


def parse_address(text: str, field: str) -> Address:
    """Check ``text`` as an addr-spec and return it with an ASCII domain; raise
    :class:`ComposeError` naming ``field`` otherwise."""
    if not isinstance(text, str):
        raise ComposeError(
            field,
            f"an address must be a string, not {type(text).__name__}",
            "give the address as text such as 'ada@example.org'",
        )
    if "\r" in text or "\n" in text:
        raise ComposeError(
            field,
            "the address contains a line break (CR or LF)",
            "remove the line break; header injection is refused",
        )
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not domain:
        raise ComposeError(
            field,
            f"{text!r} is not an email address",
            "write it as local@domain, such as 'ada@example.org'",
        )
    if local.startswith('"'):
        raise ComposeError(
            field,
            f"the quoted local part of {text!r} is not supported",
            "use an address whose local part needs no quotes (RFC 5321 §4.1.2)",
        )
    if not _DOT_ATOM.fullmatch(local):
        raise ComposeError(
            field,
            f"the local part of {text!r} is not a dot-atom",
            "use letters, digits and !#$%&'*+-/=?^_`{|}~, with single dots "
            "between them (RFC 5322 §3.2.3)",
        )
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise ComposeError(
            field,
            f"the local part of {text!r} is over {MAX_LOCAL_PART} octets",
            "shorten it (RFC 5321 §4.5.3.1.1)",
        )
    if domain.startswith("["):
        raise ComposeError(
            field, f"{text!r} uses an address literal", "use a domain name instead of an IP address"
        )
    ascii_domain = domain_to_ascii(domain.rstrip("."), field)
    if len(ascii_domain) > MAX_DOMAIN:
        raise ComposeError(
            field,
            f"the domain of {text!r} is over {MAX_DOMAIN} octets",
            "use a shorter domain (RFC 1035 §2.3.4)",
        )
    address = Address(local, ascii_domain)
    if len(str(address).encode("utf-8")) > MAX_ADDRESS:
        raise ComposeError(
            field,
            f"{text!r} is over {MAX_ADDRESS} octets",
            "use a shorter address (RFC 5321 §4.5.3.1.3)",
        )
    return address
