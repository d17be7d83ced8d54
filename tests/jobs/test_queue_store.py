"""The queue's SQL on SQLite and PostgreSQL: claims, leases, limits, releases, jobs, slots."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postroom.accounts.model import AccountSpec, Limits
from postroom.store import Database
from postroom.store import queue as q
from postroom.store.accounts import insert_account
from postroom.store.models import DeliveryRow
from support.sending import queue_copies

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def _account(database: Database, name: str = "main", **limits: Any) -> int:
    with database.transaction() as tx:
        spec = AccountSpec(
            name, "sender@example.test", "127.0.0.1", limits=Limits(**{"connections": 1, **limits})
        )
        return insert_account(tx, spec, secret=None, now=NOW).id


def _copies(database: Database, account_id: int, count: int, *, at: datetime = NOW) -> list[int]:
    return queue_copies(database, account_id, count, now=at)


def _claim(
    database: Database,
    account_id: int,
    *,
    worker: str = "w1",
    now: datetime = NOW,
    limit: int = 100,
    limits: Limits | None = None,
) -> list[q.ClaimedCopy]:
    with database.transaction() as tx:
        return q.claim_copies(
            tx,
            account_id=account_id,
            worker=worker,
            now=now,
            lease=LEASE,
            limit=limit,
            limits=limits or Limits(connections=1),
        )


def _status(database: Database, ids: list[int]) -> list[str]:
    with database.transaction() as tx:
        rows = {r.id: r.status for r in tx.query(DeliveryRow).filter(DeliveryRow.id.in_(ids))}
    return [rows[i] for i in ids]


def test_claims_are_disjoint_and_leased(database: Database) -> None:
    account = _account(database)
    ids = _copies(database, account, 10)
    first = _claim(database, account, limit=4)
    second = _claim(database, account, worker="w2", limit=100)
    assert [c.id for c in first] == ids[:4]
    assert [c.id for c in second] == ids[4:]
    assert _claim(database, account, worker="w3") == []
    assert all(c.attempts == 1 for c in first + second)
    # The lease runs out: a dead worker's copies fall due again by themselves.
    taken = _claim(database, account, worker="w3", now=NOW + LEASE + timedelta(seconds=1))
    assert sorted(c.id for c in taken) == ids
    assert all(c.attempts == 2 for c in taken)


def test_renewed_copies_stay_claimed(database: Database) -> None:
    account = _account(database)
    ids = _copies(database, account, 3)
    claimed = _claim(database, account)
    with database.transaction() as tx:
        renewed = q.renew_copies(tx, ids, worker="w1", until=NOW + 3 * LEASE)
        assert q.renew_copies(tx, ids, worker="w2", until=NOW + 9 * LEASE) == 0
    assert renewed == 3 and len(claimed) == 3
    assert _claim(database, account, worker="w2", now=NOW + 2 * LEASE) == []


def test_released_copies_are_due_at_once_with_their_attempt_back(database: Database) -> None:
    account = _account(database, per_day=5)
    ids = _copies(database, account, 5)
    claimed = _claim(database, account)
    assert len(claimed) == 5
    with database.transaction() as tx:
        assert q.release_copies(tx, ids[2:], worker="w1", now=NOW) == 3
    assert _status(database, ids) == ["sending", "sending", "queued", "queued", "queued"]
    again = _claim(database, account, worker="w2", limits=Limits(per_day=5, connections=1))
    # The released copies gave back their place in the daily limit as well.
    assert [c.id for c in again] == ids[2:]
    assert all(c.attempts == 1 for c in again)


def test_recorded_results_end_the_claim(database: Database) -> None:
    account = _account(database)
    ids = _copies(database, account, 3)
    a, b, c = _claim(database, account)
    later = NOW + timedelta(minutes=10)
    with database.transaction() as tx:
        q.record_result(
            tx, copy=a, status="sent", now=NOW, code=250, reply="250 2.0.0 ok", queue_id="ABC"
        )
        q.record_result(
            tx, copy=b, status="deferred", now=NOW, code=451, reply="451 later", next_at=later
        )
        q.record_result(tx, copy=c, status="failed", now=NOW, code=550, reply="550 no such user")
    assert _status(database, ids) == ["sent", "deferred", "failed"]
    assert _claim(database, account, now=later - timedelta(seconds=1)) == []
    [retry] = _claim(database, account, now=later)
    assert retry.id == b.id and retry.attempts == 2
    with database.transaction() as tx:
        from postroom.store.models import EventRow

        types = [e.type for e in tx.query(EventRow).order_by(EventRow.id)]
    assert types == ["sent", "deferred", "failed"]


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (Limits(per_minute=3, connections=1), 3),
        (Limits(per_day=4, connections=1), 4),
        (Limits(recipients_per_day=2, per_day=9, connections=1), 2),
        (Limits(connections=1), 7),
    ],
)
def test_limits_bound_what_one_claim_takes(
    database: Database, limits: Limits, expected: int
) -> None:
    account = _account(database)
    _copies(database, account, 7)
    assert len(_claim(database, account, limits=limits)) == expected
    assert _claim(database, account, worker="w2", limits=limits) == [] or (
        limits == Limits(connections=1)
    )


def test_the_minute_limit_rolls_and_the_day_limit_holds(database: Database) -> None:
    account = _account(database)
    _copies(database, account, 10)
    limits = Limits(per_minute=3, per_day=5, connections=1)
    assert len(_claim(database, account, limits=limits)) == 3
    assert _claim(database, account, limits=limits, now=NOW + timedelta(seconds=30)) == []
    assert len(_claim(database, account, limits=limits, now=NOW + timedelta(seconds=61))) == 2
    later = NOW + timedelta(hours=2)
    assert _claim(database, account, limits=limits, now=later) == []
    # The first claims' leases ran out long ago, but they still count for today.
    assert (
        len(_claim(database, account, limits=limits, now=NOW + timedelta(days=1, seconds=2))) == 3
    )


def test_a_paused_account_is_not_claimed_nor_due(database: Database) -> None:
    from postroom.store.accounts import update_account

    account = _account(database)
    _copies(database, account, 2)
    with database.transaction() as tx:
        update_account(
            tx, account, now=NOW, paused_until=NOW + timedelta(hours=1), pause_reason="daily limit"
        )
        assert q.due_accounts(tx, NOW) == []
        assert q.due_accounts(tx, NOW + timedelta(hours=2)) == [(account, 1)]
    assert _claim(database, account) == []
    assert len(_claim(database, account, now=NOW + timedelta(hours=2))) == 2


def test_concurrent_claimers_never_share_a_copy_nor_pass_the_limit(database: Database) -> None:
    account = _account(database)
    ids = _copies(database, account, 200)
    limits = Limits(per_day=150, connections=1)
    got: list[list[int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        try:
            mine: list[int] = []
            while True:
                batch = _claim(database, account, worker=name, limit=7, limits=limits)
                if not batch:
                    break
                mine.extend(c.id for c in batch)
            with lock:
                got.append(mine)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    every = [i for mine in got for i in mine]
    assert len(every) == len(set(every)) == 150
    assert set(every) <= set(ids)


def test_jobs_claim_once_retry_and_unique_keys(database: Database) -> None:
    with database.transaction() as tx:
        first = q.enqueue_job(tx, kind="prune", payload={}, now=NOW, unique_key="prune:day")
        again = q.enqueue_job(tx, kind="prune", payload={}, now=NOW, unique_key="prune:day")
        other = q.enqueue_job(tx, kind="notice", payload={"id": 3}, now=NOW)
    assert first is not None and again is None and other is not None
    with database.transaction() as tx:
        jobs = q.claim_jobs(
            tx, worker="w", now=NOW, lease=LEASE, kinds=["notice", "prune"], limit=10
        )
        assert [j.id for j in jobs] == [first, other]
        assert q.claim_jobs(tx, worker="w2", now=NOW, lease=LEASE, kinds=["notice"], limit=10) == []
        q.finish_job(tx, other, now=NOW, status="queued", run_at=NOW + LEASE * 2, error="x")
        q.finish_job(tx, first, now=NOW)
    with database.transaction() as tx:
        assert (
            q.claim_jobs(
                tx,
                worker="w",
                now=NOW + LEASE * 2,
                lease=LEASE,
                kinds=["notice", "prune"],
                limit=10,
            )[0].attempts
            == 2
        )


def test_connection_slots_hold_across_holders(database: Database) -> None:
    account = _account(database)
    until = NOW + LEASE
    with database.transaction() as tx:
        a = q.acquire_slot(tx, account_id=account, slots=2, holder="a", now=NOW, until=until)
        b = q.acquire_slot(tx, account_id=account, slots=2, holder="b", now=NOW, until=until)
        c = q.acquire_slot(tx, account_id=account, slots=2, holder="c", now=NOW, until=until)
    assert {a, b} == {0, 1} and c is None
    with database.transaction() as tx:
        assert b is not None
        q.release_slot(tx, account_id=account, slot=b, holder="b", now=NOW)
        assert (
            q.acquire_slot(tx, account_id=account, slots=2, holder="c", now=NOW, until=until) == b
        )
        # A holder that stopped renewing loses its slot when the lease runs out.
        later = until + timedelta(seconds=1)
        assert (
            q.acquire_slot(
                tx, account_id=account, slots=2, holder="d", now=later, until=later + LEASE
            )
            is not None
        )
        assert a is not None
        assert not q.renew_slot(tx, account_id=account, slot=a, holder="a", until=later)


def test_with_few_copies_each_connection_claims_its_share(database: Database) -> None:
    account = _account(database, connections=4)
    _copies(database, account, 10)
    limits = Limits(connections=4)
    sizes = [len(_claim(database, account, worker=f"w{n}", limits=limits)) for n in range(5)]
    assert sizes == [3, 2, 2, 1, 1]  # a fair share of what is due, not one claim taking all
