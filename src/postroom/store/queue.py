"""Repository functions of the durable queue: copies (``deliveries``), other work (``jobs``)
and connection slots (``connection_leases``).

Claims follow the design of Oban, good_job and procrastinate: ``UPDATE ... WHERE id IN
(SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`` on PostgreSQL, so any number of workers on any
number of hosts take disjoint rows without waiting for each other. SQLite has one writer at a
time, so the same statement without the locking clause is atomic there (one worker, see
docs/queue.md). A claimed row's due time becomes its lease end: a worker that dies stops
renewing it, and the row falls due again for whoever looks next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, case, delete, exists, func, select, update

from postroom.accounts.model import Limits
from postroom.store import inbound
from postroom.store.driver import Driver
from postroom.store.models import (
    AccountRow,
    ConnectionLeaseRow,
    DeliveryRow,
    JobRow,
)
from postroom.store.repos import Tx, _conn, _insert_for, driver_of

DELIVERIES = cast(Table, DeliveryRow.__table__)
JOBS = cast(Table, JobRow.__table__)
LEASES = cast(Table, ConnectionLeaseRow.__table__)
ACCOUNTS = cast(Table, AccountRow.__table__)

PENDING = ("queued", "deferred", "sending")
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


# --- copies ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedCopy:
    """A copy a worker has claimed: what it needs to build and send it."""

    id: int
    email_id: int
    address: str
    name: str | None
    role: str
    user_id: int | None
    message_id: str
    reply_address: str | None
    attempts: int
    created_at: datetime


_CLAIM_COLUMNS = (
    "id",
    "email_id",
    "address",
    "name",
    "role",
    "user_id",
    "message_id",
    "reply_address",
    "attempts",
    "created_at",
)


def due_accounts(tx: Tx, now: datetime) -> list[tuple[int, int]]:
    """Accounts that have copies due now and are not paused, with their connection limits."""
    d, a = DELIVERIES.c, ACCOUNTS.c
    due = exists().where(
        and_(d.account_id == a.id, d.status.in_(PENDING), d.next_attempt_at <= now)
    )
    query = (
        select(a.id, a.limits)
        .where(due)
        .where(a.paused_until.is_(None) | (a.paused_until <= now))
        .order_by(a.id)
    )
    return [(row.id, Limits.from_json(row.limits).connections) for row in _conn(tx).execute(query)]


def sending_budget(tx: Tx, account_id: int, limits: Limits, now: datetime, wanted: int) -> int:
    """How many copies this account may start now without passing any limit.

    Counts the copies claimed (``counted_at``) in the last minute and the last 24 hours: a
    rolling window, as Gmail counts its daily limit. The caller holds the account's row lock,
    so two workers never both take the last places.
    """
    budget = wanted
    c = DELIVERIES.c
    conn = _conn(tx)
    windows = [
        (MINUTE, limits.per_minute),
        (DAY, min(x for x in (limits.per_day, limits.recipients_per_day, 1 << 62) if x)),
    ]
    for span, limit in windows:
        if limit is None or limit >= 1 << 62:
            continue
        query = (
            select(func.count()).where(c.account_id == account_id).where(c.counted_at > now - span)
        )
        used = int(conn.execute(query).scalar_one())
        budget = min(budget, limit - used)
    return max(budget, 0)


def lock_account(tx: Tx, account_id: int) -> Any:
    """Lock the account's row for this transaction (PostgreSQL) and return it: claims for one
    account are serialised, so its limits hold across every worker."""
    query = select(ACCOUNTS.c.id, ACCOUNTS.c.paused_until, ACCOUNTS.c.limits).where(
        ACCOUNTS.c.id == account_id
    )
    conn = _conn(tx)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    else:
        # SQLite: a write first takes the database's one write lock for the whole transaction
        # (the driver runs plain SELECTs outside any transaction, so counting first would let
        # two claimers both see the same free places).
        conn.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(id=ACCOUNTS.c.id))
    return conn.execute(query).one_or_none()


def claim_copies(
    tx: Tx,
    *,
    account_id: int,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    limits: Limits,
) -> list[ClaimedCopy]:
    """Claim up to ``limit`` due copies of one account, within its sending limits."""
    account = lock_account(tx, account_id)
    if account is None or (account.paused_until is not None and account.paused_until > now):
        return []
    budget = sending_budget(tx, account_id, limits, now, limit)
    if budget <= 0:
        return []
    c = DELIVERIES.c
    if limits.connections > 1:
        # A fair share: with fewer due copies than a batch per connection, one claim must not
        # take them all while the account's other connections idle (a slow server makes that
        # the difference between one connection's speed and all of them). Counted within a
        # bound, so the count costs no more than the claim.
        waiting = (
            select(c.id)
            .where(c.account_id == account_id)
            .where(c.status.in_(PENDING))
            .where(c.next_attempt_at <= now)
            .limit(limit * limits.connections)
            .subquery()
        )
        due_now = int(_conn(tx).execute(select(func.count()).select_from(waiting)).scalar_one())
        budget = min(budget, max(1, -(-due_now // limits.connections)))
    due = (
        select(c.id)
        .where(c.account_id == account_id)
        .where(c.status.in_(PENDING))
        .where(c.next_attempt_at <= now)
        .order_by(c.next_attempt_at, c.id)
        .limit(budget)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(DELIVERIES)
        .where(c.id.in_(due.scalar_subquery()))
        .values(
            status="sending",
            claimed_by=worker,
            next_attempt_at=now + lease,
            attempts=c.attempts + 1,
            counted_at=now,
        )
        .returning(*(c[name] for name in _CLAIM_COLUMNS))
    )
    rows = _conn(tx).execute(stmt).all()
    copies = [ClaimedCopy(*row) for row in rows]
    copies.sort(key=lambda copy: copy.id)
    return copies


def renew_copies(tx: Tx, ids: Sequence[int], *, worker: str, until: datetime) -> int:
    """Extend the lease of copies this worker still holds."""
    if not ids:
        return 0
    c = DELIVERIES.c
    result = _conn(tx).execute(
        update(DELIVERIES)
        .where(c.id.in_(list(ids)))
        .where(c.claimed_by == worker)
        .where(c.status == "sending")
        .values(next_attempt_at=until)
    )
    return int(result.rowcount or 0)


def release_copies(tx: Tx, ids: Sequence[int], *, worker: str, now: datetime) -> int:
    """Give back claimed copies that were not attempted (a graceful stop): due at once, the
    attempt and the limit place they took returned."""
    if not ids:
        return 0
    c = DELIVERIES.c
    result = _conn(tx).execute(
        update(DELIVERIES)
        .where(c.id.in_(list(ids)))
        .where(c.claimed_by == worker)
        .where(c.status == "sending")
        .values(
            status=case((c.attempts <= 1, "queued"), else_="deferred"),
            attempts=c.attempts - 1,
            next_attempt_at=now,
            claimed_by=None,
            counted_at=None,
        )
    )
    return int(result.rowcount or 0)


_RESULT_SQL = {
    "sent": (
        "UPDATE deliveries SET status = 'sent', sent_at = :now, next_attempt_at = :now, "
        "claimed_by = NULL, last_code = :code, last_reply = :reply, queue_id = :queue_id "
        "WHERE id = :id"
    ),
    "deferred": (
        "UPDATE deliveries SET status = 'deferred', next_attempt_at = :next_at, "
        "claimed_by = NULL, last_code = :code, last_reply = :reply WHERE id = :id"
    ),
    "failed": (
        "UPDATE deliveries SET status = 'failed', next_attempt_at = :now, claimed_by = NULL, "
        "last_code = :code, last_reply = :reply WHERE id = :id"
    ),
}


def record_result(
    tx: Tx,
    *,
    copy: ClaimedCopy,
    status: str,
    now: datetime,
    code: int | None,
    reply: str | None,
    queue_id: str | None = None,
    next_at: datetime | None = None,
    event_data: Mapping[str, Any] | None = None,
) -> None:
    """Record one attempt's outcome (``sent``, ``deferred`` or ``failed``) and its event,
    inside the caller's transaction (for the rare results that change more than the copy:
    a suppression, an account's pause). The common path is :class:`ResultRecorder`."""
    driver = driver_of(tx)
    params = {
        "id": copy.id,
        "now": now,
        "code": code,
        "reply": reply,
        "queue_id": queue_id,
        "next_at": next_at or now,
    }
    driver.execute(
        _RESULT_SQL[status],
        driver.params(params, times=("now", "next_at"), texts=("reply",)),
    )
    inbound.add_event(
        driver,
        type=status,
        occurred_at=now,
        email_id=copy.email_id,
        delivery_id=copy.id,
        recipient=copy.address,
        user_id=copy.user_id,
        data=dict(event_data or {}),
    )


