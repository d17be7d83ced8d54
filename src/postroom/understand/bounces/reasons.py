"""From an enhanced status code, a diagnostic text and an SMTP command to a reason; hard or soft.

The decision, in order of how much each signal proves:

1. A precise RFC 3463 code (:mod:`.statuses`): ``X.2.2`` is a full mailbox whatever the text adds.
2. A specific phrase (:data:`.phrases.SPECIFIC`): servers send ``5.1.1`` or ``5.7.1`` for spam
   blocks, block lists and full mailboxes alike, so the wording outranks a vague code.
3. A mailbox code (``X.1.0``, ``X.1.1``, ``X.1.3``): the address is unknown.
4. "User unknown" wording (:data:`.phrases.MAILBOX_UNKNOWN`) is read with the SMTP command that
   drew it. RFC 5321 section 3.3 has the server check the mailbox when it answers ``RCPT``; the
   same words after ``DATA`` come from a content filter speaking after the fact, and after
   ``MAIL`` they are about the sender's address.
5. A general phrase (:data:`.phrases.GENERAL`), then what a vague code names.
6. The stage alone: a refusal at the greeting or ``EHLO`` (RFC 5321 section 4.3.2) is a block
   on the sending host; one at ``MAIL`` a refusal of the sender.

``hard`` follows the reason rather than the class digit: an unknown mailbox or domain, a moved
mailbox and a domain that takes no mail will fail again; a full mailbox or a block may not.
"""

from __future__ import annotations

import re

from .phrases import GENERAL, MAILBOX_UNKNOWN, SPECIFIC
from .statuses import (
    REPLY_CODE,
    STATUS,
    find_reply_code,
    find_status,
    infer_status,
    is_precise,
    reason_from_status,
)

__all__ = [
    "REPLY_CODE",
    "STATUS",
    "decide_reason",
    "find_command",
    "find_reply_code",
    "find_status",
    "infer_status",
    "is_hard",
    "reason_from_status",
    "reason_from_text",
]

HARD = frozenset({"userunknown", "hostunknown", "hasmoved"})

# The verdict is in the first lines; scanning further only costs time on long notices.
_SAMPLE = 3072


_Table = tuple[tuple[str, re.Pattern[str], tuple[str, ...] | None], ...]


def _literal(fragment: str) -> str | None:
    """The longest text every match of a phrase fragment must contain, or None if under 3 chars.

    Only characters outside groups and classes, and not made optional by a quantifier, count.
    A substring test (a C scan) with it lets most reasons skip their regular expression.
    """
    best, cur, depth, i = "", "", 0, 0
    while i < len(fragment):
        ch = fragment[i]
        step = 1
        if ch == "\\":
            step = 2
            nxt = fragment[i + 1 : i + 2]
            if depth == 0 and nxt in ".-'\"/#()[]":
                cur += nxt
                i += step
                continue
        elif ch == "[":
            step = fragment.index("]", i + 2) - i + 1
        elif ch in "?*{":
            cur = cur[:-1]
            if ch == "{":
                step = fragment.index("}", i) - i + 1
        elif ch == "|" and depth == 0:
            return None
        elif ch not in "().^$+" and depth == 0:
            cur += ch
            i += step
            continue
        depth += (ch == "(") - (ch == ")")
        best = max(best, cur, key=len)
        cur = ""
        i += step
    best = max(best, cur, key=len)
    return best if len(best) >= 3 and len(best.strip()) >= 2 else None


_WORDS_GROUP = re.compile(r"\(\?:([a-z' |-]+)\)(?![?*{])")


def _triggers(fragment: str) -> tuple[str, ...] | None:
    """Texts one of which every match of a fragment contains: its literal, else the words of a
    required ``(?:a|b|c)`` group (the one whose shortest word is longest), else None."""
    literal = _literal(fragment)
    if literal is not None:
        return (literal,)
    best: tuple[str, ...] | None = None
    depth_ok = (
        m
        for m in _WORDS_GROUP.finditer(fragment)
        if fragment[: m.start()].count("(") == fragment[: m.start()].count(")")
    )
    for m in depth_ok:
        words = tuple(m.group(1).split("|"))
        if min(map(len, words)) >= 3 and (
            best is None or min(map(len, words)) > min(map(len, best))
        ):
            best = words
    return best


def _compile(table: tuple[tuple[str, tuple[str, ...]], ...]) -> _Table:
    """One alternation per reason, compiled once, with the literals that gate it."""
    out = []
    for reason, parts in table:
        found = [_triggers(p) for p in parts]
        triggers = None if None in found else tuple(t for ts in found if ts for t in ts)
        out.append((reason, re.compile("|".join(f"(?:{p})" for p in parts)), triggers))
    return tuple(out)


