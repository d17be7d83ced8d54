"""`postroom serve` SIGKILLed under load (the serving process with the sink and its workers,
all at once): what is lost is what arrived since the sink's last write began, nothing older.

The sink takes what has arrived and writes it every `flush_interval_ms`, starting the next
write early by the time the last one took, so at a kill the hits not yet committed are those
of the write in progress and of the time since it began: one interval's worth. The bounds,
stated per hit and in count:

- nothing older than the last write is lost: every hit the client saw answered before the
  newest recorded hit arrived (less a few ms for the two workers' lines reaching the sink
  in a different order) is recorded;
- the loss is at most what the client saw answered in the last interval and one write
  before the kill, the write allowed up to an interval (a sink that keeps up writes an
  interval's hits in less than an interval; at the test's rate it takes a few tens of ms);
- nothing is recorded twice, and nothing the client did not send.

Bounded: at most 20,000 requests from 8 client threads, killed after 4,000 answers.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from postroom.store import open_database
from postroom.store.migrate import upgrade
from postroom.store.models import EventRow
from postroom.tracking import TokenCodec
from postroom.tracking.endpoints import PIXEL
from support.tracking import Load, Serve, seed_copies

pytestmark = pytest.mark.slow

REQUESTS = 20_000
KILL_AFTER = 4_000
INTERVAL_MS = 250  # the configured flush interval
REORDER = 0.02  # seconds: lines of two workers may reach the sink in another order


def test_sigkill_under_load_loses_at_most_the_batch_being_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'postroom.db'}"
    database = open_database(url)
    upgrade(database)
    serve = Serve(tmp_path, url, flush_interval_ms=INTERVAL_MS)
    _, ids = seed_copies(database, REQUESTS)
    codec = TokenCodec(serve.room().codec_keyring())
    paths = [f"/t/o/{codec.encode_open(i)}.gif" for i in ids]
    load = Load(serve.port, paths)
    serve.start()
    try:
        load.start()
        load.wait_answered(KILL_AFTER)
        killed_at = time.monotonic()
        serve.stop(signal.SIGKILL)
        load.join()
    finally:
        serve.close()

    with database.connect() as conn:
        rows = conn.execute(select(EventRow.delivery_id, EventRow.occurred_at)).all()
    database.dispose()
    recorded = [int(row[0]) for row in rows]
    assert len(recorded) == len(set(recorded)), "an event was recorded twice"
    newest = max(row[1] for row in rows).timestamp()  # when the last written hit arrived

    assert all(status == 200 and body == PIXEL for status, body, _ in load.answers.values())
    answered = {ids[i]: at for i, (_, _, at) in load.answers.items()}
    in_flight = {ids[i] for i in load.failures}  # sent, the answer cut off by the kill
    assert len(in_flight) <= load.threads
    assert set(recorded) <= set(answered) | in_flight, "an event of a request never sent"

    kept = set(recorded)
    lost = {delivery: at for delivery, at in answered.items() if delivery not in kept}
    to_wall = time.time() - time.monotonic()
    older = [d for d, at in lost.items() if at + to_wall < newest - REORDER]
    assert not older, f"{len(older)} hits lost that arrived before the last write:\n" + (
        serve.log.read_text()
    )
    window = 2 * INTERVAL_MS / 1000
    late = sum(1 for at in answered.values() if killed_at - at <= window)
    assert len(lost) <= late, serve.log.read_text()
    rate = len(answered) / (killed_at - min(answered.values()))
    oldest = max((killed_at - at for at in lost.values()), default=0.0)
    print(
        f"killed after {len(answered)} answers ({rate:.0f}/s): {len(recorded)} recorded, "
        f"{len(lost)} lost = {len(lost) / rate * 1000:.0f} ms of hits, the oldest answered "
        f"{oldest * 1000:.0f} ms before the kill (flush interval {INTERVAL_MS} ms)"
    )