class ResultRecorder:
    """Records copies' results on one driver connection that a sender thread holds for its
    whole run: one round trip and one commit per copy.

    PostgreSQL: one statement (the delivery's update feeding the event's insert through a
    CTE) in autocommit mode with ``synchronous_commit`` off (docs/queue.md: a worker crash
    loses nothing; a database crash may forget the last results, whose copies are then sent
    again). SQLite: the two statements in one transaction of its single writer (WAL mode: no
    disk flush per commit either). Recorded whatever the claim's state: a copy the server
    accepted is sent, even if this worker's lease ran out meanwhile.
    """

    def __init__(self, database: Any) -> None:
        self._pool_connection = database.engine.raw_connection()
        raw = self._pool_connection.driver_connection
        self._driver = Driver(raw, database.dialect)
        self._postgres = database.dialect == "postgresql"
        if self._postgres:
            raw.autocommit = True
            raw.execute("SET synchronous_commit TO OFF")

    def record(
        self,
        copy: ClaimedCopy,
        *,
        status: str,
        now: datetime,
        code: int | None,
        reply: str | None,
        queue_id: str | None = None,
        next_at: datetime | None = None,
        event_data: Mapping[str, Any] | None = None,
    ) -> None:
        driver = self._driver
        params = driver.params(
            {
                "id": copy.id,
                "now": now,
                "code": code,
                "reply": reply,
                "queue_id": queue_id,
                "next_at": next_at or now,
                "type": status,
                "email_id": copy.email_id,
                "recipient": copy.address,
                "user_id": copy.user_id,
                "data": dict(event_data or {}),
            },
            times=("now", "next_at"),
            json_=("data",),
            texts=("reply", "recipient"),
        )
        if self._postgres:
            driver.execute(_PG_RECORD[status], params)
            return
        raw = driver.raw
        try:
            driver.execute(_RESULT_SQL[status], params)
            driver.execute(_SQLITE_EVENT, params)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise

    def close(self) -> None:
        if self._postgres:
            raw = self._driver.raw
            with contextlib.suppress(Exception):
                raw.execute("SET synchronous_commit TO DEFAULT")
                raw.autocommit = False
        self._pool_connection.close()


