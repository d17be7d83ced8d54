# ruff: noqa: E501  (one footer line per row reads best unwrapped)
"""Mailing-list and service footers: the block a list server appends under every post.

``FOOTER_LINES`` holds, per system, the lines of its footer template as
../shared/docs/REPLY-FORMATS.md section 10 gives them (MM2 Mailman's Defaults.py.in; LA real
list mail for Mailman 3, Google Groups and GitHub; DSC Discourse's message builder), with the
template's own values written as placeholders: ``{list}`` a list name, ``{address}`` an
address, ``{url}`` a link, ``{any}`` free text. Code turns each line into an anchored, bounded
pattern. A footer is removed from the reply whole (it goes to ``quoted``): it is neither the
person's text nor their signature.

A trailing block is a footer when, read from the end up, it holds only footer lines, bare
links and addresses, blank lines and rules (``-- ``, ``___``, ``---``), and at least one line
is one of the system's own sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

FOOTER_LINES: tuple[tuple[str, str, str], ...] = (
    ("Mailman 2.1", "{list} mailing list", "MM2"),
    ("Mailman 2.1", "{url}listinfo/{any}", "MM2"),
    ("Mailman 3", "{list} mailing list -- {address}", "LA (obs)"),
    ("Mailman 3", "To unsubscribe send an email to {address}", "LA (obs)"),
    (
        "Google Groups",
        'You received this message because you are subscribed to the Google Groups "{any}" group.',
        "LA (obs)",
    ),
    (
        "Google Groups",
        "To unsubscribe from this group and stop receiving emails from it, send an email to {address}.",
        "LA (obs)",
    ),
    ("Google Groups", "To view this discussion visit {url}.", "LA (obs)"),
    ("Google Groups", "To view this discussion on the web visit {url}.", "LA (obs)"),
    ("Discourse", "[Visit Topic]({url}) or reply to this email to respond.", "DSC"),
    ("Discourse", "To unsubscribe from these emails, [click here]({url}).", "DSC"),
    ("Discourse", "Visit Topic or reply to this email to respond.", "DSC (HTML rendered)"),
    (
        "Discourse",
        "To stop receiving emails about this topic, category, or all discussions, click here to unsubscribe.",
        "DSC (HTML rendered)",
    ),
    (
        "GitHub",
        "To unsubscribe from these emails, change your notification settings at {url}",
        "LA (obs)",
    ),
)

_PLACEHOLDERS = {
    "{list}": r"[^\s].{0,80}?",
    "{address}": r"<?[^\s@<>]{1,100}@[^\s@<>]{1,100}>?",
    "{url}": r"<?\S{1,300}?>?",
    "{any}": r".{1,200}?",
}
_PLACEHOLDER_RE = re.compile(r"\{(?:list|address|url|any)\}")
_MAX_LINE = 400
_MAX_FOOTER_LINES = 12
_URL_RE = re.compile(r"^<?(?:https?://|www\.)\S{1,300}>?$", re.IGNORECASE)
_ADDRESS_RE = re.compile(r"^<?[^\s@<>]{1,100}@[^\s@<>]{1,100}>?$")
_RULE_RE = re.compile(r"^(?:--\s?|-{3,}|_{3,})$")


def _compile(template: str) -> str:
    out: list[str] = []
    position = 0
    for match in _PLACEHOLDER_RE.finditer(template):
        out.append(r"\s+".join(re.escape(w) for w in template[position : match.start()].split(" ")))
        out.append(_PLACEHOLDERS[match.group(0)])
        position = match.end()
    out.append(r"\s+".join(re.escape(w) for w in template[position:].split(" ")))
    return "".join(out)


@lru_cache(maxsize=1)
def _footer_re() -> re.Pattern[str]:
    return re.compile(
        r"^\s{0,4}(?:" + "|".join(_compile(t) for _, t, _ in FOOTER_LINES) + r")\s{0,4}$",
        re.IGNORECASE,
    )


@dataclass(frozen=True, slots=True)
class _Hints:
    """What every footer line must hold: a template that opens with words opens the line with
    its first word (after at most four spaces); one that opens with a placeholder holds its
    first word anywhere. Prose holds neither, and is rejected before the templates are tried.
    """

    openers: tuple[str, ...]
    inner: tuple[str, ...]
    pattern: re.Pattern[str]
    ascii_words: bool


@lru_cache(maxsize=1)
def _hints() -> _Hints:
    openers: list[str] = []
    inner: list[str] = []
    for _, template, _ in FOOTER_LINES:
        literals = [part.split() for part in _PLACEHOLDER_RE.split(template)]
        if literals[0]:
            openers.append(literals[0][0])
        else:
            inner.append(next(words for words in literals if words)[0])
    openers, inner = list(dict.fromkeys(openers)), list(dict.fromkeys(inner))
    pattern = re.compile(
        r"^\s{0,4}(?:" + "|".join(map(re.escape, openers)) + ")|" + "|".join(map(re.escape, inner)),
        re.IGNORECASE,
    )
    return _Hints(
        tuple(word.lower() for word in openers),
        tuple(word.lower() for word in inner),
        pattern,
        all(word.isascii() for word in openers + inner),
    )


def _may_be_footer(line: str) -> bool:
    hints = _hints()
    if hints.ascii_words and line.isascii():
        # For ASCII text and ASCII words, matching without case is comparing lower case,
        # which str does without the regex engine's per-position attempts.
        lowered = line.lower()
        head = lowered.lstrip()
        if len(lowered) - len(head) <= 4 and head.startswith(hints.openers):
            return True
        return any(word in lowered for word in hints.inner)
    return hints.pattern.search(line) is not None


def is_footer_line(line: str) -> bool:
    """True for one of a list system's own footer sentences."""
    return len(line) <= _MAX_LINE and _may_be_footer(line) and _footer_re().match(line) is not None


def _is_filler(stripped: str) -> bool:
    """A bare link, a bare address or a rule: what may stand between footer lines."""
    # A link opens with "<", "h" or "w", an address holds an "@", a rule opens with "-" or
    # "_": prose is settled without the patterns.
    first = stripped[:1]
    return (
        (first in ("<", "h", "H", "w", "W") and _URL_RE.match(stripped) is not None)
        or ("@" in stripped and _ADDRESS_RE.match(stripped) is not None)
        or (first in ("-", "_") and _RULE_RE.match(stripped) is not None)
    )


def footer_start(lines: Sequence[str], lo: int, end: int) -> int | None:
    """First line of a mailing-list footer that ends ``lines[lo:end]``, or None."""
    i = end
    start: int | None = None
    content = 0
    while i > lo and content <= _MAX_FOOTER_LINES:
        stripped = lines[i - 1].strip()
        if not stripped:
            i -= 1
            continue
        if is_footer_line(stripped):
            start = i - 1
        elif not _is_filler(stripped):
            break
        content += 1
        i -= 1
    if start is None:
        return None
    # The rule above the footer ("-- ", "____") belongs to it.
    j = start
    while j > lo and (not lines[j - 1].strip() or _RULE_RE.match(lines[j - 1].strip())):
        j -= 1
        if lines[j].strip():
            start = j
    return start
