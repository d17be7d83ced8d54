"""The fast paths of reply extraction answer exactly as the rules they stand in for.

Each shortcut (a trie instead of an alternation, a test read backwards from the end of a
line, a first-character check, template candidates chosen by their literals) rests on a
property of the tables: no writer verb ends with a dash, every footer template opens with a
word or holds one, and so on. These tests hold each shortcut to the plain rule on lines
built from the tables themselves, so a row added later that breaks a property fails here.
"""

from __future__ import annotations

import itertools
import re

import pytest

from postroom.understand.replies import headers_i18n as h
from postroom.understand.replies.attribution import (
    _NEUTRAL,
    _SYNTAX,
    Strength,
    TemplateMatch,
    _index,
    _match,
    _neutral,
    match_attribution,
    may_open_template,
    normalise,
)
from postroom.understand.replies.attribution_table import TEMPLATES
from postroom.understand.replies.charclass import has_digit, has_letter
from postroom.understand.replies.footers import FOOTER_LINES, _footer_re, is_footer_line
from postroom.understand.replies.phrases import phrase_pattern

# --- phrases -------------------------------------------------------------------------------


def test_a_phrase_trie_matches_its_phrases_and_nothing_else() -> None:
    phrases = ["thank you", "thanks", "thank you very much", "thx", "merci"]
    pattern = re.compile(phrase_pattern(phrases), re.IGNORECASE)
    for phrase in phrases:
        assert pattern.fullmatch(phrase)
        assert pattern.fullmatch(phrase.upper().replace(" ", " \t "))
    for other in ["thank", "thank you very", "thanksx", "merc", "thank  you  very  much!", ""]:
        assert not pattern.fullmatch(other), other
    assert re.fullmatch(phrase_pattern([]), "") is None


def _alternation(phrases: tuple[str, ...]) -> str:
    return "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases)


@pytest.mark.parametrize("phrases", [h.WRITER_VERBS, h.FROM_FIELD_NAMES, h.OTHER_FIELD_NAMES])
def test_trie_and_alternation_agree_on_table_lines(phrases: tuple[str, ...]) -> None:
    trie = re.compile(r"^\W{0,3}" + phrase_pattern(phrases) + r"\W{0,3}$", re.IGNORECASE)
    plain = re.compile(r"^\W{0,3}(?:" + _alternation(phrases) + r")\W{0,3}$", re.IGNORECASE)
    for phrase in phrases:
        variants = (phrase, phrase.upper(), f" {phrase}:", f"{phrase}x", phrase[:-1], f"({phrase})")
        for line in variants:
            assert bool(trie.match(line)) == bool(plain.match(line)), line


# --- lines read backwards ------------------------------------------------------------------


def test_no_writer_verb_ends_with_what_is_cut_off_before_reading_backwards() -> None:
    for verb in h.WRITER_VERBS + h.CJK_VERBS:
        assert not verb[-1].isspace() and verb[-1] not in ":：.-", verb


def _verb_lines() -> list[str]:
    lines = []
    for verb in h.WRITER_VERBS:
        for left, right in itertools.product(
            ["", "Bob ", "-- Bob ", "------ ", "x" * 310 + " ", "On Mon, Bob <b@x.org> ", "Bob-"],
            ["", ":", " :", " --", "--", " ----- ", "...", ": --", "x", " wrote more"],
        ):
            lines.append(f"{left}{verb}{right}")
            lines.append(f"{left}{verb.upper()}{right}")
    return lines


def test_dashed_attribution_agrees_with_its_pattern() -> None:
    for line in _verb_lines():
        stripped = line.strip()
        if stripped:
            assert h.is_dashed_attribution(stripped) == bool(h.DASHED_VERB_RE.match(stripped)), line


def test_verb_at_the_end_agrees_with_its_pattern() -> None:
    lines = _verb_lines() + [f"Bob {verb}:" for verb in h.CJK_VERBS]
    for line in lines:
        assert h.ends_with_verb(line) == bool(h.VERB_END_RE.search(line)), line


def test_a_long_dash_rule_is_cheap_and_still_read() -> None:
    rule = "-" * 40 + " Enter Feedback Below " + "-" * 40
    assert not h.is_dashed_attribution(rule)
    assert h.is_dashed_attribution("-" * 40 + " Bob wrote " + "-" * 40)
    assert not h.SEPARATOR_RE.match(rule)
    assert h.SEPARATOR_RE.match("-" * 40 + " Original Message " + "-" * 40)


# --- addresses, digits, letters ------------------------------------------------------------

_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]{1,100}@[^\s<>()\[\]\"',;:]{1,100}\.[A-Za-z]{2,24}")


