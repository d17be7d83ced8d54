"""The event sink in process: events written exactly once whatever the database does (down,
back, a commit whose answer is lost), and the request-shape cache judging as the rules do."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from conftest import make_settings
from postroom.errors import StoreUnavailable
from postroom.settings import TrackingSettings
from postroom.store import Database
from postroom.store.models import EventRow, TrackingSpoolRow
from postroom.tracking.hits import Hit, encode_hit, parse_hit
from postroom.tracking.sink import EventSink, EventWriter
from postroom.tracking.spool import Spool
from support.tracking import seed_copies

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


class FlakyWriter(EventWriter):
    """Fails as a database outage does: ``down`` refuses before writing; ``lost_answer``
    commits, then raises as if the answer to COMMIT was lost with the connection."""

    down = False
    lost_answer = False

    def write(
        self, hits: Sequence[Hit], *, name: str | None = None, forget: Sequence[str] = ()
    ) -> tuple[int, int]:
        if self.down:
            raise StoreUnavailable("database unavailable: connection refused")
        done = super().write(hits, name=name, forget=forget)
        if self.lost_answer:
            self.lost_answer = False
            raise StoreUnavailable("database connection lost: server closed the connection")
        return done


def lines(ids: Sequence[int], agent: str = FIREFOX) -> list[str]:
    now = time.time_ns()
    return [encode_hit("o", i, None, now + n, "GET", "192.0.2.7", agent) for n, i in enumerate(ids)]


def opened(database: Database) -> list[int]:
    with database.connect() as conn:
        return [int(r[0]) for r in conn.execute(select(EventRow.delivery_id).order_by("id"))]


def marks(database: Database) -> int:
    with database.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TrackingSpoolRow)).scalar_one())


def test_a_commit_whose_answer_is_lost_is_not_replayed_twice(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url).tracking
    writer = FlakyWriter(database, settings)
    sink = EventSink(writer, Spool(tmp_path / "spool"), retry=0.0)
    _, ids = seed_copies(database, 30)
    writer.lost_answer = True
    sink.add_lines(lines(ids[:10]))
    sink.flush()  # committed, but the sink cannot know: spooled under the batch's name
    assert sink.stats.spooled == 10 and len(sink.spool.names()) == 1
    sink.add_lines(lines(ids[10:20]))
    sink.flush()  # the replay finds the name: nothing written twice, the file removed
    assert sink.spool.names() == []
    assert opened(database) == ids[:20]
    writer.down = True
    sink.add_lines(lines(ids[20:]))
    sink.flush()
    writer.down = False
    sink.flush(final=True)
    assert opened(database) == ids
    assert sink.stats.recorded == 30 and sink.stats.replayed == 20  # the lost answer counted once
    # Marks of batches written straight away go with the next write; the replayed ones stay.
    sink.add_lines(lines(ids[:1]))
    sink.flush()
    assert marks(database) == 3


def test_the_request_shape_cache_judges_as_the_rules_do(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url).tracking
    cached = EventWriter(database, settings)
    _, ids = seed_copies(database, 4, sent_at=datetime.now(UTC) - timedelta(hours=1))
    _, fresh = seed_copies(database, 2, sent_at=datetime.now(UTC))
    agents = [FIREFOX, "", "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy.html"]
    hits = [parse_hit(line) for agent in agents for line in lines([*ids, *fresh], agent)]
    assert all(hit is not None for hit in hits)
    with database.connect() as conn:
        first = cached.rows(conn, [h for h in hits if h is not None])
        again = cached.rows(conn, [h for h in hits if h is not None])  # from the cache
        uncached = EventWriter(database, TrackingSettings(spool_dir=str(tmp_path)))
        plain = uncached.rows(conn, [h for h in hits if h is not None])
    assert first == again == plain
    labels = {(row[3], row[9].split('"label": "')[1].split('"')[0]) for row in first}
    assert (ids[0], "human") in labels and (fresh[0], "scanner") in labels
    assert (ids[0], "other_proxy") in labels


def test_hits_of_unknown_and_untracked_copies_are_skipped(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url).tracking
    sink = EventSink(EventWriter(database, settings), Spool(tmp_path / "spool"))
    _, tracked = seed_copies(database, 2)
    _, untracked = seed_copies(database, 2, opens=False)
    sink.add_lines(lines([*tracked, *untracked, 10**9]))
    sink.flush()
    assert opened(database) == tracked
    assert (sink.stats.recorded, sink.stats.skipped) == (2, 3)