_EVENT_VALUES = (
    "(type, occurred_at, email_id, delivery_id, recipient, user_id, module, inbound_id, "
    "machine, data)"
)
_SQLITE_EVENT = (
    f"INSERT INTO events {_EVENT_VALUES} VALUES (:type, :now, :email_id, :id, :recipient, "
    ":user_id, NULL, NULL, NULL, :data)"
)
_PG_RECORD = {
    status: (
        f"WITH d AS ({sql} RETURNING id) INSERT INTO events {_EVENT_VALUES} "
        "SELECT :type, CAST(:now AS timestamptz), :email_id, d.id, :recipient, :user_id, "
        "NULL, NULL, NULL, CAST(:data AS json) FROM d"
    )
    for status, sql in _RESULT_SQL.items()
}


# --- other jobs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: Any
    attempts: int
    max_attempts: int


def enqueue_job(
    tx: Tx,
    *,
    kind: str,
    payload: Mapping[str, Any],
    now: datetime,
    run_at: datetime | None = None,
    unique_key: str | None = None,
    max_attempts: int = 10,
) -> int | None:
    """Add a job; with ``unique_key``, only if no job with that key exists (returns None)."""
    stmt = _insert_for(tx)(JOBS).on_conflict_do_nothing(index_elements=["unique_key"])
    result = _conn(tx).execute(
        stmt.returning(JOBS.c.id),
        {
            "kind": kind,
            "payload": dict(payload),
            "status": "queued",
            "run_at": run_at or now,
            "attempts": 0,
            "max_attempts": max_attempts,
            "unique_key": unique_key,
            "created_at": now,
        },
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


def claim_jobs(
    tx: Tx,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    kinds: Sequence[str],
    limit: int,
) -> list[ClaimedJob]:
    c = JOBS.c
    due = (
        select(c.id)
        .where(c.status.in_(("queued", "running")))
        .where(c.run_at <= now)
        .where(c.kind.in_(list(kinds)))
        .order_by(c.run_at, c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(JOBS)
        .where(c.id.in_(due.scalar_subquery()))
        .values(status="running", claimed_by=worker, run_at=now + lease, attempts=c.attempts + 1)
        .returning(c.id, c.kind, c.payload, c.attempts, c.max_attempts)
    )
    return sorted((ClaimedJob(*row) for row in _conn(tx).execute(stmt)), key=lambda job: job.id)


def finish_job(
    tx: Tx,
    job_id: int,
    *,
    now: datetime,
    status: str = "done",
    error: str | None = None,
    run_at: datetime | None = None,
) -> None:
    """``done`` or ``failed`` (final), or ``queued`` again at ``run_at`` (a retry)."""
    values: dict[str, Any] = {"status": status, "claimed_by": None, "last_error": error}
    if status == "queued":
        values["run_at"] = run_at or now
    else:
        values["finished_at"] = now
    _conn(tx).execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))


