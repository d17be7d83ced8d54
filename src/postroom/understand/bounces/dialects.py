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

import ahocorasick

from postroom.understand.lazyre import lazy

from .headers import ADDRESS
from .mime import READ_FIELDS, Part, parse_fields

# Scanning further never finds a recipient in a real notice; it only costs time on huge mail.
MAX_SCAN = 16 * 1024
MAX_SEGMENT_LINES = 14

# Phrases that open the returned copy; matched on lower-cased text, then the line is checked.
# The phrases a separator line holds ("------ Original message ------"), as literals found in
# one Aho-Corasick pass: a regular-expression alternation would be tried at every position.
_SEPARATOR_PHRASES = (
    "original message",
    *(f"copy of {a}{b}message" for a in ("", "the ", "your ") for b in ("", "original ")),
    *(f"{h} of {a}original" for h in ("header", "headers") for a in ("", "the ", "your ")),
    "message header follow",
    "message headers follow",
    "returned message",
    "unsent message",
    "text of the message",
    "text of your message",
    "message text follows",
    "below this line",
    "rfc822 headers",
    "rfc 822 headers",
    "included message",
    "undelivered message",
    "original mail",
)
_SEPARATOR = ahocorasick.Automaton()
for _phrase in _SEPARATOR_PHRASES:
    _SEPARATOR.add_word(_phrase, len(_phrase))
_SEPARATOR.make_automaton()
# What may precede the phrase on its line: quoting, then an optional rule (``----- ``).
_SEPARATOR_LEAD = lazy(r"[ \t>|]*(?:[-=*_#]{2,}.*)?")
_SEPARATOR_SHAPE = lazy(r"^\s*[-=*_#]{2,}|(?:[-=*_#]{2,}|follows?\.?|following\.?|:|below\.?)\s*$")
_HEADER_LINE = lazy(
    r"^(return-path|received|message-id|dkim-signature|date|from|subject|mime-version|to|cc"
    r"|delivered-to|reply-to|content-type|x-[a-z0-9\-]+|references|in-reply-to|sender)[ \t]*:",
    re.IGNORECASE,
)
# The same at any line start, searched in "\n" + text: a literal first character lets the
# search skip ahead, where "^" in MULTILINE mode is tried at every position.
_HEADER_START = lazy("\n" + _HEADER_LINE.pattern[1:], re.IGNORECASE)
# Both for lower-cased US-ASCII text, where they match what the two above match.
_HEADER_LINE_LOW = lazy(_HEADER_LINE.pattern)
_HEADER_START_LOW = lazy(_HEADER_START.pattern)
_CORE_HEADERS = frozenset(
    {"return-path", "received", "message-id", "date", "from", "subject", "to", "mime-version"}
)
# "To: / Subject:" alone name the message that failed (Yahoo, Exchange), not a returned header.
_SUMMARY_HEADERS = frozenset({"to", "cc", "subject"})
_QUOTED_FIELD = lazy(r"^\s*(?:to|cc|subject|sent|date|from)\s*:", re.IGNORECASE)
# A line that opens with an RFC 5321 reply code ("552 Quota violation for a@example.org").
_REPLY_LINE = lazy(r"^\s*[45]\d\d[ \-]")
# Lines of an SMTP session transcript (Sendmail): commands, replies, the host talked to.
_TRANSCRIPT = lazy(r"^\s*(?:<<<|>>>|(?:\.\.\. )?while talking to|[45]\d\d[ \-])", re.IGNORECASE)
# Recipient position, read on the text before an address on its line: the whole of it is a
# list item or a field's label (_POSITION_ALONE), or it ends with a delivery phrase
# (_POSITION_AFTER). The phrase is short, so only the end of the text is searched for it
# (_POSITION_REACH characters before the white space and brackets that may end it).
_POSITION_ALONE = lazy(
    r"[ \t>*\-•|]*(?:\d+[.)]\s*)?(?:(?:final-|original-)?recipient(?:\(s\))?|address(?:es)?"
    r"|rcpt to|to|user|mailbox|e-?mail)?\s*[:;]?\s*(?:rfc822\s*;)?\s*[<\"'(\[]*$",
    re.IGNORECASE,
)
_POSITION_AFTER = lazy(
    r"(?:rcpt to:?|deliver(?:ing|ed|y)? (?:of |your )?(?:mail |message |e-?mail )?(?:to|for)"
    r"|recipient:?|addressed to|failed (?:for|to)|mail(?:box)? for|sent to|to the following"
    r" (?:recipient|address)e?s?(?:\(e?s\))?:?|could not (?:be )?deliver(?:ed)? to|user|to:)"
    r"\s*[<\"'(\[]*$",
    re.IGNORECASE,
)
# Longer than any phrase of _POSITION_AFTER ("to the following addresses(es):" is 31).
_POSITION_REACH = 64
_DAEMON = lazy(
    r"^(?:mailer-daemon|post_?master|mail-daemon|maildaemon|mdaemon|no-?reply|noreply|root"
    r"|daemon|bounce[sd]?|mail\.?delivery|abuse|administrator|double-bounce)$",
    re.IGNORECASE,
)
_SENDER_FIELD = lazy(
    r"(?:mail from|return-path|x-postfix-sender|envelope-from|envelope from|sender)\s*[:=]?"
    r"\s*(?:rfc822\s*;)?\s*[<\"'(\[]*$"
)
_NAME_ADDR = lazy(r"[ \t]*<(?!mailto:)([^<>\s@:]+@[^<>\s]+)>", re.IGNORECASE)
_URL = lazy(r"(?:https?|ftp)://\S+|\bwww\.\S+", re.IGNORECASE)
# "host mx.example[192.0.2.1]: 550 ..." (Exim, Postfix) or "... said:" after a named server.
_REMOTE_HOST = lazy(
    r"(?:host|server|mta|talking to|connect(?:ed|ing)? to|remote)\s*:?\s*([a-z0-9][a-z0-9\-]*"
    r"(?:\.[a-z0-9\-]+)+)\.?\s*(?:\[|\(|said|:|$)"
)
# Sendmail's "mx.example [192.0.2.1] said:" has no keyword before the host: find the bracketed
# address first (a rare, cheap anchor), then read the host name that ends just before it.
_SAID = lazy(r"\s*\[[0-9a-f.:]+\]\s*(?:said|did not like)")
_HOST_BEFORE = lazy(r"[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)+$")


