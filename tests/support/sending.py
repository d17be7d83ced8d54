"""Helpers for the sending half's tests: settings with keys, copies queued by hand."""

from __future__ import annotations

import secrets
from datetime import datetime

from postroom.settings import ErrorMailSettings, Settings
from postroom.store import Database
from postroom.store.models import DeliveryRow, EmailRow


def settings_with_keys(database_url: str = "sqlite://", **changes: object) -> Settings:
    settings = Settings(
        database_url=database_url,
        reply_domain="reply.example.test",
        address_keys={1: secrets.token_bytes(32)},
        signing_key_id=1,
        account_keys={1: secrets.token_bytes(32)},
        account_key_id=1,
        error_mail=ErrorMailSettings(sender="postroom@reply.example.test", transport="none"),
    )
    return settings.clone(**changes) if changes else settings


def queue_copies(database: Database, account_id: int, count: int, *, now: datetime) -> list[int]:
    """``count`` queued copies of a bare email of ``account_id`` (no template): for the
    queue's own tests, which never build a message."""
    with database.transaction() as tx:
        email = EmailRow(
            account_id=account_id,
            token=secrets.token_hex(10),
            created_at=now,
            subject="s",
            message_id=f"{secrets.token_hex(6)}@example.test",
            recipients=count,
            options={},
            template=b"",
        )
        tx.add(email)
        tx.flush()
        rows = [
            DeliveryRow(
                email_id=email.id,
                account_id=account_id,
                role="to",
                address=f"r{n}@example.test",
                message_id=f"c{n}.{email.id}@example.test",
                status="queued",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            for n in range(count)
        ]
        tx.add_all(rows)
        tx.flush()
        return [row.id for row in rows]
