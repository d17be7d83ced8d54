"""What webhooks carry and what their answers mean: pure functions, no I/O.

Every body is ``{"type": ..., "timestamp": ..., "data": {...}}`` (the Standard Webhooks
payload structure), encoded once per delivery the same way, so a retried message is the same
bytes with a new timestamp and signature.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from postroom.errors import WebhookFailed
from postroom.inbound.types import Reply

#: The event taxonomy of DESIGN.md (``postroom.outcomes.EventType``, written out: the MTA
#: pipe imports this module and must not load the store's SQLAlchemy).
EVENT_TYPES = (
    "queued",
    "sent",
    "deferred",
    "failed",
    "bounced",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "replied",
    "auto_replied",
    "inbound_rejected",
    "webhook_disabled",
)
#: The type of a reply POSTed to a module served by a URL.
REPLY_TYPE = "reply"
#: The type of the message ``test`` sends.
TEST_TYPE = "test"

#: The Standard Webhooks example schedule (the wait after the n-th failed attempt); after
#: the last, every 24 hours until the endpoint is disabled.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
_MAX_RETRY_AFTER = timedelta(hours=24)


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The one encoding of a payload (compact, UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def event_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """The body of one event (a row of ``events``), as the API's ``EventOut`` shows it."""
    occurred = event["occurred_at"]
    data = {
        "id": event["id"],
        "type": event["type"],
        "occurred_at": _time(occurred),
        "email_id": event.get("email_id"),
        "delivery_id": event.get("delivery_id"),
        "recipient": event.get("recipient"),
        "user_id": event.get("user_id"),
        "module": event.get("module"),
        "inbound_id": event.get("inbound_id"),
        "machine": event.get("machine"),
        "data": event.get("data") or {},
    }
    return {"type": event["type"], "timestamp": _time(occurred), "data": data}


def reply_payload(reply: Reply, *, now: datetime) -> dict[str, Any]:
    """The body POSTed to a module served by a URL: the verified, extracted reply and its
    session's data (attachments in base64)."""
    data = {
        "module": reply.module,
        "user_id": reply.user_id,
        "session_data": reply.session_data,
        "text": reply.text,
        "signature": reply.signature,
        "quoted": reply.quoted,
        "html": reply.html,
        "sender": reply.sender,
        "subject": reply.subject,
        "message_id": reply.message_id,
        "address": reply.address,
        "inbound_id": reply.inbound_id,
        "digest_item": reply.digest_item,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": len(a.data),
                "data": base64.b64encode(a.data).decode("ascii"),
            }
            for a in reply.attachments
        ],
    }
    return {"type": REPLY_TYPE, "timestamp": _time(now), "data": data}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A handler's refusal: the sender gets the error email with ``explanation``."""

    code: str
    explanation: str


def read_handler_answer(status: int, body: bytes) -> Rejection | None:
    """What a module served by a URL answered: None (accepted), a :class:`Rejection`, or
    :class:`~postroom.errors.WebhookFailed` (retried).

    A JSON object with a string ``reject`` is a rejection whatever the status (2xx or 4xx:
    both say the same); any other 2xx accepts; anything else is a failure."""
    answer: Any = None
    if body.strip().startswith(b"{"):
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
    if isinstance(answer, dict) and isinstance(answer.get("reject"), str) and status < 500:
        code = answer["reject"].strip()[:100] or "rejected"
        explanation = answer.get("explanation")
        text = explanation.strip() if isinstance(explanation, str) else ""
        return Rejection(code, text[:4000] or "The application did not accept this reply.")
    if 200 <= status < 300:
        return None
    raise WebhookFailed(f"the handler's endpoint answered {status}", status=status)


def retry_after_of(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` (RFC 9110 section 10.2.3: seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        wait = timedelta(seconds=int(text[:9]))
    else:
        try:
            wait = parsedate_to_datetime(text) - now
        except (TypeError, ValueError):
            return None
    return max(timedelta(0), min(wait, _MAX_RETRY_AFTER))


def retry_delay(
    attempts: int, rng: random.Random, retry_after: timedelta | None = None
) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: the schedule with up to 10%
    jitter (so messages failed together by one outage come back spread out), never less
    than the endpoint's ``Retry-After``."""
    base = RETRY_SCHEDULE[min(max(attempts, 1), len(RETRY_SCHEDULE)) - 1]
    wait = base + base * (0.1 * rng.random())
    return max(wait, retry_after) if retry_after is not None else wait
