"""Repository functions of the Mailbox part: emails due for Sent reconciliation, their
progress (``emails.sent_folder``), and the claims of messages seen in watched mailboxes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from postroom.store.models import (
    AccountRow,
    DeliveryRow,
    EmailRow,
    MailboxClaimRow,
)
from postroom.store.repos import Tx, _conn, _insert_for

EMAILS = cast(Table, EmailRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
ACCOUNTS = cast(Table, AccountRow.__table__)
CLAIMS = cast(Table, MailboxClaimRow.__table__)

PENDING = ("queued", "deferred", "sending")


# -- Sent reconciliation ---------------------------------------------------------------------


def emails_to_reconcile(tx: Tx, *, limit: int = 100) -> list[tuple[int, datetime | None, bool]]:
    """Emails not looked at yet whose copies are all final: (email id, when its last copy
    was sent or None when none was, whether its account has IMAP settings)."""
    e, d, a = EMAILS.c, DELIVERIES.c, ACCOUNTS.c
    pending = exists().where(and_(d.email_id == e.id, d.status.in_(PENDING)))
    last_sent = (
        select(func.max(d.sent_at))
        .where(d.email_id == e.id)
        .where(d.status == "sent")
        .scalar_subquery()
    )
    query = (
        select(e.id, last_sent.label("last_sent"), a.imap_host)
        .outerjoin(ACCOUNTS, a.id == e.account_id)
        .where(e.sent_folder.is_(None))
        .where(~pending)
        .order_by(e.id)
        .limit(limit)
    )
    rows = _conn(tx).execute(query).all()
    return [(int(r.id), r.last_sent, bool(r.imap_host)) for r in rows]


def set_sent_folder(tx: Tx, email_id: int, value: str, *, only_if: str | None = None) -> bool:
    e = EMAILS.c
    stmt = update(EMAILS).where(e.id == email_id).values(sent_folder=value)
    if only_if == "null":
        stmt = stmt.where(e.sent_folder.is_(None))
    result = _conn(tx).execute(stmt)
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class EmailForSent:
    email_id: int
    account_id: int
    token: str
    message_id: str
    template: bytes
    sent_folder: str | None
    copy_ids: tuple[str, ...]
    first_sent: datetime | None


def load_email(tx: Tx, email_id: int) -> EmailForSent | None:
    conn = _conn(tx)
    e, d = EMAILS.c, DELIVERIES.c
    row = conn.execute(
        select(e.id, e.account_id, e.token, e.message_id, e.template, e.sent_folder).where(
            e.id == email_id
        )
    ).one_or_none()
    if row is None:
        return None
    copies = conn.execute(
        select(d.message_id, d.sent_at)
        .where(d.email_id == email_id)
        .where(d.status == "sent")
        .order_by(d.id)
    ).all()
    times = [c.sent_at for c in copies if c.sent_at is not None]
    return EmailForSent(
        int(row.id),
        int(row.account_id),
        row.token,
        row.message_id,
        bytes(row.template),
        row.sent_folder,
        tuple(c.message_id for c in copies if c.message_id),
        min(times) if times else None,
    )


# -- claims of watched mailboxes -------------------------------------------------------------


def claim_message(
    tx: Tx,
    *,
    account_id: int,
    folder: str,
    uidvalidity: int,
    uid: int,
    message_id: str | None,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> bool:
    """Claim one message for this poller; False when another has it (or had it: done), by its
    UID or by its Message-ID. A claim older than ``lease`` still processing is a dead
    poller's: it is taken over."""
    conn = _conn(tx)
    values = {
        "account_id": account_id,
        "folder": folder,
        "uidvalidity": uidvalidity,
        "uid": uid,
        "message_id": message_id,
        "status": "processing",
        "claimed_by": worker,
        "claimed_at": now,
    }
    try:
        with conn.begin_nested():
            inserted = conn.execute(
                _insert_for(tx)(CLAIMS).on_conflict_do_nothing().returning(CLAIMS.c.id), values
            ).scalar_one_or_none()
    except IntegrityError:
        inserted = None
    if inserted is not None:
        return True
    c = CLAIMS.c
    taken = conn.execute(
        update(CLAIMS)
        .where(c.account_id == account_id)
        .where(c.folder == folder)
        .where(c.uidvalidity == uidvalidity)
        .where(c.uid == uid)
        .where(c.status == "processing")
        .where(c.claimed_at < now - lease)
        .values(claimed_by=worker, claimed_at=now)
    )
    return bool(taken.rowcount)


def finish_claim(
    tx: Tx,
    *,
    account_id: int,
    folder: str,
    uidvalidity: int,
    uid: int,
    outcome: str,
    now: datetime,
) -> None:
    c = CLAIMS.c
    _conn(tx).execute(
        update(CLAIMS)
        .where(c.account_id == account_id)
        .where(c.folder == folder)
        .where(c.uidvalidity == uidvalidity)
        .where(c.uid == uid)
        .values(status="done", finished_at=now, outcome=outcome[:40])
    )


def claimed_outcomes(tx: Tx, account_id: int, folder: str) -> list[Any]:
    c = CLAIMS.c
    return list(
        _conn(tx).execute(
            select(c.uid, c.message_id, c.status, c.claimed_by, c.outcome)
            .where(c.account_id == account_id)
            .where(c.folder == folder)
            .order_by(c.uid)
        )
    )


def done_uids(
    tx: Tx, account_id: int, folder: str, uidvalidity: int, uids: Sequence[int]
) -> set[int]:
    """Of ``uids``, those handled already (so a poll does not fetch them again)."""
    if not uids:
        return set()
    c = CLAIMS.c
    rows = _conn(tx).execute(
        select(c.uid)
        .where(c.account_id == account_id)
        .where(c.folder == folder)
        .where(c.uidvalidity == uidvalidity)
        .where(c.uid.in_(list(uids)))
        .where(c.status == "done")
    )
    return {int(r.uid) for r in rows}
