"""What to record for a report that is not a human reply (pure: no I/O).

Bounces (RFC 3464), complaints (RFC 5965), auto-replies (RFC 3834), read receipts (RFC 8098)
and delivery reports are recorded and never dispatched. A receipt whose disposition is
``displayed`` is a person's open of the copy it names (its ``Original-Message-ID``). The
plan is decided from the classification alone, so the pipeline can store the message with
its final outcome in the same statement that claims it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from postroom.inbound.types import Outcome
from postroom.understand.bounces import Classification, MessageKind


@dataclass(frozen=True, slots=True)
class ReportPlan:
    """The outcome, the event to record, and whether the user's bounce score or
    suppression changes (only when the address named a verified user)."""

    outcome: Outcome
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    recipient: str | None = None
    count_bounce: bool = False
    hard: bool = False
    suppress: bool = False

    @property
    def detail(self) -> str:
        if self.outcome is Outcome.BOUNCE_RECORDED:
            return "hard" if self.hard else "soft"
        return ""


def plan_report(result: Classification) -> ReportPlan:
    first = result.recipients[0] if result.recipients else None
    data: dict[str, Any] = {
        "recipients": [r.address for r in result.recipients],
        "status": first.status if first else None,
        "reason": first.reason if first else None,
        "original_message_id": result.original_message_id,
    }
    recipient = first.address if first else None
    if result.kind is MessageKind.AUTO_REPLY:
        return ReportPlan(Outcome.AUTO_REPLY_RECORDED, "auto_replied", data, recipient)
    if result.kind is MessageKind.COMPLAINT:
        data["feedback_type"] = result.feedback_type
        return ReportPlan(Outcome.COMPLAINT_RECORDED, "complained", data, recipient, suppress=True)
    if result.kind is MessageKind.DELIVERED:
        return ReportPlan(Outcome.REPORT_IGNORED)
    if result.kind is MessageKind.READ_RECEIPT:
        disposition = first.reason if first else None
        data = {**data, "disposition": disposition}
        if disposition == "displayed" and result.original_message_id:
            # RFC 8098 section 3.2.6.2: "displayed" means a mail reader showed it to someone.
            data["label"] = "human"
            return ReportPlan(Outcome.RECEIPT_RECORDED, "opened", data, recipient)
        return ReportPlan(Outcome.RECEIPT_RECORDED, None, data, recipient)
    failed = [r for r in result.recipients if r.action != "delayed"]
    if result.recipients and not failed:
        # RFC 3464 action=delayed: the MTA is still trying; count nothing until it fails.
        return ReportPlan(Outcome.DELAY_RECORDED, "deferred", data, recipient)
    hard = any(r.hard for r in failed)
    data["hard"] = hard
    return ReportPlan(
        Outcome.BOUNCE_RECORDED, "bounced", data, recipient, count_bounce=True, hard=hard
    )
