"""Canonical, unpadded base32 for address payloads (RFC 4648 §6 alphabet).

Addresses use the standard RFC 4648 base32 alphabet (``a-z`` and ``2-7``), written in lower case
and without ``=`` padding: padding would be an illegal character in an unquoted local part
(RFC 5321 §4.1.2 ``Dot-string``), and lower case survives the MTAs that fold local parts.
Decoding accepts either case but only ASCII letters: ``str.lower`` would fold look-alikes such as
U+212A KELVIN SIGN onto ``k`` and let a changed address through, so the input is checked against
an ASCII-only character class before anything is folded.

Decoding is canonical: when the character count leaves unused low bits in the final character,
those bits must be zero. Otherwise two different strings would decode to the same bytes and a
change of the last character could go unnoticed.
"""

from __future__ import annotations

import base64
import re

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

# The regex is ASCII-only by construction (no IGNORECASE), so look-alikes never match.
_VALID = re.compile("[A-Za-z2-7]*")
# Rewrites each base32 character as the digit of the same value in Python's int(..., 32) digit set
# (0-9, a-v), so the bit packing runs in C rather than in a Python loop.
_TO_INT_DIGITS = bytes.maketrans(
    (ALPHABET + ALPHABET.upper()).encode("ascii"),
    ("0123456789abcdefghijklmnopqrstuv" * 2).encode("ascii"),
)

# RFC 4648 §6: a final quantum of 1..4 bytes yields 2, 4, 5 or 7 characters; other remainders
# can never be produced by an encoder.
_VALID_REMAINDERS = frozenset({0, 2, 4, 5, 7})


def encoded_length(size: int) -> int:
    """Return the number of characters :func:`encode` produces for ``size`` bytes."""
    return (size * 8 + 4) // 5


def encode(data: bytes) -> str:
    """Encode ``data`` as lower-case RFC 4648 base32 without padding."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def decode(text: str) -> bytes:
    """Decode canonical unpadded base32 in either case.

    Raises :class:`ValueError` for a character outside the alphabet, an impossible length, or
    non-zero unused trailing bits.
    """
    count = len(text)
    if count % 8 not in _VALID_REMAINDERS:
        raise ValueError(f"{count} characters is not a possible base32 length")
    if _VALID.fullmatch(text) is None:
        raise ValueError("not a base32 string: a character is outside the RFC 4648 alphabet")
    if not count:
        return b""
    value = int(text.encode("ascii").translate(_TO_INT_DIGITS), 32)
    size = count * 5 // 8
    unused = count * 5 - size * 8
    if value & ((1 << unused) - 1):
        raise ValueError("unused trailing bits are set: not a canonical encoding")
    return (value >> unused).to_bytes(size, "big")
