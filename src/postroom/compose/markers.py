"""Markers that compose puts into outgoing mail and the reply extractor recognises.

* The "reply above this line" marker: the strongest signal the extractor has, because a
  client quotes it verbatim (or with ``>``) under whatever the person typed.
* Digest item markers: one line per digest item in the plain-text part, ``=== [#2] Title ===``,
  still recognisable after a client has quoted it (``> === [#2] Title ===``), so that a reply
  written under an item inside the quoted digest can be attributed to that item.
"""

from __future__ import annotations

import html
import re

REPLY_ABOVE_MARKER = "##- Please type your reply above this line -##"
"""The plain-text marker line compose adds above the quoted-to-be content."""

REPLY_ABOVE_MARKER_HTML = (
    '<div data-postroom-marker="reply-above" style="color:#999999;font-size:12px">'
    + html.escape(REPLY_ABOVE_MARKER)
    + "</div>"
)
"""The same marker as an HTML block; its text survives any client's quoting."""

# Match on the distinctive phrase, not the punctuation, which some clients mangle.
_MARKER_PHRASE = "type your reply above this line"

_ITEM_MARKER_RE = re.compile(r"^[\s>]{0,40}={3}\s\[#(\d{1,6})\]")


def is_reply_above_marker(line: str) -> bool:
    """True when ``line`` (possibly quoted) carries the reply-above-this-line marker."""
    return len(line) <= 300 and _MARKER_PHRASE in line.lower()


def has_reply_above_marker(text: str) -> bool:
    """True when ``text`` carries the marker anywhere (a quick test before a line scan)."""
    return _MARKER_PHRASE in text.lower()


def format_item_marker(number: int, title: str) -> str:
    """The plain-text marker line that opens digest item ``number``."""
    clean_title = " ".join(title.split())
    return f"=== [#{number}] {clean_title} ==="


def parse_item_marker(line: str) -> int | None:
    """The item number of a (possibly quoted) digest item marker line, or None."""
    if len(line) > 1000:
        return None
    match = _ITEM_MARKER_RE.match(line)
    return int(match.group(1)) if match else None
