"""Attribution templates turned into matchers: does a (joined) line read as one client's
"On <date>, <who> wrote:"?

Each template of :mod:`.attribution_table` is split, by its client's placeholder syntax, into
literal text and typed slots (sender, name, address, date, time, date and time). Matching is a
linear walk, no regular expression over the line: the first literal must open the line, the
last must close it, the ones between are found from the right, and each slot's text must read
as its type (a date holds a digit, a name is a few words, an address has an "@").

How much evidence is enough:

* a *strong* match has a date with a time or a year, or names an address: it is a quote
  header wherever it stands;
* a *weak* match (mutt's "%n wrote:", alpine's "_DATE_", which is "Nov 16" with no year and
  no time) is one only when the quote follows it, i.e. the next non-blank line starts with ">";
* a template without a single word of its own (Thunderbird uk "#2 #3, #1:", Gmail ja
  "{datetime} {sender}:") is one only when the sender slot holds an address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from postroom.understand.lazyre import Pattern, lazy
from postroom.understand.replies.attribution_table import TEMPLATES, AttributionTemplate
from postroom.understand.replies.charclass import has_digit, has_letter
from postroom.understand.replies.headers_i18n import contains_address


class Slot(Enum):
    """What a template placeholder stands for."""

    SENDER = "sender"
    NAME = "name"
    ADDRESS = "address"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"


_DATE_SLOTS = frozenset([Slot.DATE, Slot.TIME, Slot.DATETIME])


class Check(Enum):
    """How a slot's text is checked: what the matcher's plan carries for each slot."""

    ADDRESS = "address"
    DATE = "date"
    WORDS = "words"


def _check(slot: Slot) -> Check:
    if slot is Slot.ADDRESS:
        return Check.ADDRESS
    return Check.DATE if slot in _DATE_SLOTS else Check.WORDS


# Module-level names, read faster in the matching loop than the enum's attributes.
_ADDRESS, _DATE, _WORDS = Check.ADDRESS, Check.DATE, Check.WORDS

_NEUTRAL = lazy(r"\{(sender|name|address|date|time|datetime)\}")
_NEUTRAL_MAP = {slot.value: slot for slot in Slot}


def _thunderbird(token: str) -> Slot:
    return {"#1": Slot.SENDER, "#2": Slot.DATE, "#3": Slot.TIME}[token]


def _neutral(token: str) -> Slot:
    return _NEUTRAL_MAP[token.strip("{}")]


def _roundcube(token: str) -> Slot:
    return Slot.SENDER if token == "$sender" else Slot.DATETIME


def _claws(token: str) -> Slot:
    if token.startswith("%D{"):
        return Slot.TIME if "%T" in token else Slot.DATE
    return Slot.DATETIME if token == "%d" else Slot.SENDER


def _mutt(token: str) -> Slot:
    return {"%n": Slot.NAME, "%a": Slot.ADDRESS, "%f": Slot.SENDER}.get(token, Slot.DATETIME)


def _alpine(token: str) -> Slot:
    if token == "_FROM_":
        return Slot.SENDER
    if "TIME" in token:
        return Slot.DATETIME if "DATE" in token else Slot.TIME
    return Slot.DATE


def _dollar_braces(token: str) -> Slot:
    name = token[2:-1].lower()
    if name == "sender":
        return Slot.SENDER
    if name in ("name", "address"):
        return Slot(name)
    return Slot.DATETIME if name == "date" else Slot.DATE


# Each client's placeholder syntax: the token pattern and what each token stands for.
_SYNTAX: Mapping[str, tuple[Pattern, Callable[[str], Slot]]] = {
    "thunderbird": (lazy(r"#[123]"), _thunderbird),
    "k9": (_NEUTRAL, _neutral),
    "roundcube": (lazy(r"\$(?:date|sender)"), _roundcube),
    "claws": (lazy(r"%D\{[^}]*\}|%[dfs]"), _claws),
    "mutt": (lazy(r"%\{[^}]*\}|%\[[^\]]*\]|%[dnaf]"), _mutt),
    "alpine": (lazy(r"_[A-Z0-9]+_"), _alpine),
    "evolution": (lazy(r"\$\{\w+\}"), _dollar_braces),
    "proton": (lazy(r"\$\{\w+\}"), _dollar_braces),
}

_SPACES = lazy(r"\s+")
# Typography that varies between a template and the line a client wrote (full-width and
# Arabic punctuation, French spaces before a colon, curly and angle quotes).
_TRANSLATE = str.maketrans(
    {
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "：": ":",
        "，": ",",
        "،": ",",
        "„": '"',
        "“": '"',
        "”": '"',
        "«": '"',
        "»": '"',
        "⏎": " ",
    }
)


def normalise(text: str) -> str:
    """Case, white space and punctuation folded the same way for templates and lines."""
    # None of the folded typography is ASCII, and ASCII casefolds to lower case.
    folded = text.lower() if text.isascii() else text.translate(_TRANSLATE).casefold()
    # str.split() splits and strips on exactly the white space that re's \s matches.
    return " ".join(folded.split()).replace(" :", ":").replace(" ,", ",")


@dataclass(frozen=True, slots=True)
class Matcher:
    """A template compiled to literal parts and slots.

    The fields after ``needles`` are the matching plan, worked out once: the literal that
    must open the line, the literals read from the right (each with the slot that sits
    left of it), the slot left of them all, and the template's words that the opening and
    closing literals do not already account for.
    """

    template: AttributionTemplate
    parts: tuple[str | Slot, ...]
    verbless: bool
    needles: tuple[str, ...] = ()
    opening: str = ""
    closing: str = ""
    steps: tuple[tuple[str, Check | None], ...] = ()
    leftmost: Check | None = None
    inner_literals: tuple[str, ...] = ()


def _tokens(template: AttributionTemplate) -> list[str | Slot]:
    pattern, meaning = _SYNTAX.get(template.client, (_NEUTRAL, _neutral))
    parts: list[str | Slot] = []
    position = 0
    for match in pattern.finditer(template.template):
        parts.append(template.template[position : match.start()])
        parts.append(meaning(match.group(0)))
        position = match.end()
    parts.append(template.template[position:])
    return parts


def _merge(parts: list[str | Slot]) -> tuple[str | Slot, ...]:
    """Normalise literals; adjacent date and time slots with no word between become one."""
    out: list[str | Slot] = []
    for part in parts:
        if isinstance(part, str):
            literal = normalise(part) if part.strip() else (" " if part else "")
            if not literal:
                continue
            if part[:1].isspace() and literal != " ":
                literal = " " + literal
            if part[-1:].isspace() and literal != " ":
                literal = literal + " "
            out.append(literal)
            continue
        # A date slot joins the date slot before it when only punctuation separates them.
        if part in _DATE_SLOTS and out:
            previous = out[-1]
            if isinstance(previous, Slot) and previous in _DATE_SLOTS:
                out[-1] = Slot.DATETIME
                continue
            if (
                isinstance(previous, str)
                and not any(c.isalpha() for c in previous)
                and len(out) >= 2
                and isinstance(out[-2], Slot)
                and out[-2] in _DATE_SLOTS
            ):
                out.pop()
                out[-1] = Slot.DATETIME
                continue
        out.append(part)
    # The first literal opens the line and the last closes it: no spaces outside them.
    if out and isinstance(out[0], str):
        out[0] = out[0].lstrip()
    if out and isinstance(out[-1], str):
        out[-1] = out[-1].rstrip()
    return tuple(part for part in out if part != "")


def compile_template(template: AttributionTemplate) -> Matcher:
    """The matcher for one template."""
    parts = _merge(_tokens(template))
    verbless = not any(isinstance(p, str) and any(c.isalpha() for c in p) for p in parts)
    # The template's words, each of which a matching line must contain: a cheap first test.
    needles = tuple(p.strip() for p in parts if isinstance(p, str) and any(c.isalpha() for c in p))
    opening = parts[0] if parts and isinstance(parts[0], str) else ""
    closing = parts[-1] if parts and isinstance(parts[-1], str) else ""
    # Read from the right: a literal with no slot pending must close what is left of the
    # line; one with a slot pending is found from the right, and the slot is what lies
    # between. Of two adjacent slots the left one takes the text.
    steps: list[tuple[str, Check | None]] = []
    pending: Slot | None = None
    for part in reversed(parts[1:] if opening else parts):
        if isinstance(part, Slot):
            pending = part
            continue
        steps.append((part, None if pending is None else _check(pending)))
        pending = None
    # Every literal of a matching line is in it, as written; the opening and closing ones are
    # tested on their own, and those of the rest that hold a letter are searched first.
    middle = parts[1 if opening else 0 : -1 if closing else len(parts)]
    inner = tuple(
        dict.fromkeys(p for p in middle if isinstance(p, str) and any(c.isalpha() for c in p))
    )
    return Matcher(
        template,
        parts,
        verbless,
        needles,
        opening,
        closing,
        tuple(steps),
        None if pending is None else _check(pending),
        inner,
    )


@lru_cache(maxsize=1)
def matchers() -> tuple[Matcher, ...]:
    """Every template of the table, compiled once, duplicates dropped."""
    seen: set[tuple[str | Slot, ...]] = set()
    out: list[Matcher] = []
    for template in TEMPLATES:
        matcher = compile_template(template)
        if matcher.parts not in seen and any(isinstance(p, Slot) for p in matcher.parts):
            seen.add(matcher.parts)
            out.append(matcher)
    return tuple(out)


_Group = tuple[str, tuple[tuple[str, tuple[Matcher, ...]], ...]]


@lru_cache(maxsize=1)
def _index() -> tuple[_Group, ...]:
    """Matchers grouped by their closing literal, then by their opening literal ("" for a
    template that opens with a slot), so a line is tried only against templates it can fit."""
    groups: dict[str, dict[str, list[Matcher]]] = {}
    for matcher in matchers():
        groups.setdefault(matcher.closing, {}).setdefault(matcher.opening, []).append(matcher)
    return tuple(
        (closing, tuple((opening, tuple(group)) for opening, group in inner.items()))
        for closing, inner in groups.items()
    )


@dataclass(frozen=True, slots=True)
class _Closings:
    """The closing groups of :func:`_index` to try on a line, found by its last word.

    A closing literal with a space in it can end a line only if its last word is the line's
    last word; the few without a space (``unspaced``) are tested on every line, and each
    entry of ``by_last_word`` already holds them. Positions keep the groups in table order,
    which decides between two matches of equal strength.
    """

    by_last_word: dict[str, tuple[int, ...]]
    unspaced: tuple[int, ...]


@lru_cache(maxsize=1)
def _closings() -> _Closings:
    by_last_word: dict[str, list[int]] = {}
    unspaced: list[int] = []
    for position, (closing, _openings) in enumerate(_index()):
        if " " in closing:
            by_last_word.setdefault(closing.rsplit(" ", 1)[1], []).append(position)
        else:
            unspaced.append(position)
    # Each last word's groups with the unspaced ones, in table order, worked out once.
    return _Closings(
        {k: tuple(sorted(v + unspaced)) for k, v in by_last_word.items()}, tuple(unspaced)
    )


# A time, a year (see headers_i18n.DATE_RE) or a numeric date (16.11.2026, 11/16/26); it opens
# with a digit, so re skips to the digits of a value.
_TIME_OR_YEAR = lazy(
    r"\d(?:(?<!\d\d)(?:\d?[:.h]\d{2}|(?<=1)9\d{2}|(?<=2)0\d{2})(?!\d)"
    r"|\d{0,3}[./-]\d{1,2}[./-]\d{2,4})"
)
# What follows the "@" of an address whose top-level domain is any script's letters.
_ADDRESS_TAIL = lazy(r"[^\s<>()\[\]\"',;:]{1,100}\.[^\W\d_]{2,24}")
_MAX_SLOT = 200
_CLOSERS = (":", "：")
_MAX_NAME_WORDS = 8
_MAX_DATE_WORDS = 12


class Strength(Enum):
    """How sure a match is (see the module docstring)."""

    WEAK = "weak"
    STRONG = "strong"


def _valid(check: Check, text: str) -> bool:
    text = text.strip(" ,")
    if not text or len(text) > _MAX_SLOT:
        return False
    if check is _ADDRESS:
        return "@" in text and " " not in text.strip("<>[]() ")
    if check is _DATE:
        return has_digit(text) and len(text.split()) <= _MAX_DATE_WORDS
    if "@" in text:
        return True
    return ":" not in text and len(text.split()) <= _MAX_NAME_WORDS and has_letter(text)


def _match(matcher: Matcher, text: str) -> Strength | None:
    """Walk ``text`` against the matcher's plan: the opening was tested by the caller."""
    lo = len(matcher.opening)
    hi = len(text)
    dated = False
    has_address = False
    for literal, check in matcher.steps:
        if check is None:
            if not text.endswith(literal, lo, hi):
                return None
            hi -= len(literal)
            continue
        at = text.rfind(literal, lo, hi - 1)
        if at < 0:
            return None
        value = text[at + len(literal) : hi]
        if not _valid(check, value):
            return None
        if check is _DATE:
            dated = dated or _TIME_OR_YEAR.search(value) is not None
        else:
            has_address = has_address or contains_address(value, _ADDRESS_TAIL)
        hi = at
    check = matcher.leftmost
    if check is not None:
        value = text[lo:hi]
        if not _valid(check, value):
            return None
        if check is _DATE:
            dated = dated or _TIME_OR_YEAR.search(value) is not None
        else:
            has_address = has_address or contains_address(value, _ADDRESS_TAIL)
    elif hi != lo:
        return None
    if has_address:
        return Strength.STRONG
    if matcher.verbless:
        return None
    return Strength.STRONG if dated else Strength.WEAK


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    """The best template a line matched, and how sure the match is."""

    template: AttributionTemplate
    strength: Strength
    opens_with_text: bool


