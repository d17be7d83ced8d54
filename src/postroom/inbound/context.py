"""The facts about one inbound message that the pipeline's steps share, and the values
stored with it before any decision is taken."""

from __future__ import annotations

from typing import Any

from postroom.addresses import BounceToken, ReplyToken
from postroom.inbound.effects import Effects, SentCopy
from postroom.inbound.parse import HEADER_END, ParsedMessage
from postroom.inbound.types import Envelope


class MessageContext:
    """The facts about one message that every step of the pipeline reads."""

    __slots__ = (
        "address",
        "effects",
        "envelope",
        "fresh",
        "inbound_id",
        "kind",
        "owner",
        "parsed",
        "token",
    )

    def __init__(
        self,
        parsed: ParsedMessage,
        envelope: Envelope,
        effects: Effects,
        inbound_id: int | None,
        address: str,
        kind: str,
        token: ReplyToken | BounceToken | None,
    ) -> None:
        self.parsed, self.envelope, self.effects = parsed, envelope, effects
        self.inbound_id, self.address, self.kind, self.token = inbound_id, address, kind, token
        self.fresh = False  # the claim inserted a new row (with the values it was given)
        self.owner: SentCopy | None = None  # the copy a quoted Message-ID names


def row_values(
    raw: bytes,
    parsed: ParsedMessage,
    envelope: Envelope,
    address: str,
    kind: str,
    size: int,
    too_large: bool,
) -> dict[str, Any]:
    """The inbound row's columns known before any decision."""
    return {
        "envelope_sender": envelope.sender,
        "envelope_recipient": ",".join(envelope.recipients) or None,
        "address": address,
        "message_id": parsed.message_id,
        "sender": parsed.sender,
        "subject": parsed.subject[:500],
        "kind": kind,
        "raw": parsed.raw if too_large else raw,
        "details": {"defects": list(parsed.defects), "size": size},
    }


def failed_row_values(raw: bytes, envelope: Envelope, address: str, error: str) -> dict[str, Any]:
    """The inbound row of a message whose handling failed before it was claimed: only what
    needs no parsing, stored with its final outcome."""
    return {
        "envelope_sender": envelope.sender,
        "envelope_recipient": ",".join(envelope.recipients) or None,
        "address": address or None,
        "raw": raw,
        "status": "failed",
        "outcome": "failed",
        "error": error,
        "details": {"size": len(raw)},
    }


def head_only(raw: bytes) -> bytes:
    """The header section of an oversized message (enough to answer it), capped at 256 KiB."""
    head = raw[: 256 * 1024]
    end = HEADER_END.search(head)
    return head[: end.end()] if end else head


def size_context(size: int, limit: int) -> dict[str, Any]:
    """The sizes a too-large notice names, in MB."""
    return {"size_mb": f"{size / 1048576:.1f}", "limit_mb": f"{limit / 1048576:.1f}"}
