"""Digest emails: several items in one message, each with its own way to reply.

Every item carries its own reply address (the caller encodes one session per item), a
``mailto:`` link with a prefilled subject ``Re: <title> [#n]`` in the HTML part, and an item
marker line (see :mod:`postroom.compose.markers`) in the plain-text part, so that a reply
written under an item inside the quoted digest can be attributed to it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from postroom.compose.markers import format_item_marker


@dataclass(frozen=True)
class DigestItem:
    """One item of a digest; ``reply_address`` is already encoded by the caller."""

    number: int
    title: str
    body: str
    reply_address: str


@dataclass(frozen=True)
class DigestParts:
    """The subject and the two bodies of a digest (or of its help email)."""

    subject: str
    text: str
    html: str


def item_subject(item: DigestItem) -> str:
    """The subject a reply to ``item`` carries: ``Re: <title> [#n]``."""
    return f"Re: {' '.join(item.title.split())} [#{item.number}]"


def item_mailto(item: DigestItem) -> str:
    """A ``mailto:`` URI (RFC 6068) for replying to ``item`` with its subject prefilled."""
    address = quote(item.reply_address, safe="@+.-_")
    return f"mailto:{address}?subject={quote(item_subject(item), safe='')}"


def _text_item(item: DigestItem) -> str:
    return "\n".join(
        (
            format_item_marker(item.number, item.title),
            item.body.strip(),
            "",
            f"Reply to this item: {item.reply_address} (or start your reply with #{item.number})",
        )
    )


def _html_item(item: DigestItem) -> str:
    paragraphs = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
        for p in item.body.strip().split("\n\n")
        if p.strip()
    )
    return (
        f'<div data-digest-item="{item.number}">'
        f"<h3>[#{item.number}] {html.escape(item.title)}</h3>{paragraphs}"
        f'<p><a href="{html.escape(item_mailto(item))}">Reply to this item</a></p></div>'
    )


def render_digest(items: Sequence[DigestItem], *, subject: str, intro: str = "") -> DigestParts:
    """Render a digest: item markers in the text part, per-item mailto: links in the HTML."""
    numbers = [item.number for item in items]
    if len(set(numbers)) != len(numbers):
        raise ValueError("digest item numbers must be unique")
    text_blocks = [intro.strip()] if intro.strip() else []
    text_blocks += [_text_item(item) for item in items]
    text_blocks.append(
        'To reply to one item, reply to its address, or start your reply with "#" and its number.'
    )
    intro_html = f"<p>{html.escape(intro.strip())}</p>" if intro.strip() else ""
    body_html = intro_html + "".join(_html_item(item) for item in items)
    return DigestParts(
        subject=subject,
        text="\n\n".join(text_blocks) + "\n",
        html=f"<!DOCTYPE html><html><body>{body_html}</body></html>",
    )
