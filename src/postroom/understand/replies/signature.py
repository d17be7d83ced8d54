"""Finding the trailing signature of a reply.

A signature is looked for only at the end of the person's text, in this order of strength:

1. a delimiter line: the RFC 3676 section 4.3 "-- " (and the "--" that clients leave after
   trimming trailing spaces), or a rule of three or more dashes or underscores followed by a
   short block (a contact card, a mailing-list footer);
2. a mobile or client signature ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook
   for iOS", ...), which also ends the person's text: whatever follows it is the client's;
3. a closing with a name under it ("Thanks,\\nRoman", "Regards,\\n\\nJohn Doe\\nCEO"), never on
   the first line of the reply;
4. a "-Name" line (a dash before one to three words) after a blank line.

A "-Name" line right above a signature found by rules 1-3 joins it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from postroom.understand.lazyre import lazy
from postroom.understand.replies.phrases import phrase_pattern
from postroom.understand.replies.signature_table import CLOSINGS, TAGLINES

_TAGLINE_RE = lazy(
    r"^[\s(<\[]{0,4}" + phrase_pattern(opening for _, opening, _ in TAGLINES),
    re.IGNORECASE,
)
# Closings, by language; the line may end with , ! . or nothing.
_CLOSING_RE = lazy(
    r"^\s{0,4}"
    + phrase_pattern(w for _, words, _ in CLOSINGS for w in words.split("|"))
    + r"\s{0,3}[,!.:;\u060c\u3001\uff0c]{0,3}\s{0,3}$",
    re.IGNORECASE,
)
# A tagline names a device or an app after its opening words, and may add one short sentence
# ("Please excuse my brevity."); a sentence that merely begins the same way runs longer.
_MAX_TAGLINE_WORDS = 14
_MAX_TAGLINE_CHARS = 120
# What may follow a tagline and still be the client's: a few short lines (another tagline, a
# name, a card), never a paragraph.
_MAX_AFTER_TAGLINE_LINES = 6
_MAX_AFTER_TAGLINE_CHARS = 80
_MAX_STANDALONE_WORDS = 10
_MAX_NAME_WORDS = 3
# A contact card: at most this many lines, of at most this many words, under a short name.
MAX_CARD_LINES = 8
_MAX_CARD_WORDS = 8
_MAX_CARD_NAME_WORDS = 4
_MAX_NAME_CHARS = 40
_PHONE_RE = lazy(r"(?:\+|\b)\d[\d\s().-]{6,20}\d\b")
_DASH_NAME_RE = lazy(r"^\s{0,4}-\s?[^\W\d_][\w.']{0,30}(?:\s[\w.']{1,30}){0,2}\s*$")
_NAME_RE = lazy(r"^\s{0,4}[^\W\d_][^\n]{0,60}$")
_RULE_CHARS = frozenset("-_")

# The most lines a signature block may span, counted from its first line.
MAX_SIGNATURE_LINES = 16
_MAX_CARD_LINE = 100


def is_delimiter(line: str) -> bool:
    """True for "-- " and "--", the RFC 3676 section 4.3 signature separator."""
    trimmed = line.rstrip()
    return trimmed == "--" or trimmed == "—"


def is_mobile_signature(line: str) -> bool:
    """True for client taglines such as "Sent from my iPhone" (see ``TAGLINES``)."""
    stripped = line.strip()
    return (
        len(stripped) <= _MAX_TAGLINE_CHARS
        and _TAGLINE_RE.match(stripped) is not None
        and len(stripped.split()) <= _MAX_TAGLINE_WORDS
    )


def _ends_like_client(lines: Sequence[str], start: int, end: int) -> bool:
    """Is the tagline at ``start`` the client's rather than a sentence of the person's?

    It is when it stands as a paragraph of its own (a short line with blank lines around
    it), or when only a few short lines follow it (more taglines, a name, a card).
    """
    above_blank = start == 0 or not lines[start - 1].strip()
    below_blank = start + 1 >= end or not lines[start + 1].strip()
    if above_blank and below_blank and len(lines[start].split()) <= _MAX_STANDALONE_WORDS:
        return True
    after = [line.strip() for line in lines[start + 1 : end] if line.strip()]
    return len(after) <= _MAX_AFTER_TAGLINE_LINES and all(
        is_mobile_signature(line)
        or _CLOSING_RE.match(line) is not None
        or (len(line) <= _MAX_AFTER_TAGLINE_CHARS and _is_card_line(line))
        or (len(line) <= _MAX_NAME_CHARS and len(line.split()) <= _MAX_NAME_WORDS)
        for line in after
    )


def _is_card_line(line: str) -> bool:
    """An address, a link or a phone number: the stuff of contact cards."""
    return "@" in line or "://" in line or "www." in line or _PHONE_RE.search(line) is not None


def _is_rule(line: str) -> bool:
    stripped = line.strip()
    return stripped[:1] in _RULE_CHARS and len(stripped) >= 3 and set(stripped) <= _RULE_CHARS


def _is_card(lines: Sequence[str], start: int, end: int) -> bool:
    """A short block of short lines: a contact card or a list footer, not prose."""
    content = [line for line in lines[start:end] if line.strip()]
    return 0 < len(content) <= 12 and all(len(line) <= _MAX_CARD_LINE for line in content)


def _is_name_block(lines: Sequence[str], start: int, end: int) -> bool:
    content = [line.strip() for line in lines[start:end] if line.strip()]
    if not 1 <= len(content) <= 3:
        return False
    return all(
        len(line) <= 40 and len(line.split()) <= 5 and _NAME_RE.match(line) is not None
        for line in content
    )


def find_signature(
    lines: Sequence[str], lo: int, end: int, names: Sequence[str] = ()
) -> int | None:
    """Index of the first line of the trailing signature in ``lines[lo:end]``, or None.

    ``names`` are the sender's own names: a block that opens with one is a contact card.
    """
    first = next((i for i in range(lo, end) if lines[i].strip()), None)
    if first is None:
        return None
    # Only the last lines can hold a signature; look no further back than that.
    content: list[int] = []
    i = end - 1
    while i >= first and len(content) < 2 * MAX_SIGNATURE_LINES:
        if lines[i].strip():
            content.append(i)
        i -= 1
    content.reverse()
    if len(content) < 2:
        return None
    start: int | None = None
    for i in content[-MAX_SIGNATURE_LINES:]:
        line = lines[i]
        if i != first and (is_delimiter(line) or (_is_rule(line) and _is_card(lines, i + 1, end))):
            start = i
            break
    # A client signature ends the person's text even when other client lines pile up under it.
    for i in content[-2 * MAX_SIGNATURE_LINES :]:
        if (
            i != first
            and (start is None or i < start)
            and is_mobile_signature(lines[i])
            and _ends_like_client(lines, i, end)
        ):
            start = i
            break
    if start is None:
        start = _find_closing(lines, content, first, end)
    if start is None:
        start = _find_card(lines, content, first, end, names)
    if start is None:
        last = content[-1]
        if (
            last != first
            and _DASH_NAME_RE.match(lines[last])
            and last > 0
            and not lines[last - 1].strip()
        ):
            return last
        return None
    return _extend_with_dash_name(lines, start, first)


def _find_closing(lines: Sequence[str], content: Sequence[int], first: int, end: int) -> int | None:
    # The closing sits among the last four content lines with one to three name lines under
    # it, or a little higher with a contact card under it.
    closings = [
        i for i in content[-MAX_CARD_LINES - 1 : -1] if i != first and _CLOSING_RE.match(lines[i])
    ]
    near = content[-4:-1]
    for i in closings:
        if i in near and _is_name_block(lines, i + 1, end):
            return i
    for i in closings:
        if _is_card_block(lines, i + 1, end, ()):
            return i
    return None


def _find_card(
    lines: Sequence[str], content: Sequence[int], first: int, end: int, names: Sequence[str]
) -> int | None:
    """A contact card after a blank line: a name, then a title, a company, an address, a link,
    phone numbers (REPLY-FORMATS.md section 9); the sender's own name is the strongest sign."""
    for i in content[-MAX_CARD_LINES:]:
        if i != first and not lines[i - 1].strip() and _is_card_block(lines, i, end, names):
            return i
    return None


def _is_card_block(lines: Sequence[str], start: int, end: int, names: Sequence[str]) -> bool:
    block = [line.strip() for line in lines[start:end] if line.strip()]
    if not 2 <= len(block) <= MAX_CARD_LINES:
        return False
    if any(
        len(line) > _MAX_AFTER_TAGLINE_CHARS or len(line.split()) > _MAX_CARD_WORDS
        for line in block
    ):
        return False
    head = block[0]
    if len(head.split()) > _MAX_CARD_NAME_WORDS or _NAME_RE.match(head) is None:
        return False
    cards = sum(1 for line in block if _is_card_line(line))
    signed = any(name.casefold() in head.casefold() for name in names)
    return cards >= 2 or (signed and (cards >= 1 or len(block) <= _MAX_NAME_WORDS))
    return None


def _extend_with_dash_name(lines: Sequence[str], start: int, first: int) -> int:
    i = start - 1
    while i > first and not lines[i].strip():
        i -= 1
    if i > first and _DASH_NAME_RE.match(lines[i]) and not lines[i - 1].strip():
        return i
    return start
