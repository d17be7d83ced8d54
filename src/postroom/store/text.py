"""Text as the databases take it, whatever bytes the mail carried.

PostgreSQL's text types refuse the NUL character, and neither backend's driver encodes a lone
surrogate (what ``surrogateescape`` decoding leaves for undecodable bytes) as UTF-8. Mail can
carry both in any header (RFC 5322 section 2.2 forbids NUL, but mail is whatever arrives), so
every text column stores them as U+FFFD instead of failing the insert. The raw message is kept
byte for byte in its own binary column.
"""

from __future__ import annotations

import json
from typing import Any

REPLACEMENT = "\ufffd"


def storable_text(value: str) -> str:
    """``value`` with NUL and lone surrogates replaced by U+FFFD (unchanged when it has none)."""
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


_SUSPECT = ("\\u0000", "\\ud8", "\\ud9", "\\uda", "\\udb", "\\udc", "\\udd", "\\ude", "\\udf")


def storable_json(value: Any) -> str:
    """``value`` as JSON text whose strings are :func:`storable_text` (PostgreSQL's json
    parser refuses ``\\u0000`` and unpaired surrogate escapes)."""
    text = json.dumps(value)
    if "\\u" in text and any(s in text for s in _SUSPECT):
        text = json.dumps(_clean(value))
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