def release_jobs(tx: Tx, ids: Sequence[int], *, worker: str, now: datetime) -> None:
    if ids:
        c = JOBS.c
        _conn(tx).execute(
            update(JOBS)
            .where(c.id.in_(list(ids)))
            .where(c.claimed_by == worker)
            .values(status="queued", run_at=now, claimed_by=None, attempts=c.attempts - 1)
        )


def delete_finished_jobs(tx: Tx, before: datetime) -> int:
    c = JOBS.c
    result = _conn(tx).execute(
        delete(JOBS).where(c.status.in_(("done", "failed"))).where(c.finished_at < before)
    )
    return int(result.rowcount or 0)


# --- connection slots --------------------------------------------------------------------------


def acquire_slot(
    tx: Tx, *, account_id: int, slots: int, holder: str, now: datetime, until: datetime
) -> int | None:
    """Lease one of the account's ``slots`` connection slots; None when all are held."""
    conn = _conn(tx)
    insert = _insert_for(tx)(LEASES).on_conflict_do_nothing(index_elements=["account_id", "slot"])
    conn.execute(
        insert,
        [{"account_id": account_id, "slot": n, "lease_until": now} for n in range(slots)],
    )
    c = LEASES.c
    free = (
        select(c.slot)
        .where(c.account_id == account_id)
        .where(c.slot < slots)
        .where(c.holder.is_(None) | (c.lease_until < now))
        .order_by(c.slot)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(LEASES)
        .where(c.account_id == account_id)
        .where(c.slot == free.scalar_subquery())
        .values(holder=holder, lease_until=until)
        .returning(c.slot)
    )
    value = conn.execute(stmt).scalar_one_or_none()
    return None if value is None else int(value)


def renew_slot(tx: Tx, *, account_id: int, slot: int, holder: str, until: datetime) -> bool:
    c = LEASES.c
    result = _conn(tx).execute(
        update(LEASES)
        .where(c.account_id == account_id)
        .where(c.slot == slot)
        .where(c.holder == holder)
        .values(lease_until=until)
    )
    return bool(result.rowcount)


def release_slot(tx: Tx, *, account_id: int, slot: int, holder: str, now: datetime) -> None:
    c = LEASES.c
    _conn(tx).execute(
        update(LEASES)
        .where(c.account_id == account_id)
        .where(c.slot == slot)
        .where(c.holder == holder)
        .values(holder=None, lease_until=now)
    )
