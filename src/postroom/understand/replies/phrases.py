"""Phrase lists (taglines, closings, field names, writer verbs) as one regular expression.

A table row is a phrase: words separated by spaces, each space standing for a run of white
space (``\\s+``). ``re`` tries the branches of an alternation one after another, so a plain
``a|b|c`` over two hundred phrases costs two hundred attempts at every position it is tried.
The same phrases written as a trie (shared beginnings written once: ``thank(?:s|\\s+you)``)
match exactly the same strings, and each attempt is settled by the first few characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# A unit of a phrase: one character, or the white space between two words.
_SPACE = ""


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    terminal: bool = False


def _units(phrase: str) -> list[str]:
    units: list[str] = []
    for number, word in enumerate(phrase.split()):
        if number:
            units.append(_SPACE)
        units.extend(word)
    return units


def _emit(node: _Node) -> str:
    branches = [
        (r"\s+" if unit == _SPACE else re.escape(unit)) + _emit(child)
        for unit, child in sorted(node.children.items())
    ]
    if not branches:
        return ""
    if len(branches) == 1 and not node.terminal:
        return branches[0]
    group = "(?:" + "|".join(branches) + ")"
    return group + "?" if node.terminal else group


def phrase_pattern(phrases: Iterable[str]) -> str:
    """A regular expression (no anchors, no flags) matching exactly one of ``phrases``.

    Each phrase's words are matched literally and the space between two words matches any
    run of white space.
    """
    root = _Node()
    for phrase in phrases:
        units = _units(phrase)
        if not units:
            continue
        node = root
        for unit in units:
            node = node.children.setdefault(unit, _Node())
        node.terminal = True
    # With no phrase at all, nothing matches.
    return "(?:" + _emit(root) + ")" if root.children else "(?!)"
