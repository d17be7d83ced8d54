"""PostgreSQL stops in the middle of a load on `postroom serve` and starts again: every request
is answered with the pixel, no event is lost and none is recorded twice (the spool's replay is
exactly once, through `tracking_spool`).

The cluster is the test's own (initdb in a temp directory, a free loopback port): the shared
server other tests use is never stopped. Bounded: 4,000 requests from 8 client threads, with
checkpoints so the outage falls inside the load whatever the machine's speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from postroom.store import open_database
from postroom.store.migrate import upgrade
from postroom.store.models import EventRow, TrackingSpoolRow
from postroom.tracking import TokenCodec
from postroom.tracking.endpoints import PIXEL
from support.postgres import PrivateCluster, private_cluster
from support.tracking import Load, Serve, seed_copies

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REQUESTS = 4000
TAMPERED_EVERY = 10  # every 10th request carries a tampered token: answered, not recorded


@pytest.fixture
def private_pg() -> Iterator[PrivateCluster]:
    with private_cluster() as cluster:
        yield cluster


def wait_for(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def test_postgresql_down_mid_load_loses_nothing_and_doubles_nothing(
    tmp_path: Path, private_pg: PrivateCluster
) -> None:
    database = open_database(private_pg.url)
    upgrade(database)
    serve = Serve(tmp_path, private_pg.url)
    room = serve.room()
    _, ids = seed_copies(database, REQUESTS)
    codec = TokenCodec(room.codec_keyring())
    paths, valid = [], set()
    for n, delivery in enumerate(ids):
        token = codec.encode_open(delivery)
        if n % TAMPERED_EVERY == TAMPERED_EVERY - 1:
            token = token[:-1] + ("A" if token[-1] != "A" else "B")
        else:
            valid.add(delivery)
        paths.append(f"/t/o/{token}.gif")

    # Checkpoints: the second half waits until the sink has spooled (the outage reached
    # it), the last quarter until PostgreSQL is back.
    outage_seen, back = threading.Event(), threading.Event()
    load = Load(serve.port, paths, gates=[(REQUESTS // 2, outage_seen), (REQUESTS * 3 // 4, back)])
    serve.start()
    try:
        load.start()
        load.wait_answered(REQUESTS // 4)
        private_pg.stop()  # -m fast: sessions terminated, the load goes on
        wait_for(lambda: any(serve.spool.glob("*.hits")), "a spooled batch")
        outage_seen.set()
        load.wait_answered(REQUESTS * 3 // 4)  # the third quarter, all while it is down
        private_pg.start()
        back.set()
        load.join()
        assert serve.stop() == 0
    finally:
        outage_seen.set()
        back.set()
        serve.close()

    assert load.failures == {}
    assert len(load.answers) == REQUESTS
    assert all(status == 200 and body == PIXEL for status, body, _ in load.answers.values())
    line = serve.stopped_line()
    assert f"the sink received {len(valid)} hits, {len(valid)} events recorded" in line, line
    assert " 0 spooled" not in line, line  # the outage did reach the sink
    spooled = int(line.split(" spooled")[0].rsplit(" ", 1)[1])
    assert f"{spooled} replayed" in line, line
    assert not list(serve.spool.glob("*.hits"))  # every spooled batch replayed and removed

    with database.connect() as conn:
        recorded = [
            int(row[0])
            for row in conn.execute(select(EventRow.delivery_id).where(EventRow.type == "opened"))
        ]
        marks = conn.execute(select(func.count()).select_from(TrackingSpoolRow)).scalar_one()
    database.dispose()
    assert len(recorded) == len(set(recorded)), "an event was recorded twice"
    assert set(recorded) == valid, "an event was lost (or one of a tampered token recorded)"
    assert marks >= 1  # the replayed batches are marked, so none is replayed again
