"""What one SMTP attempt means for its copy and its account (pure).

The reply is sorted by :func:`postroom.outbound.replies.classify_result` (success, transient,
quota, account, permanent); this module turns that into the copy's next state:

- success: ``sent``, the server's queue id kept;
- transient (4xx, a timeout, a dropped connection): ``deferred`` with backoff, or ``failed``
  once the copy is older than ``sending.max_age_days``;
- quota (a provider's "limit exceeded"): the account pauses until the provider's window
  resets; the copy waits for it, ``deferred`` without counting as a failure;
- account (the account cannot send: login refused, sending as another address refused, its
  own mailbox full): the account pauses for an operator; the copy waits;
- permanent (5xx): ``failed``; suppressed when the reply says the address does not exist.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from postroom.jobs.retry import Backoff
from postroom.outbound.replies import ReplyKind, classify_result
from postroom.outbound.types import CopyResult

#: How long an account waits after the server refused the account itself (a login failure
#: found by a worker, not by ``accounts test``), before a worker tries it again on its own.
ACCOUNT_PAUSE = timedelta(minutes=30)
#: A limit answer that names no window pauses the account this long.
DEFAULT_QUOTA_PAUSE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Decision:
    """The next state of a copy after one attempt, and of its account."""

    status: str  # sent, deferred, failed
    code: int | None
    reply: str | None
    reason: str
    queue_id: str | None = None
    next_at: datetime | None = None
    suppress: bool = False
    pause_until: datetime | None = None
    reconnect: bool = False

    def event_data(self) -> dict[str, object]:
        data: dict[str, object] = {"reason": self.reason}
        if self.code is not None:
            data["code"] = self.code
        if self.reply is not None:
            data["reply"] = self.reply
        if self.queue_id is not None:
            data["queue_id"] = self.queue_id
        if self.next_at is not None and self.status == "deferred":
            data["next_attempt_at"] = self.next_at.isoformat()
        return data


def decide(
    result: CopyResult,
    *,
    attempts: int,
    created_at: datetime,
    now: datetime,
    backoff: Backoff,
    rng: random.Random,
    suppress_gone: bool = True,
) -> Decision:
    """Sort one attempt's result into the copy's next state."""
    sorted_ = classify_result(result)
    reply = result.reply
    code = reply.code if reply is not None else None
    text = str(reply) if reply is not None else (str(result.error) if result.error else None)
    kind = sorted_.kind
    if kind is ReplyKind.SUCCESS:
        return Decision("sent", code, text, sorted_.reason, queue_id=result.queue_id)
    if kind is ReplyKind.PERMANENT:
        return Decision(
            "failed",
            code,
            text,
            sorted_.reason,
            suppress=suppress_gone and sorted_.address_gone,
            reconnect=sorted_.closing,
        )
    if kind in (ReplyKind.QUOTA, ReplyKind.ACCOUNT):
        pause = sorted_.pause or (DEFAULT_QUOTA_PAUSE if kind is ReplyKind.QUOTA else ACCOUNT_PAUSE)
        until = now + pause
        return Decision(
            "deferred",
            code,
            text,
            sorted_.reason,
            next_at=until,
            pause_until=until,
            reconnect=True,
        )
    retry = backoff.next_attempt(attempts=attempts, now=now, created_at=created_at, rng=rng)
    if retry is None:
        age = now - created_at
        return Decision(
            "failed",
            code,
            text,
            f"{sorted_.reason}; still not delivered after {age.days} days",
            reconnect=sorted_.closing,
        )
    return Decision(
        "deferred", code, text, sorted_.reason, next_at=retry, reconnect=sorted_.closing
    )
