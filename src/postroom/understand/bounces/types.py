"""The typed, immutable results of classifying one inbound message.

The JSON shape produced by :meth:`Classification.to_json` is the ``postroom classify`` contract in
DESIGN.md (minus ``path``); reasons use the vocabulary of the bounce corpus README (Sisimai's).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MessageKind(enum.StrEnum):
    """What an inbound message is, as far as delivery is concerned."""

    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    COMPLAINT = "complaint"
    DELIVERED = "delivered"
    READ_RECEIPT = "read_receipt"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """One recipient named by a report (RFC 3464 section 2.3 per-recipient fields, normalised).

    ``status`` is an RFC 3463 enhanced status code; when the message states none, it is inferred
    from the SMTP reply code and the diagnostic text and ``status_inferred`` is True.
    """

    address: str
    action: str | None
    status: str | None
    reason: str
    hard: bool
    diagnostic: str | None = None
    remote_host: str | None = None
    reply_code: str | None = None
    status_inferred: bool = False

    def to_json(self) -> dict[str, object]:
        """The recipient object of the ``postroom classify`` contract."""
        return {
            "address": self.address,
            "action": self.action,
            "status": self.status,
            "reason": self.reason,
            "hard": self.hard,
            "diagnostic": self.diagnostic,
            "remote_host": self.remote_host,
            "reply_code": self.reply_code,
        }


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one message: its kind, the recipients it reports on, and what it refers to.

    ``defects`` lists what was wrong with the input and read past (broken encodings, truncated
    parts), in the spirit of ``email.message.Message.defects``.
    """

    kind: MessageKind
    recipients: tuple[RecipientResult, ...] = ()
    original_message_id: str | None = None
    feedback_type: str | None = None
    defects: tuple[str, ...] = ()

    @property
    def is_bounce(self) -> bool:
        """True for every bounce, delays included (those carry ``hard=False``)."""
        return self.kind is MessageKind.BOUNCE

    def to_json(self) -> dict[str, object]:
        """The ``postroom classify`` object for this message, without ``path``."""
        return {
            "kind": self.kind.value,
            "is_bounce": self.is_bounce,
            "recipients": [r.to_json() for r in self.recipients],
            "original_message_id": self.original_message_id,
        }
