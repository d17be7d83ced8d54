"""Which digest item a reply is meant for.

In order of strength: the item's own reply address (``recipient_item``); an explicit
reference at the start of the person's text (``#2``, ``>>2``); the position of the person's
text inside the quoted digest (under an item's marker, or above the first marker but inside
the quote); the ``[#n]`` tag of the subject that the item's mailto: link prefilled. ``None``
when it cannot tell: the inbound pipeline then sends the sender the ``digest_ambiguous``
error email, which lists the items and their reply addresses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from postroom.compose.markers import parse_item_marker
from postroom.understand.replies.text import is_quoted
from postroom.understand.replies.types import ExtractedReply

How = Literal["address", "marker", "reference", "subject"]

_REFERENCE_RE = re.compile(r"^\s{0,8}(?:>>|#)\s?(\d{1,6})(?!\d)")
_SUBJECT_TAG_RE = re.compile(r"\[#(\d{1,6})\]")


@dataclass(frozen=True)
class DigestTarget:
    """The item a reply was attributed to, and how."""

    number: int
    how: How


def _reference(text: str) -> int | None:
    match = _REFERENCE_RE.match(text[:100])
    return int(match.group(1)) if match else None


def strip_reference(text: str) -> str:
    """The text without the leading ``#2`` / ``>>2`` that chose the item (it is addressing,
    not content)."""
    match = _REFERENCE_RE.match(text[:100])
    return text[match.end() :].lstrip(" \t:,.-") if match else text


def _subject_tag(subject: str) -> int | None:
    tags = {int(n) for n in _SUBJECT_TAG_RE.findall(subject[:1000])}
    return tags.pop() if len(tags) == 1 else None


def _marker_position(reply: ExtractedReply) -> int | None:
    """The item whose marker the person's first line sits under (or just above)."""
    first = next((line.strip() for line in reply.text.splitlines() if line.strip()), None)
    if first is None or not reply.source:
        return None
    lines = reply.source.splitlines()
    at = next(
        (i for i, line in enumerate(lines) if line.strip() == first and not is_quoted(line)),
        None,
    )
    if at is None:
        return None
    above = [n for line in lines[:at] if (n := parse_item_marker(line)) is not None]
    if above:
        return above[-1]
    # Above every marker: that is "inside the quoted digest" only if quoted lines precede it.
    if not any(is_quoted(line) for line in lines[:at]):
        return None
    return next((n for line in lines[at:] if (n := parse_item_marker(line)) is not None), None)


def target_digest_item(
    *,
    recipient_item: int | None,
    reply: ExtractedReply,
    subject: str,
    item_numbers: Sequence[int],
) -> DigestTarget | None:
    """Attribute a reply to one digest item, or return None when it cannot tell."""
    valid = set(item_numbers)
    if recipient_item is not None and recipient_item in valid:
        return DigestTarget(recipient_item, "address")
    reference = _reference(reply.text)
    if reference is not None and reference in valid:
        return DigestTarget(reference, "reference")
    marker = _marker_position(reply)
    if marker is not None and marker in valid:
        return DigestTarget(marker, "marker")
    tagged = _subject_tag(subject)
    if tagged is not None and tagged in valid:
        return DigestTarget(tagged, "subject")
    return None
