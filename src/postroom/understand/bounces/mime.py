"""A small, forgiving MIME reader: just enough of RFC 5322 and RFC 2045/2046 to classify a report.

Why not ``email.message_from_bytes``: it parses every part of a 15 MB returned message, and the
classifier needs only the header block, the report parts and the start of the human-readable text.
This reader splits on boundaries with ``bytes.find``, decodes only text-like parts, caps what it
decodes, and records defects instead of raising on broken input.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass, field

# Decoding more than this of one text part never changes a verdict; it only costs time.
MAX_TEXT_BYTES = 256 * 1024
# A returned message's header block; the longest in real bounces (Exchange) is about 20 KB.
MAX_HEADER_BYTES = 64 * 1024
MAX_PARTS = 64
MAX_DEPTH = 8

# RFC 2045 section 5.1 parameters; the quoted-string is written as an unrolled loop
# ("[^"\\]*(?:\\.[^"\\]*)*"), which the engine runs without trying a branch per character.
_PARAM = re.compile(r';\s*([A-Za-z0-9_.*\-]+)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"?|[^;\s]*)')
_TRAILING_SPACE = re.compile(rb"[ \t]+(?=\n)")
_TEXTUAL = (
    "text/",
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "message/disposition-notification",
)


@dataclass(slots=True)
class Part:
    """One MIME entity: its header fields (lower-cased names, unfolded values) and raw body."""

    fields: list[tuple[str, str]]
    body: bytes
    ctype: str = "text/plain"
    params: dict[str, str] = field(default_factory=dict)
    children: list[Part] = field(default_factory=list)
    _first: dict[str, str] | None = None

    def get(self, name: str) -> str | None:
        """The first value of field ``name`` (lower case), or None."""
        if self._first is None:
            # Built once: the classifier asks a header for a dozen fields.
            self._first = dict(reversed(self.fields))
        return self._first.get(name)

    def get_all(self, name: str) -> list[str]:
        """Every value of field ``name`` (lower case), in order."""
        return [value for key, value in self.fields if key == name]


def decode_header_bytes(raw: bytes) -> str:
    """Header octets as text: UTF-8 when valid, else Latin-1 (8-bit headers in the wild)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_fields(block: str) -> list[tuple[str, str]]:
    """Parse an RFC 5322 section 2.2 header block into (name, unfolded value) pairs.

    A field name is printable US-ASCII without space or colon (section 2.2). Lines that are
    neither a field nor a continuation are skipped: truncated or mangled headers are read as far
    as they go.
    """
    fields: list[tuple[str, str]] = []
    for line in block.split("\n"):
        if not line:
            continue
        if line[0] in " \t":
            if fields:
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {line.strip()}" if value else line.strip())
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        # str methods instead of a regular expression: this runs on every header line.
        if colon and name.isascii() and name.isprintable() and name and " " not in name:
            fields.append((name.lower(), value.strip()))
    return fields


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """Split LF-normalised bytes at the first empty line (RFC 5322 section 2.1)."""
    if data.startswith(b"\n"):
        return b"", data[1:]
    i = data.find(b"\n\n")
    if i < 0:
        return data, b""
    return data[:i], data[i + 2 :]


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """RFC 2045 section 5.1 Content-Type: the lower-cased type and its parameters."""
    if not value:
        return "text/plain", {}
    ctype, _, rest = value.partition(";")
    ctype = ctype.strip().lower() or "text/plain"
    if "/" not in ctype:
        ctype = "text/plain"
    params: dict[str, str] = {}
    for m in _PARAM.finditer(";" + rest):
        v = m.group(2)
        if v.startswith('"'):
            v = v[1:-1] if v.endswith('"') and len(v) > 1 else v[1:]
        params.setdefault(m.group(1).lower(), v)
    return ctype, params


