"""The ``notice`` job: send one error email the inbound pipeline queued (``notices`` row).

The pipeline records the notice and its job in the same transaction as the message's outcome,
so an error email is never lost nor sent twice by a retried delivery of the same message. The
worker hands it to the error-mail transport (``[error_mail] transport``: SMTP, the outbox
folder, or none); a transport failure is retried with backoff, and after the job's last attempt
the notice is recorded as ``failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from sqlalchemy import Table, select, update

from postroom.jobs.registry import JobContext, RetryLater
from postroom.mailer import TransportError
from postroom.store.models import NoticeRow

NOTICES = cast(Table, NoticeRow.__table__)
RETRY = timedelta(minutes=2)


def run_notice(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    notice_id = int(payload["notice_id"])
    room = ctx.room
    with room.database.transaction() as tx:
        row = tx.execute(
            select(NOTICES.c.status, NOTICES.c.raw).where(NOTICES.c.id == notice_id)
        ).one_or_none()
    if row is None or row.status != "queued":
        return  # sent already (a job retried after its send), or removed
    message = message_from_bytes(bytes(row.raw), policy=policy.default)
    assert isinstance(message, EmailMessage)
    status = "sent"
    try:
        room.transport.send(message)
    except (TransportError, OSError) as exc:
        if ctx.attempts < 12:
            raise RetryLater(
                f"error email #{notice_id} not sent: {exc}", RETRY * ctx.attempts
            ) from exc
        status = "failed"
    with room.database.transaction() as tx:
        tx.execute(update(NOTICES).where(NOTICES.c.id == notice_id).values(status=status))