_SPECIFIC = _compile(SPECIFIC)
_GENERAL = _compile(GENERAL)
_MAILBOX_UNKNOWN = _compile((("userunknown", MAILBOX_UNKNOWN),))

# Reasons an address-existence verdict can take, which the SMTP stage re-reads (step 4).
_ADDRESS_VERDICTS = frozenset({"userunknown", "hostunknown", "filtered"})


def _first(table: _Table, sample: str) -> str | None:
    """The first reason in ``table`` whose phrases occur in ``sample``."""
    for reason, pattern, triggers in table:
        if triggers is not None and not any(t in sample for t in triggers):
            continue
        if pattern.search(sample):
            return reason
    return None


def _sample(text: str | None) -> str:
    """The lower-cased, whitespace-collapsed start of a diagnostic."""
    if not text:
        return ""
    # Microsoft writes "wasn\u2019t": fold typographic apostrophes so phrases need one spelling.
    return " ".join(text[:_SAMPLE].lower().replace("\u2019", "'").split())


def reason_from_text(text: str | None) -> str | None:
    """The reason a diagnostic's wording names, ignoring status codes and SMTP stage."""
    sample = _sample(text)
    if not sample:
        return None
    found = _first(_SPECIFIC, sample)
    if found is None and _first(_MAILBOX_UNKNOWN, sample):
        return "userunknown"
    return found or _first(_GENERAL, sample)


_COMMAND = re.compile(
    r"(?P<data>end of data|after data|final data"
    r"|data command|\bDATA\b|message body|after the message)"
    r"|(?P<rcpt>\bRCPT(?:\b|_TO)|does not like recipient)"
    r"|(?P<mail>\bMAIL FROM\b|mail from:|sender was rejected)"
    r"|(?P<conn>initial connection|\bHELO\b|\bEHLO\b|greeting)",
    re.IGNORECASE,
)


def find_command(text: str) -> str | None:
    """The SMTP command (RFC 5321 section 4.1) a reply answered: the last one named before it.

    Returns ``"conn"`` for the greeting or ``HELO``/``EHLO``, else ``"mail"``, ``"rcpt"`` or
    ``"data"``; None when the text names no stage.
    """
    text = text[:1500]
    reply = REPLY_CODE.search(text)
    limit = reply.start() if reply else len(text)
    found: str | None = None
    for m in _COMMAND.finditer(text):
        if m.start() > limit and found is not None:
            break
        found = m.lastgroup
    return found


def _mailbox_unknown(by_status: str | None, command: str | None) -> str:
    """What "user unknown" means, given the code beside it and the command that drew it.

    Only an answer to RCPT (RFC 5321 section 3.3) or an addressing code (RFC 3463 X.1.x) says
    the mailbox does not exist; the words alone, after DATA or with a mailbox-status code such
    as X.2.1, are a filter's.
    """
    if command == "mail":
        return "rejected"
    if by_status == "userunknown" or command == "rcpt":
        return "userunknown"
    return "filtered"


def decide_reason(status: str | None, text: str | None, command: str | None = None) -> str:
    """The reason for one failed recipient (see the module docstring for the order).

    ``status`` is the RFC 3463 code (stated or None), ``text`` the diagnostic with addresses
    and URLs removed, ``command`` what :func:`find_command` found (``conn``, ``mail``, ``rcpt``,
    ``data`` or None).
    """
    by_status = reason_from_status(status)
    if by_status is not None and is_precise(status):
        return by_status
    sample = _sample(text)
    reason = _first(_SPECIFIC, sample) if sample else None
    if reason is None:
        if by_status == "userunknown":
            reason = by_status
        elif sample and _first(_MAILBOX_UNKNOWN, sample):
            # The caller may skip texts that name no command word; qmail names the stage in
            # prose ("does not like recipient"), so look once more on this path only.
            reason = _mailbox_unknown(by_status, command or find_command(sample))
        elif sample:
            reason = _first(_GENERAL, sample)
    if reason is None:
        reason = by_status
    if command == "mail" and reason in _ADDRESS_VERDICTS:
        # RFC 5321 section 3.3: MAIL FROM names the sender; an unknown address there is its own.
        return "rejected"
    if reason is None and command == "conn":
        return "blocked"
    if reason is None and command == "mail":
        return "rejected"
    if reason is None:
        return "onhold" if status else "undefined"
    return reason


def is_hard(reason: str, status: str | None) -> bool:
    """A hard bounce will fail again: the address or domain is gone, or refuses mail for good."""
    if reason in HARD:
        return True
    return reason == "notaccept" and (status or "5").startswith("5")
