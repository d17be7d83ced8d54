"""Sorting a parsed message into what the classifier reads: the human-readable notice, the
machine-readable report parts (RFC 3464 section 2, RFC 5965 section 2) and the returned message
(RFC 3462 / RFC 6522 section 3: ``message/rfc822`` or ``text/rfc822-headers``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .mime import READ_FIELDS, Part, decode_text, is_textual, parse_fields

_TAG = re.compile(r"<(?:script|style)\b.*?</(?:script|style)>|<[^>]{0,2000}>", re.I | re.S)
_BREAK = re.compile(r"<(?:br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.I)
_ENTITY = {"&nbsp;": " ", "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'"}
_ENTITY_RE = re.compile("|".join(_ENTITY))


@dataclass(slots=True)
class Contents:
    """The parts of one message the classifier cares about, decoded."""

    texts: list[str] = field(default_factory=list)
    dsn: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    mdn: list[str] = field(default_factory=list)
    returned: Part | None = None
    defects: list[str] = field(default_factory=list)


def html_to_text(html: str) -> str:
    """Text of an HTML notice: tags dropped, line breaks kept, common entities decoded."""
    text = _TAG.sub("", _BREAK.sub("\n", html))
    return _ENTITY_RE.sub(lambda m: _ENTITY[m.group(0)], text)


def collect(top: Part) -> Contents:
    """Walk the MIME tree once, without descending into the returned message."""
    out = Contents()
    html: list[Part] = []  # read only when the message has no plain text at all
    stack = [top]
    while stack:
        part = stack.pop(0)
        ctype = part.ctype
        if part.children and ctype.startswith("multipart/"):
            stack[0:0] = part.children
            continue
        if ctype in ("message/rfc822", "message/global"):
            if out.returned is None and part.children:
                out.returned = part.children[0]
            continue
        if ctype in ("text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers"):
            if out.returned is None:
                out.returned = Part(parse_fields(decode_text(part, out.defects), READ_FIELDS), b"")
            continue
        if ctype.startswith("multipart/"):
            # A multipart without a usable boundary: read its body as text.
            out.texts.append(decode_text(part, out.defects))
            continue
        if not is_textual(ctype) and part is not top:
            continue
        if ctype == "text/html":
            html.append(part)
            continue
        text = decode_text(part, out.defects)
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            out.dsn.append(text)
        elif ctype == "message/feedback-report":
            out.feedback.append(text)
        elif ctype == "message/disposition-notification":
            out.mdn.append(text)
        elif out.returned is None or part is top:
            out.texts.append(text)
    if not out.texts:
        out.texts.extend(html_to_text(decode_text(part, out.defects)) for part in html)
    return out


def forwarded_report(report: Part) -> list[str]:
    """The ``message/delivery-status`` texts of a whole bounce forwarded as an attachment."""
    return collect(report).dsn
