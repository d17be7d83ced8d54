"""Parsing received bytes into a message, recording defects instead of raising (RFC 5322)."""

from __future__ import annotations

import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from postroom.errors import UnparseableMessage

# ``policy.default`` gives typed headers; raise_on_defect stays False so messy mail is read.
_POLICY = email.policy.default.clone(max_line_length=0)
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]{1,200}:", re.MULTILINE)


class ParsedMessage:
    """A received message and the facts the pipeline reads from it again and again.

    Only the header section is parsed up front (``compat32``: no header objects, fast); the
    full MIME tree with ``policy.default`` is parsed on first use of :attr:`message`, which
    only the reply path needs. Bounces and auto-replies never pay for it.
    """

    __slots__ = (
        "_message",
        "defects",
        "headers",
        "message_id",
        "raw",
        "return_path",
        "sender",
        "subject",
    )

    def __init__(self, raw: bytes, headers: Message) -> None:
        self.raw = raw
        self.headers = headers
        self._message: EmailMessage | None = None
        self.message_id = normalise_message_id(self.header("Message-ID"))
        self.sender = first_address(self.header("From"))
        self.subject = decode_words(self.header("Subject") or "").strip()
        self.return_path = _return_path(self.header("Return-Path"))
        self.defects: tuple[str, ...] = tuple(type(d).__name__ for d in headers.defects)

    @property
    def message(self) -> EmailMessage:
        if self._message is None:
            parsed = BytesParser(policy=_POLICY).parsebytes(self.raw)
            assert isinstance(parsed, EmailMessage)
            self._message = parsed
            self.defects = tuple(type(d).__name__ for d in parsed.defects)
        return self._message

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def header_all(self, name: str) -> list[str]:
        return [str(v) for v in self.headers.get_all(name) or []]


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; undecodable text is kept as it is."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # unknown charsets, broken encodings: the raw text is still useful
        return value


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw``; raise :class:`UnparseableMessage` only when it has no header section.

    Everything else (bad encodings, broken MIME, 8-bit headers) is read as far as it goes and
    the problems are listed in ``defects``, as CPython's email package does.
    """
    raw = raw.lstrip(b"\r\n")
    if raw.startswith(b"From "):
        # An mbox "From_" line (MTA pipes and mail spools add one): not part of RFC 5322.
        cut = raw.find(b"\n")
        raw = raw[cut + 1 :] if cut >= 0 else b""
    head = raw[:4096]
    if not head or not _HEADER_LINE.match(head):
        raise UnparseableMessage("no RFC 5322 header section found (is this an email message?)")
    return ParsedMessage(raw, BytesHeaderParser(policy=compat32).parsebytes(raw))


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


def _return_path(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if stripped in ("<>", ""):
        return ""
    return first_address(stripped) or ""
