"""RFC 8098 message disposition notifications: read receipts, and Sieve's refusals.

A ``message/disposition-notification`` part (section 3.1) reports what happened to a message
after it was delivered: ``Disposition: <action-mode>/<sending-mode>; <type>[/<modifier>]``
(section 3.2.6). ``displayed`` means a person's mail reader showed it: a person's open.
``deleted``, ``dispatched`` and ``processed`` say the message was handled without being shown.

One disposition is a refusal instead: the Sieve ``reject`` action (RFC 5429 section 2.1)
answers with an MDN whose disposition is ``automatic-action/...; deleted`` and whose text is
the reason the recipient's filter gives. The mailbox exists and its owner's rules refused the
message, which is a bounce (``filtered``), not a receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

from .headers import clean_address, message_id
from .mime import parse_fields

# RFC 8098 section 3.2.6.2 disposition types, and RFC 3798's older "denied" and "failed".
DISPOSITION_TYPES = frozenset(
    {"displayed", "deleted", "dispatched", "processed", "denied", "failed"}
)


@dataclass(frozen=True, slots=True)
class Disposition:
    """The fields of one ``message/disposition-notification`` (RFC 8098 section 3.2)."""

    final_recipient: str | None
    original_recipient: str | None
    original_message_id: str | None
    action_mode: str  # "manual-action" or "automatic-action" (section 3.2.6.1)
    sending_mode: str  # "mdn-sent-manually" or "mdn-sent-automatically"
    type: str  # section 3.2.6.2, lower case
    modifiers: tuple[str, ...]
    reporting_ua: str | None

    @property
    def is_refusal(self) -> bool:
        """An RFC 5429 Sieve ``reject``: deleted by an automatic action, not by a person."""
        return self.type in ("deleted", "denied") and self.action_mode == "automatic-action"


def parse_disposition(text: str) -> Disposition | None:
    """Parse an MDN body (RFC 8098 section 3.1); None when it names no disposition."""
    fields = dict(reversed(parse_fields(text.replace("\r", ""))))
    raw = fields.get("disposition")
    if not raw:
        return None
    modes, _, rest = raw.partition(";")
    action_mode, _, sending_mode = modes.strip().lower().partition("/")
    kind, _, modifier_list = rest.strip().lower().partition("/")
    kind = kind.split()[0] if kind.split() else ""
    if kind not in DISPOSITION_TYPES:
        return None
    modifiers = tuple(m.strip() for m in modifier_list.split(",") if m.strip())
    return Disposition(
        final_recipient=_address(fields.get("final-recipient")),
        original_recipient=_address(fields.get("original-recipient")),
        original_message_id=message_id(fields.get("original-message-id")),
        action_mode=action_mode.strip(),
        sending_mode=sending_mode.strip(),
        type=kind,
        modifiers=modifiers,
        reporting_ua=(fields.get("reporting-ua") or "").partition(";")[0].strip() or None,
    )


def _address(value: str | None) -> str | None:
    return clean_address(value) if value else None
