"""Copies to track: emails, deliveries and links inserted straight into the store (the
tracking tests need rows to point at, not the sending path, which has its own tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, func, select

from postroom.store import Database
from postroom.store.models import DeliveryRow, EmailRow, LinkRow

EMAILS = cast(Table, EmailRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
LINKS = cast(Table, LinkRow.__table__)


def seed_copies(
    database: Database,
    count: int,
    *,
    urls: Sequence[str] = (),
    sent_at: datetime | None = None,
    opens: bool = True,
    clicks: bool = True,
    user_base: int | None = 1000,
) -> tuple[int, list[int]]:
    """One email with ``count`` sent copies (and ``urls`` as its links); (email id, ids)."""
    now = sent_at or datetime(2026, 11, 1, tzinfo=UTC)
    with database.connect() as conn:
        email_id = int(
            conn.execute(
                EMAILS.insert().returning(EMAILS.c.id),
                {
                    "account_id": 1,
                    "token": f"t{datetime.now(UTC).timestamp()}-{count}",
                    "created_at": now,
                    "subject": "Hello",
                    "message_id": "<email@example.test>",
                    "recipients": count,
                    "options": {"opens": opens, "clicks": clicks},
                    "template": b"",
                },
            ).scalar_one()
        )
        if urls:
            conn.execute(
                LINKS.insert(),
                [{"email_id": email_id, "number": n, "url": u} for n, u in enumerate(urls)],
            )
        first = int(conn.execute(select(func.coalesce(func.max(DELIVERIES.c.id), 0))).scalar())
        rows = [
            {
                "id": first + n + 1,
                "email_id": email_id,
                "account_id": 1,
                "role": "to",
                "address": f"reader{first + n + 1}@example.net",
                "user_id": None if user_base is None else user_base + first + n + 1,
                "message_id": f"<copy{first + n + 1}@example.test>",
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": now,
                "created_at": now,
                "sent_at": now,
            }
            for n in range(count)
        ]
        for start in range(0, len(rows), 10_000):
            conn.execute(DELIVERIES.insert(), rows[start : start + 10_000])
    return email_id, [int(r["id"]) for r in rows]
