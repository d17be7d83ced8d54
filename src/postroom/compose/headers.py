"""Header fields as compose writes them: checked names and values, RFC 2047 encoded words,
RFC 2231 parameters, folded at 78 characters.

* Names are RFC 5322 §3.6.8 ftext (printable ASCII but the colon).
* Values never hold CR or LF (header injection) nor other control characters but TAB.
* Folding (RFC 5322 §2.2.3) inserts CRLF before a space postroom itself wrote between two
  tokens, so unfolding gives the value back exactly; lines stay within 78 characters unless
  one token is longer (a long URL), never over 998 octets (RFC 5322 §2.1.1).
* Text that cannot be written as it is (non-ASCII without SMTPUTF8, leading, trailing or
  repeated white space, a literal ``=?``, a word too long to fold) becomes RFC 2047 encoded
  words, ``=?utf-8?b?...?=``, each at most 75 characters (RFC 2047 §2) and never splitting a
  character (§5). With SMTPUTF8 (RFC 6532 §3.2) UTF-8 is written as it is.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from postroom.compose.addressing import Address
from postroom.errors import ComposeError

MAX_LINE = 78
_ENCODED_WORD_BYTES = 36  # 48 base64 characters: a 60-character word, so "Subject: " + word fits 78
_MAX_PLAIN_TOKEN = MAX_LINE - 1
_MAX_QUOTED = 70

_FTEXT = re.compile(r"[!-9;-~]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 5322 §3.2.3 atext, plus UTF8-non-ascii (RFC 6532 §3.2) for SMTPUTF8 messages.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_ATEXT_WORDS = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")
_PLAIN_SPACING = re.compile(r"\S+(?: \S+)*")
_MSG_ID = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")
# RFC 2231 §7 attribute-char: CHAR less specials, SPACE, "*", "'" and "%".
_ATTRIBUTE_SAFE = "!#$&+-.^_`|~"


def check_name(name: str, field: str) -> None:
    """Refuse a header field name that is not RFC 5322 §3.6.8 ftext."""
    if not isinstance(name, str) or not _FTEXT.fullmatch(name):
        raise ComposeError(
            field,
            f"{name!r} is not a header field name",
            "use printable ASCII letters, digits and dashes without a colon (RFC 5322 §3.6.8)",
        )


def check_value(value: str, field: str) -> None:
    """Refuse CR, LF and other control characters (but TAB) in a header value."""
    if not isinstance(value, str):
        raise ComposeError(
            field,
            f"a header value must be text, not {type(value).__name__}",
            "give the value as a string",
        )
    if "\r" in value or "\n" in value:
        raise ComposeError(
            field,
            "the value contains a line break (CR or LF)",
            "remove the line break; header injection is refused",
        )
    if _CONTROL.search(value):
        raise ComposeError(
            field,
            "the value contains a control character",
            "remove control characters other than TAB",
        )


def check_msg_id(value: str, field: str) -> str:
    """Return ``value`` as ``<id-left@id-right>`` (RFC 5322 §3.6.4); brackets are optional."""
    check_value(value, field)
    text = value.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if len(text) > 250 or not _MSG_ID.fullmatch(text):
        raise ComposeError(
            field,
            f"{value!r} is not a Message-ID",
            "give it as id@domain, at most 250 characters of printable ASCII without "
            "spaces or angle brackets inside (RFC 5322 §3.6.4)",
        )
    return f"<{text}>"


def encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 B encoded words in UTF-8, none splitting a character (§5).

    Decoders join adjacent encoded words without the white space between them (§6.2), so the
    text may be cut anywhere. (CPython's phrase parser is the exception: it reads that white
    space as a space.)
    """
    words: list[str] = []
    chunk: list[bytes] = []
    size = 0
    for char in text:
        data = char.encode("utf-8")
        if size + len(data) > _ENCODED_WORD_BYTES:
            words.append(_word(b"".join(chunk)))
            chunk, size = [], 0
        chunk.append(data)
        size += len(data)
    if chunk or not words:
        words.append(_word(b"".join(chunk)))
    return words


def _word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def _writable(text: str, utf8: bool) -> bool:
    return text.isascii() or utf8


def unstructured(text: str, utf8: bool) -> list[str]:
    """Tokens of an unstructured value (RFC 5322 §3.2.5): Subject and extra fields."""
    if not text:
        return []
    tokens = text.split(" ")
    if (
        _writable(text, utf8)
        and "=?" not in text
        and "\t" not in text
        and _PLAIN_SPACING.fullmatch(text)
        and max(map(len, tokens)) <= _MAX_PLAIN_TOKEN
    ):
        return tokens
    return encoded_words(text)


def phrase(name: str | None, utf8: bool) -> list[str]:
    """Tokens of a display name (RFC 5322 §3.2.5 phrase; RFC 2047 §5(3) when encoded)."""
    if not name:
        return []
    if _writable(name, utf8) and "=?" not in name and len(name) <= _MAX_QUOTED:
        if _ATEXT_WORDS.fullmatch(name):
            return name.split(" ")
        if "\t" not in name:
            escaped = name.replace("\\", "\\\\").replace('"', '\\"')
            return [f'"{escaped}"']
    return encoded_words(name)


def mailbox(name: str | None, address: Address, utf8: bool) -> list[str]:
    """Tokens of one mailbox: ``name <local@domain>`` or the bare addr-spec."""
    words = phrase(name, utf8)
    return [*words, f"<{address}>"] if words else [str(address)]


def address_list(mailboxes: Iterable[list[str]]) -> list[str]:
    """Tokens of a comma-separated address list (RFC 5322 §3.4)."""
    items = list(mailboxes)
    tokens: list[str] = []
    for position, item in enumerate(items):
        if position < len(items) - 1:
            item = [*item[:-1], item[-1] + ","]
        tokens.extend(item)
    return tokens


def fold(name: str, tokens: Sequence[str]) -> bytes:
    """The header field ``name: tokens...`` folded at 78 characters, CRLF-terminated."""
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = " " + token
        else:
            line = f"{line} {token}"
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def parameter(attribute: str, value: str) -> list[str]:
    """Tokens of a MIME parameter: a quoted string when it can be one, else RFC 2231 §3-4
    UTF-8 percent-encoding split into continuations that each fit on a line."""
    if value.isascii() and not _CONTROL.search(value) and len(value) <= _MAX_QUOTED:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return [f'{attribute}="{escaped}"']
    encoded = quote(value.encode("utf-8"), safe=_ATTRIBUTE_SAFE)
    head = f"{attribute}*="
    if len(head) + len("utf-8''") + len(encoded) <= MAX_LINE - 2:
        return [f"{head}utf-8''{encoded}"]
    # Continuations are cut between characters, never inside one's octets: decoders such as
    # CPython's decode each segment on its own.
    pieces: list[str] = []
    piece = "utf-8''"
    for char in value:
        unit = quote(char.encode("utf-8"), safe=_ATTRIBUTE_SAFE)
        if len(piece) + len(unit) > 60:
            pieces.append(piece)
            piece = ""
        piece += unit
    pieces.append(piece)
    return [f"{attribute}*{n}*={piece}" for n, piece in enumerate(pieces)]


def content_field(name: str, value: str, params: Sequence[list[str]] = ()) -> bytes:
    """A Content-* field: ``value; p1; p2`` with each parameter's tokens foldable."""
    tokens = [value, *(token for param in params for token in param)]
    return fold(name, [token + ";" for token in tokens[:-1]] + tokens[-1:])
