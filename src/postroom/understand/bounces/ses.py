"""Amazon SES notifications delivered by e-mail: JSON, sometimes wrapped in an SNS envelope.

SES publishes ``notificationType`` Bounce, Complaint or Delivery objects; each names its
recipients (``bouncedRecipients``, ``complainedRecipients``, ``delivery.recipients``) and, for
bounces, the RFC 3464 style ``action``, ``status`` and ``diagnosticCode`` of each one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .headers import clean_address
from .reasons import find_status


@dataclass(slots=True)
class SesRecipient:
    """One recipient of an SES notification."""

    address: str
    action: str | None = None
    status: str | None = None
    diagnostic: str | None = None
    remote_host: str | None = None


@dataclass(slots=True)
class SesNotification:
    """An SES notification: its type, recipients and the Message-ID of the mail it is about."""

    kind: str
    recipients: list[SesRecipient] = field(default_factory=list)
    message_id: str | None = None
    feedback_type: str | None = None


def _load(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        return None
    raw = text[start : end + 1]
    try:
        data = json.loads(raw)
    except ValueError:
        try:
            # Mail transports fold long lines; a JSON body survives if the folds are undone.
            data = json.loads(raw.replace("\n ", "").replace("\n", ""))
        except ValueError:
            return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        return _load(data["Message"])
    return data if isinstance(data, dict) else None


def parse_ses_notification(text: str) -> SesNotification | None:
    """Parse an SES JSON notification from a message body, or None if it is not one."""
    if "notificationType" not in text and "eventType" not in text:
        return None
    data = _load(text)
    if data is None:
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    mail = data.get("mail") if isinstance(data.get("mail"), dict) else {}
    headers = mail.get("commonHeaders") if isinstance(mail, dict) else None
    mid = headers.get("messageId") if isinstance(headers, dict) else None
    note = SesNotification(kind, message_id=str(mid).strip("<>") if mid else None)
    body = data.get(kind)
    if not isinstance(body, dict):
        return note
    if kind == "bounce":
        for item in body.get("bouncedRecipients") or []:
            if isinstance(item, dict) and (address := clean_address(str(item.get("emailAddress")))):
                note.recipients.append(
                    SesRecipient(
                        address,
                        item.get("action"),
                        item.get("status"),
                        item.get("diagnosticCode"),
                        body.get("remoteMtaIp") or body.get("reportingMTA"),
                    )
                )
    elif kind == "complaint":
        note.feedback_type = body.get("complaintFeedbackType") or "abuse"
        for item in body.get("complainedRecipients") or []:
            if isinstance(item, dict) and (address := clean_address(str(item.get("emailAddress")))):
                note.recipients.append(SesRecipient(address))
    elif kind == "delivery":
        for raw in body.get("recipients") or []:
            if address := clean_address(str(raw)):
                note.recipients.append(
                    SesRecipient(
                        address,
                        "delivered",
                        find_status(str(body.get("smtpResponse"))) or "2.0.0",
                        body.get("smtpResponse"),
                        body.get("reportingMTA"),
                    )
                )
    return note