def parse_entity(data: bytes, depth: int = 0, budget: list[int] | None = None) -> Part:
    """Parse LF-normalised bytes into a :class:`Part` tree (RFC 2046 section 5.1 multipart)."""
    if budget is None:
        budget = [MAX_PARTS]
    if data.startswith(b"From ") and b"\n" in data[:1024]:
        # An mbox "From " separator line is not a header field.
        data = data[data.index(b"\n") + 1 :]
    head, body = split_head(data)
    fields = parse_fields(decode_header_bytes(head))
    part = Part(fields, body)
    part.ctype, part.params = parse_content_type(part.get("content-type"))
    if part.ctype.startswith("multipart/") and depth < MAX_DEPTH:
        boundary = part.params.get("boundary", "")
        if boundary:
            for chunk in split_multipart(body, boundary.encode("latin-1", "replace")):
                if budget[0] <= 0:
                    break
                budget[0] -= 1
                part.children.append(parse_entity(chunk, depth + 1, budget))
    elif part.ctype in ("message/rfc822", "message/global") and depth < MAX_DEPTH:
        # The returned message (RFC 3464 section 2, RFC 6522 section 3): only its header is
        # read, so a 15 MB attachment in it is never split, decoded or scanned.
        budget[0] -= 1
        header = parse_header(decode_transfer(part, MAX_HEADER_BYTES))
        if header.ctype.startswith("multipart/report") and len(part.body) <= MAX_TEXT_BYTES:
            # A bounce forwarded whole (RFC 6522 section 3): its own report parts say who
            # failed, and a report is small, so it is read like the message that carries it.
            header = parse_entity(decode_transfer(part), depth + 1, budget)
        part.children.append(header)
    return part


def parse_header(data: bytes) -> Part:
    """An entity's header fields only, with an empty body (RFC 5322 section 2.1)."""
    if data.startswith(b"From ") and b"\n" in data[:1024]:
        data = data[data.index(b"\n") + 1 :]
    head, _ = split_head(data[:MAX_HEADER_BYTES])
    part = Part(parse_fields(decode_header_bytes(head)), b"")
    part.ctype, part.params = parse_content_type(part.get("content-type"))
    return part


def split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The body parts between RFC 2046 delimiters; a missing close delimiter ends at the data."""
    delim = b"\n--" + boundary
    data = b"\n" + body
    chunks: list[bytes] = []
    pos = data.find(delim)
    while pos >= 0 and len(chunks) < MAX_PARTS:
        start = pos + len(delim)
        if data[start : start + 2] == b"--":
            break
        eol = data.find(b"\n", start)
        if eol < 0:
            break
        nxt = data.find(delim, eol)
        chunks.append(data[eol + 1 : nxt if nxt >= 0 else len(data)])
        pos = nxt
    return chunks


def decode_transfer(part: Part, limit: int = MAX_TEXT_BYTES) -> bytes:
    """Undo the RFC 2045 section 6 Content-Transfer-Encoding, leniently, of about ``limit``
    octets of body (the rest is never read)."""
    cte = (part.get("content-transfer-encoding") or "").strip().lower()
    body = part.body
    try:
        if cte == "base64":
            return binascii.a2b_base64(body[: limit * 2])
        if cte == "quoted-printable":
            body = body[: limit * 2]
            if b" \n" in body or b"\t\n" in body:
                # RFC 2045 section 6.7 (3): white space at a line end was added in transport
                # and is deleted before decoding, so "= " then a line break is a soft break.
                body = _TRAILING_SPACE.sub(b"", body)
            return binascii.a2b_qp(body)
    except (binascii.Error, ValueError):
        return body
    return body


def decode_text(part: Part, defects: list[str]) -> str:
    """The part's text, charset-decoded with replacement characters for broken octets."""
    raw = decode_transfer(part)[:MAX_TEXT_BYTES]
    charset = part.params.get("charset", "utf-8").strip().lower() or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        defects.append(f"unknown charset {charset!r}")
        charset = "utf-8"
    try:
        return raw.decode(charset, "replace")
    except (UnicodeError, ValueError):
        defects.append(f"undecodable {charset!r} text")
        return raw.decode("latin-1")


def is_textual(ctype: str) -> bool:
    """Whether a part holds text the classifier reads (text/* and the report types)."""
    return ctype.startswith(_TEXTUAL)
