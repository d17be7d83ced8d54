"""Parsing received bytes into a message, recording defects instead of raising (RFC 5322)."""

from __future__ import annotations

import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from postroom.errors import UnparseableMessage

# ``policy.default`` gives typed headers; raise_on_defect stays False so messy mail is read.
_POLICY = email.policy.default.clone(max_line_length=0)
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]{1,200}:", re.MULTILINE)
HEADER_END = re.compile(rb"\r?\n\r?\n")

#: How deep MIME entities may nest before the rest is cut off and recorded as a defect. The
#: same limit as Postfix's ``mime_nesting_limit`` default (postconf(5)); the standard library's
#: recursive parser and walkers run out of stack somewhere past a few hundred levels.
MIME_NESTING_LIMIT = 100
NESTING_DEFECT = "MimeNestingTooDeepDefect"
_NESTING_HINT = re.compile(rb"multipart/|message/(?:rfc822|global)", re.IGNORECASE)
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"^content-type\s*:", re.IGNORECASE)


class HeaderSection:
    """The header fields of a message (RFC 5322 section 2.2), unfolded, by lowercase name.

    Deliberately small: the pipeline reads a dozen fields from every message, and the
    standard library's feed parser costs more per line than the rest of a bounce's handling.
    8-bit bytes are read as UTF-8 (RFC 6532), undecodable ones replaced.
    """

    __slots__ = ("_fields", "defects")

    def __init__(self, section: bytes) -> None:
        self._fields: dict[str, list[str]] = {}
        self.defects: list[str] = []
        name: str | None = None
        parts: list[str] = []
        for line in section.decode("utf-8", "replace").splitlines():
            if not line:
                break
            if line[0] in " \t" and name is not None:
                parts.append(line)  # folded continuation (RFC 5322 section 2.2.3)
                continue
            if name is not None:
                self._add(name, parts)
            head, colon, rest = line.partition(":")
            if not colon or not head or " " in head.strip():
                self.defects.append("MissingHeaderBodySeparatorDefect")
                name = None
                continue
            name, parts = head.strip().lower(), [rest]
        if name is not None:
            self._add(name, parts)

    def _add(self, name: str, parts: list[str]) -> None:
        self._fields.setdefault(name, []).append("".join(parts).strip())

    def get(self, name: str) -> str | None:
        values = self._fields.get(name.lower())
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return list(self._fields.get(name.lower(), ()))


class ParsedMessage:
    """A received message and the facts the pipeline reads from it again and again.

    Only the header section is read up front (:class:`HeaderSection`); the
    full MIME tree with ``policy.default`` is parsed on first use of :attr:`message`, which
    only the reply path needs. Bounces and auto-replies never pay for it.
    """

    __slots__ = (
        "_message",
        "defects",
        "headers",
        "message_id",
        "raw",
        "readable",
        "sender",
        "subject",
    )

    def __init__(self, raw: bytes, headers: HeaderSection) -> None:
        self.raw = raw
        self.headers = headers
        self._message: EmailMessage | None = None
        self.message_id = normalise_message_id(self.header("Message-ID"))
        self.sender = first_address(self.header("From"))
        self.subject = decode_words(self.header("Subject") or "").strip()
        defects = list(headers.defects)
        # What the MIME readers may be given: all of it, unless it nests too deep to read.
        self.readable, cut = readable_mime(raw)
        if cut:
            defects.append(NESTING_DEFECT)
        self.defects: tuple[str, ...] = tuple(defects)

    @property
    def return_path(self) -> str | None:
        """The Return-Path the delivering MTA wrote: "" for the null path (RFC 5321 4.5.5)."""
        return _return_path(self.header("Return-Path"))

    @property
    def message(self) -> EmailMessage:
        if self._message is None:
            parsed = BytesParser(policy=_POLICY).parsebytes(self.readable)
            assert isinstance(parsed, EmailMessage)
            self._message = parsed
            cut = (NESTING_DEFECT,) if self.readable is not self.raw else ()
            self.defects = tuple(type(d).__name__ for d in parsed.defects) + cut
        return self._message

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_all(self, name: str) -> list[str]:
        return self.headers.get_all(name)


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
    end = HEADER_END.search(raw, 0, 1024 * 1024)
    section = raw[: end.end()] if end else raw[: 1024 * 1024]
    return ParsedMessage(raw, HeaderSection(section))


