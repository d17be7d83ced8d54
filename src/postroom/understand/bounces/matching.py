"""Matching the phrase tables of :mod:`.phrases` against a diagnostic, cheaply.

Every phrase fragment is compiled once. Running each of them over each diagnostic would cost
a regular-expression scan per fragment, so every fragment is first reduced to its *triggers*:
literal texts one of which every match must contain. One shared Aho-Corasick pass over the
diagnostic finds which triggers occur, and only the fragments they point to run their
expression. Most diagnostics wake a handful of the ~300 fragments.

Also here: :func:`find_command`, the SMTP command (RFC 5321 section 4.1) a reply answered, found
with the same kind of literal scan rather than an alternation tried at every position.
"""

from __future__ import annotations

import re
from collections import defaultdict

import ahocorasick

Table = tuple[tuple[str, tuple[str, ...]], ...]


def _literal(fragment: str) -> str | None:
    """The longest text every match of a phrase fragment must contain, or None if under 3 chars.

    Only characters outside groups and classes, and not made optional by a quantifier, count.
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
    for m in _WORDS_GROUP.finditer(fragment):
        if fragment[: m.start()].count("(") != fragment[: m.start()].count(")"):
            continue
        words = tuple(m.group(1).split("|"))
        if min(map(len, words)) >= 3 and (
            best is None or min(map(len, words)) > min(map(len, best))
        ):
            best = words
    return best


class PhraseIndex:
    """Several phrase tables (tiers), sharing one trigger scan.

    Each phrase fragment is compiled on its own, the first time a scan needs it (a process
    that handles one reply, like the MTA pipe, never compiles most of them).
    ``scan(sample)`` finds, in one Aho-Corasick pass (``pyahocorasick``, C) over the sample,
    every trigger that occurs, and so the fragments that may match; ``first(tier, sample,
    hits)`` runs only those, in the tier's order, and returns the reason of the first that
    matches. Fragments without a usable trigger are always tried.
    """

    def __init__(self, tiers: dict[str, Table]) -> None:
        # Fragments are numbered tier by tier, entry by entry, in order: ascending numbers are
        # the order of priority, and each tier owns one range of them.
        self._reason_of: list[str] = []
        self._parts: list[str] = []
        self._fragments: list[re.Pattern[str] | None] = []
        self._ranges: dict[str, tuple[int, int]] = {}
        by_trigger: dict[str, set[int]] = defaultdict(set)
        always: set[int] = set()
        for name, table in tiers.items():
            start = len(self._fragments)
            for reason, parts in table:
                for part in parts:
                    number = len(self._fragments)
                    self._parts.append(part)
                    self._fragments.append(None)
                    self._reason_of.append(reason)
                    triggers = _triggers(part)
                    if triggers is None:
                        always.add(number)
                    for trigger in triggers or ():
                        by_trigger[trigger].add(number)
            self._ranges[name] = (start, len(self._fragments))
        self._always = frozenset(always)
        self._automaton = ahocorasick.Automaton()
        for trigger, found in by_trigger.items():
            self._automaton.add_word(trigger, frozenset(found))
        self._automaton.make_automaton()

    def scan(self, sample: str) -> list[int]:
        """The fragments whose triggers occur in ``sample``, in order of priority."""
        hits = set(self._always)
        for _end, numbers in self._automaton.iter(sample):
            hits.update(numbers)
        return sorted(hits)

    def first(self, tier: str, sample: str, hits: list[int]) -> str | None:
        """The reason of the first fragment of ``tier`` among ``hits`` that occurs in ``sample``
        (so the first reason of the tier, in its table's order, whose phrases occur)."""
        low, high = self._ranges[tier]
        fragments = self._fragments
        for number in hits:
            if low <= number < high:
                pattern = fragments[number]
                if pattern is None:
                    pattern = fragments[number] = re.compile(self._parts[number])
                if pattern.search(sample):
                    return self._reason_of[number]
        return None


# RFC 5321 section 4.1 command names and the prose MTAs use for them, with the stage each names.
# ``True`` asks for a word boundary on both sides ("data" but not "metadata").
_STAGE_WORDS: tuple[tuple[str, str, bool], ...] = (
    ("data", "data", True),
    ("message body", "data", False),
    ("after the message", "data", False),
    # qmail-remote.c: "Remote host said: ... failed after I sent the message."
    ("after i sent the message", "data", False),
    ("rcpt", "rcpt", True),
    ("does not like recipient", "rcpt", False),
    ("mail from", "mail", True),
    ("sender was rejected", "mail", False),
    # qmail-remote.c: "Connected to H but my name was rejected." (the HELO)
    ("my name was rejected", "conn", False),
    ("initial connection", "conn", False),
    ("helo", "conn", True),
    ("ehlo", "conn", True),
    ("greeting", "conn", False),
)
# All of them in one pass (pyahocorasick): each occurrence as (its last index, its word's row).
_STAGE_SCAN = ahocorasick.Automaton()
for _number, (_word, _stage, _bounded) in enumerate(_STAGE_WORDS):
    _STAGE_SCAN.add_word(_word, _number)
_STAGE_SCAN.make_automaton()
# The digit first, then a look back at the character before it: a pattern that opens with a
# character class lets the search skip ahead; one that opens with a lookbehind is tried at
# every position (four times slower over a notice).
_REPLY = re.compile(r"[245](?<![\d.\-][245])[0-5]\d(?:[ \-:]|$)")


def _word_char(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _in_name(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a piece of an address or host name ("rcpt@example.org",
    "data.example.net"): joined to a word by ``@``, ``.``, ``-`` or ``+``."""
    after = text[end : end + 1]
    if after == "@" or (after in (".", "-", "+") and _word_char(text, end + 1)):
        return True
    before = text[start - 1 : start] if start else ""
    return before in ("@", ".", "-", "+") and _word_char(text, start - 2)


def find_command(text: str) -> str | None:
    """The SMTP command (RFC 5321 section 4.1) a reply answered: the last one named before it.

    Returns ``"conn"`` for the greeting or ``HELO``/``EHLO``, else ``"mail"``, ``"rcpt"`` or
    ``"data"``; None when the text names no stage. "Before it" is before the first reply code
    (section 4.2); when no command precedes the reply, the first one named after it counts.
    """
    low = text[:1500].lower()
    found: list[tuple[int, str]] = []
    # Each word's occurrences are read left to right, each search resuming after the last
    # one found: where one word's occurrences overlap, only the first of them counts.
    resume = [0] * len(_STAGE_WORDS)
    for last, number in _STAGE_SCAN.iter(low):
        word, stage, bounded = _STAGE_WORDS[number]
        end = last + 1
        i = end - len(word)
        if i < resume[number]:
            continue
        resume[number] = end
        # Postfix and Sendmail write "RCPT_TO" in some logs; Exim writes "MAIL FROM:<x>".
        if not bounded or (
            not _word_char(low, i - 1)
            and (not _word_char(low, end) or (stage == "rcpt" and low.startswith("_to", end)))
            and not _in_name(low, i, end)
        ):
            found.append((i, stage))
    if not found:
        return None
    found.sort()
    reply = _REPLY.search(low)
    limit = reply.start() if reply else len(low)
    before = [stage for pos, stage in found if pos <= limit]
    return before[-1] if before else found[0][1]