@dataclass(slots=True)
class TextRecipient:
    """A recipient found in a notice's text, with the lines that describe its failure."""

    address: str
    diagnostic: str
    remote_host: str | None


def cut_returned(text: str) -> str:
    """The notice without the returned message that follows it (see the module docstring)."""
    text = text[:MAX_SCAN]
    low = text.lower()
    end = _separator(text, low)
    head = text[:end]
    if text.isascii():
        # Lower-casing US-ASCII keeps every index: the lower-cased head is searched without
        # IGNORECASE, which costs twice as much at every line start.
        start, line = _HEADER_START_LOW, _HEADER_LINE_LOW
        scanned = low[:end]
    else:
        start, line, scanned = _HEADER_START, _HEADER_LINE, head
    # Offsets in "\n" + head: a match starts at the newline before its line, at head's index
    # of that line's start less one.
    for m in start.finditer("\n" + scanned):
        # Two or more core fields in one block: the returned message's header (RFC 5322 2.2).
        names = {m.group(1).lower()}
        for nxt in scanned[m.end() - 1 :].split("\n", 10)[1:10]:
            nm = line.match(nxt)
            if nm:
                names.add(nm.group(1).lower())
            elif not nxt[:1].isspace() or not nxt.strip():
                break
        if len(names & _CORE_HEADERS) >= 2 and not names <= _SUMMARY_HEADERS:
            return head[: max(m.start() - 1, 0)]
    return head


def inline_returned(rest: str) -> Part | None:
    """The header of a returned message pasted as text after the notice (what
    :func:`cut_returned` cut off), or None: the first block of header fields, up to a blank
    line (RFC 5322 section 2.1)."""
    m = _HEADER_START.search("\n" + rest[:4096])
    if m is None:
        return None
    block = rest[m.start() :].split("\n\n", 1)[0]
    return Part(parse_fields(block[:MAX_SCAN], READ_FIELDS), b"")


