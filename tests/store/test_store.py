"""The store on SQLite and PostgreSQL: migrations, sessions, dedupe, bounce scores."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from threading import Barrier, Thread
from typing import TypeVar

from postroom.store import Database, open_database, repos
from postroom.store.migrate import check_schema, current_revision, downgrade, head_revision, upgrade

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
T = TypeVar("T")


def new_session(
    db: Database, *, data: object = None, uses: int | None = None, expires: datetime | None = None
) -> tuple[int, bytes]:
    key = secrets.token_bytes(8)
    with db.transaction() as tx:
        row = repos.insert_session(
            tx,
            key=key,
            module=1,
            user_id=42,
            data=data,
            created_at=NOW,
            expires_at=expires or NOW + timedelta(days=30),
            uses_left=uses,
        )
        return row.id, key


def test_migrations_go_up_down_and_up(database_url: str) -> None:
    db = open_database(database_url)
    upgrade(db)
    assert current_revision(db) == head_revision()
    check_schema(db)
    downgrade(db, "base")
    assert current_revision(db) is None
    upgrade(db)
    check_schema(db)
    db.dispose()


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from postroom.store.models import Base

    db = open_database(database_url)
    upgrade(db)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = [
            d for d in compare_metadata(context, Base.metadata) if "alembic_version" not in str(d)
        ]
    db.dispose()
    assert diff == []


def test_session_data_of_five_megabytes_round_trips(database: Database) -> None:
    blob = {"text": "x" * (5 * 1024 * 1024), "nested": [1, {"a": "é"}]}
    _, key = new_session(database, data=blob)
    with database.transaction() as tx:
        row = repos.find_session(tx, key)
        assert row is not None
        assert row.data == blob
        assert row.created_at == NOW


def at_once(count: int, work: Callable[[], T]) -> list[T]:
    """Run ``work`` in ``count`` threads released together; their results in any order."""
    barrier = Barrier(count)
    results: list[T] = []

    def run() -> None:
        barrier.wait()
        results.append(work())

    threads = [Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_limited_uses_are_spent_once_each_under_concurrency(database: Database) -> None:
    session_id, _ = new_session(database, uses=3)

    def take() -> bool:
        with database.transaction() as tx:
            return repos.take_session_use(tx, session_id)

    assert sorted(at_once(8, take)) == [False] * 5 + [True] * 3
    with database.transaction() as tx:
        row = tx.get(repos.SessionRow, session_id)
        assert row is not None and row.uses_left == 0 and row.use_count == 3


def test_unlimited_sessions_count_uses(database: Database) -> None:
    session_id, _ = new_session(database)
    with database.transaction() as tx:
        assert repos.take_session_use(tx, session_id)
        assert repos.take_session_use(tx, session_id)
    with database.transaction() as tx:
        row = tx.get(repos.SessionRow, session_id)
        assert row is not None and row.uses_left is None and row.use_count == 2


def test_prune_removes_only_sessions_expired_before_the_cutoff(database: Database) -> None:
    new_session(database, expires=NOW - timedelta(days=40))
    _, kept_key = new_session(database, expires=NOW - timedelta(days=5))
    with database.transaction() as tx:
        assert repos.delete_sessions_expired_before(tx, NOW - timedelta(days=30)) == 1
    with database.transaction() as tx:
        assert repos.find_session(tx, kept_key) is not None


def test_claim_is_once_per_key_and_a_dead_claim_is_taken_over(database: Database) -> None:
    key = repos.dedupe_key("abc@example", b"raw", "reply+x@reply.example.test")
    values = {"raw": b"raw", "received_at": NOW, "details": {}}
    lease = timedelta(minutes=10)
    with database.transaction() as tx:
        first = repos.claim_inbound(tx, key=key, now=NOW, lease=lease, values=values)
        assert first.claimed
    with database.transaction() as tx:
        again = repos.claim_inbound(tx, key=key, now=NOW, lease=lease, values=values)
        assert not again.claimed and again.inbound_id == first.inbound_id
        assert again.state == "processing"
    later = NOW + timedelta(minutes=11)
    with database.transaction() as tx:
        retry = repos.claim_inbound(tx, key=key, now=later, lease=lease, values=values)
        assert retry.claimed and retry.inbound_id == first.inbound_id
    with database.transaction() as tx:
        repos.finish_inbound(tx, first.inbound_id, status="done", outcome="dispatched")
    with database.transaction() as tx:
        done = repos.claim_inbound(
            tx, key=key, now=later + timedelta(hours=1), lease=lease, values=values
        )
        assert not done.claimed and done.state == "dispatched"


def test_dedupe_key_folds_case_and_falls_back_to_content() -> None:
    a = repos.dedupe_key("<ABC@x>".strip("<>"), b"1", "Reply+X@Y")
    assert a == repos.dedupe_key("abc@x", b"2", "reply+x@y")
    assert repos.dedupe_key(None, b"1", "a@b") != repos.dedupe_key(None, b"2", "a@b")


def test_bounce_score_adds_up_and_restarts_after_a_quiet_period(database: Database) -> None:
    quiet = timedelta(days=30)
    with database.transaction() as tx:
        assert (
            repos.add_bounce_score(tx, user_id=7, weight=1.0, hard=True, now=NOW, quiet=quiet)
            == 1.0
        )
        assert (
            repos.add_bounce_score(tx, user_id=7, weight=0.25, hard=False, now=NOW, quiet=quiet)
            == 1.25
        )
    with database.transaction() as tx:
        row = repos.get_bounce_score(tx, 7)
        assert row is not None and (row.score, row.hard_count, row.soft_count) == (1.25, 1, 1)
    with database.transaction() as tx:
        later = NOW + timedelta(days=31)
        assert (
            repos.add_bounce_score(tx, user_id=7, weight=1.0, hard=True, now=later, quiet=quiet)
            == 1.0
        )
    with database.transaction() as tx:
        row = repos.get_bounce_score(tx, 7)
        assert row is not None and (row.score, row.hard_count, row.soft_count) == (1.0, 1, 0)
        assert row.last_bounce_at == later


def test_concurrent_bounces_for_one_user_all_count(database: Database) -> None:
    def bounce() -> float:
        with database.transaction() as tx:
            return repos.add_bounce_score(
                tx, user_id=5, weight=1.0, hard=True, now=NOW, quiet=timedelta(days=30)
            )

    assert sorted(at_once(6, bounce)) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    with database.transaction() as tx:
        row = repos.get_bounce_score(tx, 5)
        assert row is not None and row.score == 6.0 and row.hard_count == 6


def test_suppression_is_recorded_once(database: Database) -> None:
    with database.transaction() as tx:
        assert repos.suppress_user(
            tx, user_id=7, address="a@b", reason="bounces", now=NOW, details={}
        )
        assert not repos.suppress_user(
            tx, user_id=7, address="a@b", reason="complaint", now=NOW, details={}
        )
        assert repos.is_suppressed(tx, 7) and not repos.is_suppressed(tx, 8)


def test_notice_throttle_counts_recent_sent_notices(database: Database) -> None:
    with database.transaction() as tx:
        for minutes, status in ((0, "sent"), (30, "sent"), (50, "throttled"), (120, "sent")):
            repos.add_notice(
                tx,
                to_address="Ada@Example.net",
                kind="empty_reply",
                now=NOW + timedelta(minutes=minutes),
                inbound_id=None,
                status=status,
                raw=b"x",
            )
    with database.transaction() as tx:
        since = NOW + timedelta(minutes=60)
        assert repos.count_notices_since(tx, "ada@example.net", since) == 1
        assert repos.count_notices_since(tx, "ada@example.net", NOW) == 3
