"""Whole messages: choose the body part, decode its charset, extract the reply.

A ``format=flowed`` plain part (RFC 3676) is decoded first (see :mod:`.flowed`).

Which part is used (documented in docs/replies.md): the first inline ``text/plain`` part,
because it is what the person's client wrote line by line; the ``text/html`` part when there
is no plain part, or when the plain part shows no quote boundary but the HTML one does (HTML
structure is the more reliable signal then). The HTML part, when present, always supplies
``ExtractedReply.html``.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re
from email.message import Message

from postroom.understand.replies.flowed import decode_flowed, deletes_space, is_flowed
from postroom.understand.replies.html import extract_html
from postroom.understand.replies.text import extract_text
from postroom.understand.replies.types import ExtractedReply

# How much of a bare file is looked at to tell a message, HTML or text apart.
_SNIFF_BYTES = 4096
_HEADER_LINE_RE = re.compile(rb"^[!-9;-~]{1,76}:")
_TRAILING_SPACE = re.compile(r"[ \t]+(?=\r?\n)")
_KNOWN_HEADERS = (
    b"from:",
    b"to:",
    b"subject:",
    b"date:",
    b"message-id:",
    b"mime-version:",
    b"content-type:",
    b"received:",
    b"return-path:",
    b"delivered-to:",
)
_HTML_HINT_RE = re.compile(
    rb"<(?:!doctype|html|head|body|div|p|br|span|table|blockquote|font|a\s|b>|i>|ul|ol)\b",
    re.IGNORECASE,
)


def _decode(payload: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    # Latin-1 decodes any byte string; better mojibake than losing the person's words.
    return payload.decode("latin-1")


def decoded_payload(part: Message) -> object:
    """``part.get_payload(decode=True)``, also when the transfer encoding has white space around
    it ("base64 "): RFC 5322 allows it, and the standard library would then decode nothing."""
    cte = part.get("Content-Transfer-Encoding")
    if cte is not None and str(cte) != str(cte).strip():
        part.replace_header("Content-Transfer-Encoding", str(cte).strip())
    if str(cte or "").strip().lower() == "quoted-printable":
        raw = part.get_payload()
        if isinstance(raw, str) and (" \n" in raw or "\t\n" in raw or " \r\n" in raw):
            # RFC 2045 section 6.7 (3): white space at a line end was added in transport; it
            # goes before decoding, so "=" then spaces still joins the lines (a soft break).
            part.set_payload(_TRAILING_SPACE.sub("", raw))
    return part.get_payload(decode=True)


def _part_text(part: Message) -> str | None:
    try:
        payload = decoded_payload(part)
    except Exception:
        return None
    if not isinstance(payload, bytes):
        return None
    return _decode(payload, part.get_content_charset())


def _bodies(message: Message) -> tuple[str | None, str | None]:
    plain: str | None = None
    html: str | None = None
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        if disposition == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain" and plain is None:
            plain = _part_text(part)
            if plain is not None and is_flowed(part):
                # RFC 3676: soft line breaks and space-stuffing go before any rule reads
                # the text, for quoted lines too.
                plain = decode_flowed(plain, delsp=deletes_space(part))
        elif content_type == "text/html" and html is None:
            html = _part_text(part)
    return plain, html


def sender_name(message: Message) -> str | None:
    """The display name of the From header (RFC 5322 section 3.4), decoded (RFC 2047)."""
    try:
        raw = message.get("From")
        if raw is None:
            return None
        decoded = str(email.header.make_header(email.header.decode_header(str(raw))))
        name, _ = email.utils.parseaddr(decoded)
    except Exception:
        return None
    return name or None


def extract_message(message: Message) -> ExtractedReply:
    """Extract the reply from a parsed message; never raises on messy mail."""
    try:
        plain, html = _bodies(message)
    except Exception:
        return ExtractedReply("", None, "", None, "")
    sender = sender_name(message)
    from_html = extract_html(html) if html is not None else None
    if plain is None or not plain.strip():
        return from_html if from_html is not None else ExtractedReply("", None, "", None, "")
    from_plain = extract_text(plain, sender=sender)
    if from_html is None:
        return from_plain
    chosen = from_plain
    if not from_plain.quoted.strip() and from_html.quoted.strip() and from_html.reply.strip():
        chosen = from_html
    return ExtractedReply(
        chosen.reply, chosen.signature, chosen.quoted, from_html.html, chosen.source
    )


def _looks_like_message(head: bytes) -> bool:
    header_block = head.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = header_block.splitlines()
    if not lines or not _HEADER_LINE_RE.match(lines[0]):
        return False
    if not all(_HEADER_LINE_RE.match(line) or line[:1] in (b" ", b"\t") for line in lines):
        return False
    lowered = header_block.lower()
    return any(lowered.startswith(name) or b"\n" + name in lowered for name in _KNOWN_HEADERS)


def extract_bytes(data: bytes) -> ExtractedReply:
    """Extract the reply from a file's bytes: a whole message, a bare HTML or text body."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:_SNIFF_BYTES]
    if _looks_like_message(head):
        message = email.message_from_bytes(data, policy=email.policy.compat32)
        return extract_message(message)
    text = _decode(data, "utf-8")
    if _HTML_HINT_RE.search(head):
        return extract_html(text)
    return extract_text(text)