def readable_mime(raw: bytes, limit: int = MIME_NESTING_LIMIT) -> tuple[bytes, bool]:
    """``raw`` cut before the first MIME entity nested deeper than ``limit`` (RFC 2046
    section 5.1.1 multiparts, section 5.2.1 message/rfc822), and whether anything was cut.

    A scan of lines with an explicit stack, never recursion; messages with fewer nesting
    content types than the limit (all real mail) are not scanned at all.
    """
    if len(_NESTING_HINT.findall(raw)) <= limit:
        return raw, False
    cut = _nesting_cut(raw, limit)
    return (raw, False) if cut is None else (raw[:cut], True)


def _nesting_cut(raw: bytes, limit: int) -> int | None:
    # Each level: the boundary of a multipart, or None for an encapsulated message (which
    # ends with the boundary of the level around it).
    stack: list[bytes | None] = []
    in_header, entity_start, content_type = True, 0, b""
    offset = 0
    for line in raw.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        text = line.rstrip(b"\r\n")
        if in_header:
            if text and text[:1] in (b" ", b"\t") and content_type:
                content_type += text
            elif text:
                content_type = text if _CONTENT_TYPE.match(text) else content_type
            else:
                in_header = False
                lowered = content_type.lower()
                if b"multipart/" in lowered:
                    found = _BOUNDARY.search(content_type)
                    if found:
                        stack.append(found.group(1) or found.group(2))
                elif b"message/rfc822" in lowered or b"message/global" in lowered:
                    if len(stack) >= limit:
                        return offset  # the encapsulated message would nest too deep
                    stack.append(None)
                    in_header, entity_start, content_type = True, offset, b""
                if len(stack) > limit:
                    return entity_start
            continue
        if not text.startswith(b"--"):
            continue
        for level in range(len(stack) - 1, -1, -1):
            boundary = stack[level]
            if boundary is None or not text.startswith(b"--" + boundary):
                continue
            rest = text[len(boundary) + 2 :]
            if rest.startswith(b"--"):
                del stack[level:]
            elif not rest.strip():
                del stack[level + 1 :]
                in_header, entity_start, content_type = True, start, b""
            break
    return None


def normalise_message_id(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    match = re.search(r"<([^<>\s]+)>", text)
    text = match.group(1) if match else text.strip("<> \t")
    return text or None


_ANGLE_ADDRESS = re.compile(r'^[^<>@",;=]{0,200}<([^<>@\s",;]+@[^<>@\s",;]+)>\s*$')
# RFC 5322 section 3.4.1 addr-spec with a dot-atom local part (RFC 6531 lets it hold UTF-8),
# and a host name as domain (RFC 5321 section 4.1.2). Quoted local parts are not answered.
# Non-ASCII characters are checked as letters (see is_mailbox): a character class spanning
# all of Unicode costs milliseconds to compile at every start of the MTA pipe.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_MAILBOX = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# RFC 5322 section 3.6.4 msg-id: id-left "@" id-right, each dot-atom-text or a no-fold literal.
_ID_TEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*"
_MSG_ID = re.compile(rf"{_ID_TEXT}@(?:{_ID_TEXT}|\[[\x21-\x5a\x5e-\x7e]*\])")
#: The longest Message-ID an error email repeats: "References: <id>" must fit in the 998
#: characters RFC 5322 section 2.1.1 allows a line.
MAX_MESSAGE_ID = 980


def is_mailbox(address: str) -> bool:
    """True for a plain ``local@domain`` that mail can be sent to (no encoded words, no
    comments, no quoting: anything else is not answered)."""
    if len(address) > 254 or "=?" in address or len(address.rpartition("@")[0]) > 64:
        return False
    if not address.isascii():
        if any("\ud800" <= c <= "\udfff" for c in address):
            return False
        address = _NON_ASCII.sub("a", address)
    return _MAILBOX.fullmatch(address) is not None


def is_message_id(value: str) -> bool:
    """True for a msg-id (without its angle brackets) that can be repeated in a header."""
    return len(value) <= MAX_MESSAGE_ID and _MSG_ID.fullmatch(value) is not None


def first_address(value: str | None) -> str | None:
    """The first mailbox of an address header (RFC 5322 section 3.4), or None.

    Only a real mailbox counts: a display name is never taken for the address, encoded
    (RFC 2047) or not, so ``=?utf-8?q?x@evil.example?= <ada@example.net>`` is Ada.
    """
    if not value:
        return None
    # The common "Name <addr>" form directly; anything else (quoted names, comments, groups,
    # several mailboxes) through the standard library's full parser.
    match = _ANGLE_ADDRESS.match(value)
    if match and is_mailbox(match.group(1)):
        return match.group(1)
    for _, addr in getaddresses([value]):
        if is_mailbox(addr.strip()):
            return addr.strip()
    _, addr = parseaddr(value)
    return addr.strip() if is_mailbox(addr.strip()) else None


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
