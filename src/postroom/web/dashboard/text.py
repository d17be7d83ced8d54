"""Showing text that came from mail: escaped, control characters made visible, direction
isolated, long values cut (the full value stays in its own view)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

# C0 controls and DEL as their Control Pictures (U+2400..U+2421): a CR or LF smuggled into a
# header shows as what it is instead of breaking the layout or hiding.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Bidi embeddings, overrides and isolates (Unicode TR9), shown as their code points: an RLO in
# a subject must not turn the rest of a line around.
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def visible(value: object, limit: int | None = None, *, newlines: bool = False) -> str:
    """``value`` as text with every control and bidi character made visible."""
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\u2026"
    if not newlines:
        text = text.replace("\r", "\u240d").replace("\n", "\u240a").replace("\t", "\u2409")
    else:
        text = text.replace("\r\n", "\n").replace("\r", "\u240d")
    text = _CONTROLS.sub(_picture, text)
    return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def mail(value: object, limit: int | None = 200) -> Markup:
    """A field from mail for HTML: made visible, escaped, and isolated in ``<bdi>`` so its
    direction cannot reorder what follows it."""
    return Markup("<bdi>%s</bdi>") % visible(value, limit)


def block(value: object) -> Markup:
    """A multi-line value from mail for a ``<pre>``: lines kept, the rest as :func:`mail`."""
    return escape(visible(value, None, newlines=True))


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
