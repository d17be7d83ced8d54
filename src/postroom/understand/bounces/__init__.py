"""Understanding what comes back: bounces, delays, auto-replies, complaints, delivery reports.

``classify_message(bytes | email.message.Message) -> Classification`` reads RFC 3464 delivery
status notifications (and RFC 1894), RFC 5965 feedback reports, RFC 3834 automatic replies and the
non-standard notices of real MTAs and providers, and never raises. See docs/bounces.md.
"""

from __future__ import annotations

from .classifier import classify_message
from .types import Classification, MessageKind, RecipientResult

__all__ = ["Classification", "MessageKind", "RecipientResult", "classify_message"]