@pytest.mark.parametrize(
    "text",
    [
        "ann@example.org", "<ann@example.org>", "Ann <ann@example.org> wrote:", "a@b.c", "a@b.co",
        "@b.com", "a @b.com", "a@@b.com", "a@b@c.com", "(ann@x.org)", "ann@x.o1g", "ann@x.éé",
        "x" * 150 + "@b.com", "a@" + "b" * 150 + ".com", "mailto:a@b.com", "a@b", "", "@",
    ],
)  # fmt: skip
def test_an_address_is_found_from_its_at_sign_as_by_the_pattern(text: str) -> None:
    assert h.has_address(text) == bool(_ADDRESS.search(text))


@pytest.mark.parametrize("text", ["", "abc", "a1", "١٢", "²", "Ⅻ", "é", "日本", "--", "x٣y"])
def test_digit_and_letter_tests_agree_with_str(text: str) -> None:
    assert has_digit(text) == any(c.isdigit() for c in text)
    assert has_letter(text) == any(c.isalpha() for c in text)


# --- footers -------------------------------------------------------------------------------


def test_every_footer_template_line_passes_the_hint() -> None:
    values = {"{list}": "meetup", "{address}": "m@lists.example.org", "{url}": "https://x.org/"}
    values["{any}"] = "meetup"
    for _, template, _ in FOOTER_LINES:
        line = template
        for placeholder, value in values.items():
            line = line.replace(placeholder, value)
        for variant in (line, line.upper(), "    " + line, line.replace("i", "İ")):
            assert is_footer_line(variant) == bool(_footer_re().match(variant)), variant
        assert is_footer_line(line)


# --- attribution templates -----------------------------------------------------------------


def _every_template_tried(line: str) -> TemplateMatch | None:
    """The selection rule of match_attribution, with every template tried in table order."""
    if not line.rstrip().endswith((":", "：")):
        return None
    text = normalise(line[:600]).lstrip("> ")
    best: TemplateMatch | None = None
    for closing, openings in _index():
        if closing and not text.endswith(closing):
            continue
        for opening, group in openings:
            if opening and not text.startswith(opening):
                continue
            for matcher in group:
                strength = _match(matcher, text)
                if strength is None:
                    continue
                found = TemplateMatch(matcher.template, strength, bool(opening))
                if strength is Strength.STRONG and found.opens_with_text:
                    return found
                if (
                    best is None
                    or (strength is Strength.STRONG and best.strength is Strength.WEAK)
                    or (
                        found.opens_with_text
                        and not best.opens_with_text
                        and strength is best.strength
                    )
                ):
                    best = found
    return best


def _attribution_lines() -> list[str]:
    """Every template filled in three ways (address and full date, name and short date, bare
    address and ISO date), and perturbed."""
    values = [
        {"sender": "Forum <forum@example.org>", "name": "Forum", "address": "forum@example.org",
         "date": "16.11.2026", "time": "09:00", "datetime": "Mon, 16 Nov 2026 09:00"},
        {"sender": "Ada Lovelace", "name": "Ada Lovelace", "address": "ada@example.test",
         "date": "Nov 16", "time": "9:00 AM", "datetime": "Nov 16"},
        {"sender": "ada@example.test", "name": "Ada", "address": "<ada@example.test>",
         "date": "2026-11-16", "time": "09:00", "datetime": "2026-11-16 09:00"},
    ]  # fmt: skip
    lines = []
    for template in TEMPLATES:
        pattern, meaning = _SYNTAX.get(template.client, (_NEUTRAL, _neutral))
        for value in values:
            parts: list[str] = []
            position = 0
            for token in pattern.finditer(template.template):
                parts += [
                    template.template[position : token.start()],
                    value[meaning(token[0]).value],
                ]
                position = token.end()
            line = "".join([*parts, template.template[position:]])
            line = line.replace("⏎", " ")
            lines += [line, line.upper(), "Thanks. " + line, line.replace(",", ""), line[:-1]]
    return lines


def test_template_candidates_choose_as_trying_every_template() -> None:
    lines = _attribution_lines()
    assert len(lines) > 2000
    assert sum(match_attribution(line) is not None for line in lines) > 1000
    for line in lines:
        assert match_attribution(line) == _every_template_tried(line), line


def test_a_template_opening_is_ruled_out_only_when_no_opening_fits() -> None:
    opened = 0
    for line in _attribution_lines():
        found = match_attribution(line)
        if found is not None and found.opens_with_text:
            opened += 1
            assert may_open_template(line), line
    assert opened > 300