def _separator(text: str, low: str) -> int:
    """Where a separator line ("------ Original message ------") starts, else the length;
    ``low`` is ``text.lower()``."""
    # Matches come in the order of their ends, so line by line.
    for last, length in _SEPARATOR.iter(low):
        begin, end = last + 1 - length, last + 1
        start = low.rfind("\n", 0, begin) + 1
        if not _SEPARATOR_LEAD.fullmatch(low, start, begin):
            continue
        stop = low.find("\n", end)
        if _SEPARATOR_SHAPE.search(text[start : stop if stop >= 0 else len(text)]):
            return start
    return len(text)


def is_daemon(address: str) -> bool:
    """Whether an address is a mail system's own (MAILER-DAEMON, postmaster, ...)."""
    return bool(_DAEMON.match(address.partition("@")[0]))


def find_recipients(
    notice: str, exclude: set[str], sender: frozenset[str] = frozenset()
) -> list[TextRecipient]:
    """Failed recipients named in a notice's text, each with its diagnostic lines.

    ``exclude`` are never recipients. ``sender`` (the original sender, whom the bounce is
    addressed to) is one only when the notice names nobody else in recipient position: people
    do send mail to themselves, and the notice then lists their own address as the failure.
    """
    lines = notice.split("\n")
    strong, weak = _mentions(lines, exclude | sender, True)
    if not strong and sender:
        own, _ = _mentions(lines, exclude, True)
        strong = [(i, a) for i, a in own if a in sender]
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


def find_contexts(notice: str, addresses: list[str]) -> dict[str, str]:
    """The lines a notice spends on each of ``addresses``, already named by an RFC 3464 report."""
    lines = notice.split("\n")
    mentions, _ = _mentions(lines, set(), False)
    mentions.sort()
    return {a: _segment(lines, mentions, a) for a in addresses}