def _candidates(text: str) -> Iterator[Matcher]:
    """The matchers whose closing, opening and inner literals ``text`` holds, in table order
    (a matcher without them cannot match)."""
    closings = _closings()
    positions = closings.by_last_word.get(text[text.rfind(" ") + 1 :], closings.unspaced)
    index = _index()
    # A template with no word of its own counts only with an address, which needs an "@".
    may_be_verbless = "@" in text
    for position in positions:
        closing, openings = index[position]
        if closing and not text.endswith(closing):
            continue
        for opening, group in openings:
            if opening and not text.startswith(opening):
                continue
            for matcher in group:
                if matcher.verbless and not may_be_verbless:
                    continue
                for literal in matcher.inner_literals:
                    if literal not in text:
                        break
                else:
                    yield matcher


@lru_cache(maxsize=1)
def _openings() -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.opening for m in matchers() if m.opening))


def may_open_template(line: str) -> bool:
    """False when no template that opens with its own words ("On", "Am", "Le" ...) can
    match ``line``: its match would need the line to start with that opening."""
    if not line.rstrip().endswith(_CLOSERS):
        return False
    return normalise(line[: _MAX_SLOT * 3]).lstrip("> ").startswith(_openings())


def match_attribution(line: str) -> TemplateMatch | None:
    """The strongest template match for ``line`` (one or more joined lines), or None.

    The first strong match of a template that opens with its own words wins; failing one,
    a strong match beats a weak one, and of equal strength the first that opens with its
    own words, else the first in table order.
    """
    if not line.rstrip().endswith(_CLOSERS):
        # Every template ends with a colon: a line without one cannot match.
        return None
    text = normalise(line[: _MAX_SLOT * 3]).lstrip("> ")
    # Templates that open with their own words are tried as they come: a strong match of one
    # ends the search, whatever else matches. The others wait until none has.
    tried: list[tuple[Matcher, Strength | None]] = []
    for matcher in _candidates(text):
        if matcher.opening:
            strength = _match(matcher, text)
            if strength is Strength.STRONG:
                return TemplateMatch(matcher.template, strength, True)
            tried.append((matcher, strength))
        else:
            tried.append((matcher, None))
    best: Matcher | None = None
    best_strength: Strength | None = None
    for matcher, known in tried:
        strength = known if matcher.opening else _match(matcher, text)
        if strength is None:
            continue
        if (
            best is None
            or (strength is Strength.STRONG and best_strength is Strength.WEAK)
            or (matcher.opening and not best.opening and strength is best_strength)
        ):
            best, best_strength = matcher, strength
        if best_strength is Strength.STRONG:
            # Only a strong match that opens with its own words could displace it, and
            # there is none.
            break
    if best is None or best_strength is None:
        return None
    return TemplateMatch(best.template, best_strength, bool(best.opening))


def verb_phrases() -> frozenset[str]:
    """The last words of every template (its writer verb, or a colon): the candidate filter."""
    out: set[str] = set()
    for matcher in matchers():
        last = matcher.parts[-1]
        if isinstance(last, str):
            out.add(last)
    return frozenset(out)
