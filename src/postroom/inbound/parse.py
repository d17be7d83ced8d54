"""Parsing received bytes into a message, recording defects instead of raising (RFC 5322)."""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from postroom.errors import UnparseableMessage

# ``policy.default`` gives typed headers; raise_on_defect stays False so messy mail is read.
_POLICY = email.policy.default.clone(max_line_length=0)
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]{1,200}:", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A received message and the facts the pipeline reads from it again and again."""

    message: EmailMessage
    raw: bytes
    message_id: str | None
    sender: str | None
    subject: str
    return_path: str | None
    defects: tuple[str, ...]

    def header(self, name: str) -> str | None:
        return safe_header(self.message, name)

    def header_all(self, name: str) -> list[str]:
        return safe_header_all(self.message, name)


def safe_header(message: EmailMessage, name: str) -> str | None:
    """A header's value as text; malformed headers give their raw text, never an exception."""
    try:
        value = message.get(name)
    except Exception:  # the header registry can choke on truly broken values
        return _raw_header(message, name)
    return None if value is None else str(value)


def safe_header_all(message: EmailMessage, name: str) -> list[str]:
    try:
        return [str(v) for v in message.get_all(name) or []]
    except Exception:
        raw = _raw_header(message, name)
        return [] if raw is None else [raw]


def _raw_header(message: EmailMessage, name: str) -> str | None:
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw``; raise :class:`UnparseableMessage` only when it has no header section.

    Everything else (bad encodings, broken MIME, 8-bit headers) is read as far as it goes and
    the problems are listed in ``defects``, as CPython's email package does.
    """
    head = raw[:4096].lstrip(b"\r\n")
    if not head or not _HEADER_LINE.match(head):
        raise UnparseableMessage("no RFC 5322 header section found (is this an email message?)")
    message = BytesParser(policy=_POLICY).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    defects = [type(d).__name__ for d in message.defects]
    message_id = safe_header(message, "Message-ID")
    return ParsedMessage(
        message=message,
        raw=raw,
        message_id=normalise_message_id(message_id),
        sender=first_address(safe_header(message, "From")),
        subject=(safe_header(message, "Subject") or "").strip(),
        return_path=_return_path(message),
        defects=tuple(defects),
    )


def normalise_message_id(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    match = re.search(r"<([^<>\s]+)>", text)
    text = match.group(1) if match else text.strip("<> \t")
    return text or None


def first_address(value: str | None) -> str | None:
    """The first mailbox of an address header, lowercased domain, or None."""
    if not value:
        return None
    _, addr = parseaddr(value)
    return addr.strip() or None


def addresses_in(values: list[str]) -> list[str]:
    """Every mailbox named in a list of header values (To, Cc, Delivered-To, ...)."""
    found = []
    for _, addr in getaddresses(values):
        if addr and "@" in addr:
            found.append(addr.strip())
    return found


def _return_path(message: EmailMessage) -> str | None:
    value = safe_header(message, "Return-Path")
    if value is None:
        return None
    stripped = value.strip()
    if stripped in ("<>", ""):
        return ""
    return first_address(stripped) or ""


def format_address(display_name: str, address: str) -> str:
    local, _, domain = address.partition("@")
    return str(Address(display_name=display_name, username=local, domain=domain))
