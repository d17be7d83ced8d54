"""Reading the human-readable text of a bounce that carries no RFC 3464 report.

Exim, Postfix, Sendmail, qmail, Exchange, Domino, Gmail, Yahoo and the rest each word their
notices differently, but they share a shape: boilerplate, then each failed recipient on a line of
its own (or after a phrase such as "delivering your mail to"), then the remote server's reply,
then a copy of the returned message. This module finds that shape rather than any one text:

1. cut the text where the returned message begins (a separator line, or a header block);
2. find recipient addresses in "recipient position" (alone on a line, a list item, after
   ``RCPT TO:`` or a delivery phrase), excluding the bounce's own sender and addressee;
3. give each recipient the lines that follow it, up to the next recipient: its diagnostic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .headers import ADDRESS

# Scanning further never finds a recipient in a real notice; it only costs time on huge mail.
MAX_SCAN = 16 * 1024
MAX_SEGMENT_LINES = 14

_SEPARATOR = re.compile(
    r"^[ \t>|]*(?:[-=*_#]{2,}.*)?(?:original message|copy of (?:the |your )?(?:original )?message"
    r"|headers? of (?:the |your )?original|message headers? follows?|original message follows"
    r"|returned message|unsent message|text of (?:the|your) message|message text follows"
    r"|below this line|rfc ?822 headers|included message|undelivered message|original mail)"
    r".*$",
    re.IGNORECASE | re.MULTILINE,
)
_SEPARATOR_SHAPE = re.compile(
    r"^\s*[-=*_#]{2,}|(?:[-=*_#]{2,}|follows?\.?|following\.?|:|below\.?)\s*$"
)
_HEADER_LINE = re.compile(
    r"^(return-path|received|message-id|dkim-signature|date|from|subject|mime-version|to|cc"
    r"|delivered-to|reply-to|content-type|x-[a-z0-9\-]+|references|in-reply-to|sender)[ \t]*:",
    re.IGNORECASE,
)
_CORE_HEADERS = frozenset(
    {"return-path", "received", "message-id", "date", "from", "subject", "to", "mime-version"}
)
_POSITION = re.compile(
    r"(?:^[ \t>*\-•|]*(?:\d+[.)]\s*)?(?:(?:final-|original-)?recipient(?:\(s\))?|address(?:es)?"
    r"|rcpt to|to|user|mailbox|e-?mail)?\s*[:;]?\s*(?:rfc822\s*;)?\s*[<\"'(\[]*$)"
    r"|(?:rcpt to:?|deliver(?:ing|ed|y)? (?:of |your )?(?:mail |message |e-?mail )?(?:to|for)"
    r"|recipient:?|addressed to|failed (?:for|to)|mail(?:box)? for|sent to|to the following"
    r" (?:recipient|address)e?s?(?:\(e?s\))?:?|could not (?:be )?deliver(?:ed)? to|user|to:)"
    r"\s*[<\"'(\[]*$",
    re.IGNORECASE,
)
_DAEMON = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|maildaemon|mdaemon|no-?reply|noreply|root"
    r"|daemon|bounce[sd]?|mail\.?delivery|abuse|administrator|double-bounce)$",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?|ftp)://\S+|\bwww\.\S+", re.IGNORECASE)
_REMOTE_HOST = re.compile(
    r"(?:host|server|mta|talking to|connect(?:ed|ing)? to|remote)\s*:?\s*([A-Za-z0-9][A-Za-z0-9\-]*"
    r"(?:\.[A-Za-z0-9\-]+)+)\.?\s*(?:\[|\(|said|:|$)"
    r"|([A-Za-z0-9][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)+)\s*\[[0-9a-fA-F.:]+\]\s*"
    r"(?:said|did not like)",
    re.IGNORECASE,
)


@dataclass(slots=True)
class TextRecipient:
    """A recipient found in a notice's text, with the lines that describe its failure."""

    address: str
    diagnostic: str
    remote_host: str | None


def cut_returned(text: str) -> str:
    """The notice without the returned message that follows it (see the module docstring)."""
    text = text[:MAX_SCAN]
    end = len(text)
    for m in _SEPARATOR.finditer(text):
        if _SEPARATOR_SHAPE.search(m.group(0)):
            end = m.start()
            break
    lines = text[:end].split("\n")
    for i, line in enumerate(lines):
        hm = _HEADER_LINE.match(line)
        if hm is None:
            continue
        names = {hm.group(1).lower()}
        for nxt in lines[i + 1 : i + 10]:
            nm = _HEADER_LINE.match(nxt)
            if nm:
                names.add(nm.group(1).lower())
            elif not nxt[:1].isspace() or not nxt.strip():
                break
        if len(names & _CORE_HEADERS) >= 2:
            return "\n".join(lines[:i])
    return "\n".join(lines)


def is_daemon(address: str) -> bool:
    """Whether an address is a mail system's own (MAILER-DAEMON, postmaster, ...)."""
    return bool(_DAEMON.match(address.partition("@")[0]))


def find_recipients(notice: str, exclude: set[str]) -> list[TextRecipient]:
    """Failed recipients named in a notice's text, each with its diagnostic lines."""
    lines = notice.split("\n")
    strong: list[tuple[int, str]] = []
    weak: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
        scrubbed = _URL.sub(" ", line)
        for m in ADDRESS.finditer(scrubbed):
            address = m.group(0).strip(".").lower()
            if address in exclude or is_daemon(address):
                continue
            before = scrubbed[: m.start()]
            if before.endswith(("=", "/", "?")) or "message-id" in before.lower():
                continue
            target = strong if _POSITION.search(before) else weak
            target.append((index, address))
    chosen = strong or weak
    order: list[str] = []
    for _, address in chosen:
        if address not in order:
            order.append(address)
    if not strong and len(order) > 3:
        # Many loose mentions and no list: a notice quoting text, not naming recipients.
        order = order[:1]
    mentions = sorted(strong + weak)
    result: list[TextRecipient] = []
    for address in order:
        segment = _segment(lines, mentions, address)
        result.append(TextRecipient(address, segment, find_remote_host(segment)))
    return result


def _segment(lines: list[str], mentions: list[tuple[int, str]], address: str) -> str:
    """The lines from each mention of ``address`` up to the next line naming someone else."""
    starts = sorted({i for i, a in mentions if a == address})
    others = sorted({i for i, a in mentions if a != address})
    pieces: list[str] = []
    covered = -1
    for start in starts:
        if start <= covered:
            continue
        stop = min([i for i in others if i > start] + [len(lines), start + MAX_SEGMENT_LINES])
        pieces.extend(lines[start:stop])
        covered = stop - 1
    return "\n".join(pieces)


def find_remote_host(text: str) -> str | None:
    """The remote MTA a notice says answered (``host mx.example [192.0.2.1]: 550 ...``)."""
    m = _REMOTE_HOST.search(text[:1500])
    if m is None:
        return None
    host = (m.group(1) or m.group(2)).lower()
    return host if "." in host and not host.replace(".", "").isdigit() else None


def scrub(text: str) -> str:
    """Diagnostic text without URLs and addresses, whose words must not decide a reason."""
    return " ".join(ADDRESS.sub(" ", _URL.sub(" ", text)).split())
