"""Typed values the inbound pipeline hands out: what a handler receives and what happened."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment of a reply, decoded (RFC 2183 Content-Disposition)."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """A verified human reply, as a handler receives it."""

    module: str
    user_id: int
    session_data: Any
    text: str
    signature: str | None
    quoted: str
    html: str | None
    attachments: tuple[Attachment, ...]
    sender: str | None
    subject: str
    message_id: str | None
    address: str
    message: EmailMessage = field(repr=False)
    inbound_id: int | None = None
    digest_item: int | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the receiver knows from the SMTP/LMTP transaction or the MTA pipe (RFC 5321)."""

    sender: str | None = None
    recipients: tuple[str, ...] = ()


class Outcome(enum.StrEnum):
    """What the pipeline did with a message (stored in ``inbound_messages.outcome``)."""

    DISPATCHED = "dispatched"
    DUPLICATE = "duplicate"
    NOT_OURS = "not_ours"
    INVALID_ADDRESS = "invalid_address"
    BOUNCE_RECORDED = "bounce_recorded"
    DELAY_RECORDED = "delay_recorded"
    COMPLAINT_RECORDED = "complaint_recorded"
    AUTO_REPLY_RECORDED = "auto_reply_recorded"
    RECEIPT_RECORDED = "receipt_recorded"
    REPORT_IGNORED = "report_ignored"
    SESSION_EXPIRED = "session_expired"
    UNKNOWN_MODULE = "unknown_module"
    EMPTY_REPLY = "empty_reply"
    TOO_LARGE = "too_large"
    WRONG_SENDER = "wrong_sender"
    DIGEST_AMBIGUOUS = "digest_ambiguous"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class InboundResult:
    """The pipeline's answer for one message and one of our addresses."""

    outcome: Outcome
    inbound_id: int | None = None
    address: str | None = None
    kind: str | None = None
    module: str | None = None
    user_id: int | None = None
    notice: str | None = None
    detail: str = ""
    steps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome),
            "inbound_id": self.inbound_id,
            "address": self.address,
            "kind": self.kind,
            "module": self.module,
            "user_id": self.user_id,
            "notice": self.notice,
            "detail": self.detail,
            "steps": list(self.steps),
        }
