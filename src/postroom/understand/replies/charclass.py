"""Does a string hold a digit, a letter? The same tests as ``any(c.isdigit() for c in s)``,
answered by one regular-expression search where that is exact.

In ASCII, ``str.isdigit()`` holds for 0-9 alone and ``str.isalpha()`` for A-Z and a-z alone,
so for an ASCII string a search for ``[0-9]`` or ``[A-Za-z]`` gives the same answer without a
Python-level loop over the characters; other strings take the loop.
"""

from __future__ import annotations

import re

_ASCII_DIGIT = re.compile(r"[0-9]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def has_digit(text: str) -> bool:
    """True when a character of ``text`` is a digit (``str.isdigit``)."""
    if text.isascii():
        return _ASCII_DIGIT.search(text) is not None
    return any(c.isdigit() for c in text)


def has_letter(text: str) -> bool:
    """True when a character of ``text`` is a letter (``str.isalpha``)."""
    if text.isascii():
        return _ASCII_LETTER.search(text) is not None
    return any(c.isalpha() for c in text)