def _mentions(
    lines: list[str], exclude: set[str], rank: bool
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line, address) mentions: those in recipient position, then the rest (when ``rank``)."""
    strong: list[tuple[int, str]] = []
    weak: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
        scrubbed = _URL.sub(" ", line) if "/" in line or "www" in line.lower() else line
        for m in ADDRESS.finditer(scrubbed):
            address = m.group(0).strip(".").lower()
            if address in exclude or "/" in address or (rank and is_daemon(address)):
                # A "/" makes it a path (.forward, a mailbox file) or an ARN, not a mailbox.
                # A report may name postmaster@ as its failed recipient: contexts keep it.
                continue
            before = scrubbed[: m.start()]
            if before.endswith(("=", "/", "?", ":")) or "message-id" in before.lower():
                continue
            tail = before[-40:].lower()
            if ("from" in tail or "sender" in tail or "path" in tail) and _SENDER_FIELD.search(
                tail
            ):
                # RFC 5321 MAIL FROM, Return-Path, Postfix's X-Postfix-Sender and the like
                # name the message's return address: the report's own, never a failure.
                continue
            if rank and before.endswith("may not follow "):
                # Exim's "malformed address: <b> may not follow a": the address a malformed
                # one came after in the header, quoted to place the error, not a recipient.
                continue
            named = _NAME_ADDR.match(scrubbed, m.end())
            if named and named.group(1).lower() != address and not before.endswith("<"):
                # "a@example.com <b@example.net>": RFC 5322 section 3.4 name-addr, the first
                # is only the display name of the mailbox in angle brackets.
                continue
            if not rank:
                strong.append((index, address))
            elif _is_quoted_field(lines, index):
                weak.append((index, address))
            elif _in_position(before) or _REPLY_LINE.match(before):
                strong.append((index, address))
            else:
                weak.append((index, address))
    return strong, weak


def _in_position(before: str) -> bool:
    """Whether the text before an address on its line puts it in recipient position."""
    if _POSITION_ALONE.match(before):
        return True
    # The phrase ends where the closing white space and brackets begin: those stripped, the
    # phrase lies within the last _POSITION_REACH characters.
    end = len(before.rstrip("<\"'([").rstrip())
    return _POSITION_AFTER.search(before, max(0, end - _POSITION_REACH)) is not None


def _is_quoted_field(lines: list[str], index: int) -> bool:
    """Whether a line is a "To:" of a quoted header summary ("To: ... / Subject: ...")."""
    if not _QUOTED_FIELD.match(lines[index]):
        return False
    near = lines[max(index - 2, 0) : index] + lines[index + 1 : index + 3]
    return any(_QUOTED_FIELD.match(line) for line in near)


def _segment(lines: list[str], mentions: list[tuple[int, str]], address: str) -> str:
    """The lines from each mention of ``address`` up to the next line naming someone else.

    Sendmail's transcript puts the cause above the result: ``<<< 501 ... open relay`` and only
    then ``554 <a@example.org>... Remote protocol error``. So the transcript lines just above
    a mention (``>>>``, ``<<<``, "while talking to") belong to it, and a result line that
    opens with a reply code ends where the next reply code (another host's, another result)
    begins.
    """
    starts = sorted({i for i, a in mentions if a == address})
    named = {i for i, _ in mentions}
    others = sorted({i for i, a in mentions if a != address})
    pieces: list[str] = []
    covered = -1
    for start in starts:
        if start <= covered:
            continue
        stop = min([i for i in others if i > start] + [len(lines), start + MAX_SEGMENT_LINES])
        code = _REPLY_LINE.match(lines[start])
        if code is not None:
            for i in range(start + 1, stop):
                nxt = _REPLY_LINE.match(lines[i])
                if nxt is not None and nxt.group(0).strip()[:3] != code.group(0).strip()[:3]:
                    stop = i
                    break
        first = start
        while first - 1 > covered and first - 1 not in named:
            above = _TRANSCRIPT.match(lines[first - 1])
            if above is None:
                break
            first -= 1
            if "talking" in above.group(0).lower():
                break  # where this host's exchange began
        if any(line.lstrip().startswith("<<<") for line in lines[first:start]):
            start = first
        pieces.extend(lines[start:stop])
        covered = stop - 1
    return "\n".join(pieces)


def find_remote_host(text: str) -> str | None:
    """The remote MTA a notice says answered (``host mx.example [192.0.2.1]: 550 ...``)."""
    low = text[:1500].lower()
    m = _REMOTE_HOST.search(low)
    found = (m.start(), m.group(1)) if m else None
    said = _SAID.search(low, 0, m.start() if m else len(low)) if "[" in low else None
    while said is not None:
        before = _HOST_BEFORE.search(low, max(0, said.start() - 255), said.start())
        if before is not None:
            if found is None or before.start() < found[0]:
                found = (before.start(), before.group(0))
            break
        said = _SAID.search(low, said.end(), m.start() if m else len(low))
    if found is None:
        return None
    host = found[1]
    return host if "." in host and not host.replace(".", "").isdigit() else None


def scrub(text: str) -> str:
    """Diagnostic text without addresses, and with each URL cut to its host name.

    An address's local part (``filtered@``, ``spam-test@``) and a URL's path and query must
    not decide a reason; a URL's host may, as it names the service that refused the mail
    (``www.spamhaus.org/query/...`` is a block list). Neither a URL nor an address spans
    white space, so only the words that may hold one are rewritten.
    """
    words = text.split()
    low = text.lower()
    if "@" not in text and "://" not in text and "www." not in low:
        return " ".join(words)
    # Lower-casing keeps every white space and makes none, so the lower-cased words are the
    # words, index by index: one lower() for the text instead of one a word.
    words = [
        word if "@" not in word and "://" not in word and "www." not in lowered else _scrub(word)
        for word, lowered in zip(words, low.split(), strict=True)
    ]
    return " ".join(" ".join(words).split())


def _scrub(word: str) -> str:
    """One word of :func:`scrub` that holds an address or a URL."""
    cut = _URL.sub(_url_host, word) if "://" in word or "www." in word.lower() else word
    return ADDRESS.sub(" ", cut) if "@" in cut else cut


def _url_host(match: re.Match[str]) -> str:
    """The host of a URL (RFC 3986 section 3.2.2), surrounded by spaces."""
    rest = match.group(0).partition("://")[2] or match.group(0)
    host = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return f" {host} "
