"""The SMTP wire format, both ways: splitting the server's bytes into replies, and the bytes of
the client's commands and message content. Pure functions and one buffer; no I/O."""

from __future__ import annotations

import re

from postroom.errors import ProtocolError
from postroom.outbound.types import EnhancedStatus, Reply

__all__ = ["ReplyReader", "build_mail", "build_rcpt", "stuff_message"]

#: Longest reply line accepted. RFC 5321 section 4.5.3.1.5 allows 512 octets, but servers
#: exceed it in the wild (long EHLO lists, verbose refusals); the limit only bounds memory.
MAX_LINE = 65536
#: Most lines in one reply (a multiline EHLO answer runs to a few dozen).
MAX_LINES = 1000

_CACHE_SIZE = 64
_ENHANCED_PREFIX = re.compile(rb"([245])\.(\d{1,3})\.(\d{1,3})(?: |$)")
_HYPHEN = 0x2D
_SPACE = 0x20


class ReplyReader:
    """Accumulates the server's bytes and hands back complete replies (RFC 5321 section 4.2).

    A reply is one or more lines ``NNN-text`` ending with a line ``NNN text`` (or ``NNN``); every
    line carries the same code. A reply may arrive split anywhere, several may arrive at once
    (PIPELINING). Lines end with CRLF; a bare LF is accepted too, as most clients do. Anything
    else raises :class:`ProtocolError` naming the offending line.
    """

    __slots__ = ("_buffer", "_cache", "_code", "_lines", "_position")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0
        self._lines: list[bytes] = []
        self._code = 0
        # A server answers most commands with the same line every time ("250 2.1.0 Ok"); a
        # reply is immutable, so such a line is parsed once per session.
        self._cache: dict[bytes, Reply] = {}

    def feed(self, data: bytes) -> None:
        if self._position and self._position == len(self._buffer):
            # Everything so far was consumed: start afresh rather than grow.
            self._buffer.clear()
            self._position = 0
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Octets received that are not yet part of a returned reply."""
        return len(self._buffer) - self._position + sum(len(line) + 2 for line in self._lines)

    def next_reply(self) -> Reply | None:
        """The next complete reply, or None until more bytes arrive."""
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n", self._position)
            if end < 0:
                if len(buffer) - self._position > MAX_LINE:
                    raise ProtocolError(
                        f"the server sent a reply line longer than {MAX_LINE} octets: "
                        "not an SMTP server, or a broken one"
                    )
                if self._position > 65536:
                    del buffer[: self._position]
                    self._position = 0
                return None
            stop = end - 1 if end > self._position and buffer[end - 1] == 0x0D else end
            line = bytes(buffer[self._position : stop])
            self._position = end + 1
            if not self._lines:
                cached = self._cache.get(line)
                if cached is not None:
                    return cached
            code = _parse_code(line)
            if self._lines and code != self._code:
                raise ProtocolError(
                    f"the server's multiline reply mixes codes {self._code} and {code}: "
                    f"{line!r:.120}"
                )
            self._code = code
            if len(line) > 3 and line[3] == _HYPHEN:
                if len(self._lines) >= MAX_LINES:
                    raise ProtocolError(f"the server sent a reply of more than {MAX_LINES} lines")
                self._lines.append(line)
                continue
            if not self._lines:
                reply = _build_reply(code, [line])
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                self._cache[line] = reply
                return reply
            lines, self._lines = self._lines, []
            lines.append(line)
            return _build_reply(code, lines)


def _parse_code(line: bytes) -> int:
    # RFC 5321 section 4.2: Reply-code = %x32-35 %x30-35 %x30-39, then SP, "-" or the end.
    if (
        len(line) < 3
        or line[0] not in b"2345"
        or line[1] not in b"012345"
        or line[2] not in b"0123456789"
        or (len(line) > 3 and line[3] != _SPACE and line[3] != _HYPHEN)
    ):
        raise ProtocolError(f"the server sent a line that is not an SMTP reply: {line!r:.120}")
    return (line[0] - 48) * 100 + (line[1] - 48) * 10 + (line[2] - 48)


def _build_reply(code: int, lines: list[bytes]) -> Reply:
    texts = [line[4:] for line in lines]
    enhanced: EnhancedStatus | None = None
    match = _ENHANCED_PREFIX.match(texts[0])
    # RFC 2034 section 4: the enhanced code opens the text of each line, and its class is the
    # reply's first digit. Without that agreement the text merely starts with digits.
    if match is not None and match[1][0] - 48 == code // 100:
        enhanced = EnhancedStatus(int(match[1]), int(match[2]), int(match[3]))
        prefix = match[0].rstrip(b" ")
        texts = [_strip_prefix(text, prefix) for text in texts]
    if len(texts) == 1:
        text = texts[0].decode("utf-8", "replace")
    else:
        text = b"\n".join(texts).decode("utf-8", "replace")
    return Reply(code, enhanced, text)


def _strip_prefix(text: bytes, prefix: bytes) -> bytes:
    if text.startswith(prefix) and (len(text) == len(prefix) or text[len(prefix)] == _SPACE):
        return text[len(prefix) + 1 :]
    return text


def build_mail(reverse_path: str, params: tuple[str, ...] = ()) -> bytes:
    """``MAIL FROM:<reverse-path> [params]`` (RFC 5321 section 4.1.1.2). The path is UTF-8 when
    the caller asked for SMTPUTF8 (checked by the copy), else ASCII."""
    tail = (" " + " ".join(params)) if params else ""
    return f"MAIL FROM:<{reverse_path}>{tail}\r\n".encode()


def build_rcpt(forward_path: str) -> bytes:
    """``RCPT TO:<forward-path>`` (RFC 5321 section 4.1.1.3)."""
    return f"RCPT TO:<{forward_path}>\r\n".encode()


def stuff_message(data: bytes) -> bytes:
    """The message content as sent after 354: every line that starts with "." gets one more
    (RFC 5321 section 4.5.2), the content ends with CRLF, then the terminating ".".

    Works on whole bytes (no per-line Python work): one replace per copy. It stuffs a "." after
    any LF, and after a CR not followed by LF, so content with bare line ends cannot hold a
    line a lenient server would take for the end of the message ("SMTP smuggling").
    """
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\n.", b"\n..")
    if b"\r." in data:
        data = data.replace(b"\r.", b"\r..")
    if data and not data.endswith(b"\r\n"):
        return data + b"\r\n.\r\n"
    return data + b".\r\n"
