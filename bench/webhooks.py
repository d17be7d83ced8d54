"""Webhook fan-out bench: how fast new events become messages (and their delivery jobs) for
one endpoint, on a fresh SQLite file or a PostgreSQL URL. Prints messages per second.

    uv run python bench/webhooks.py [--events N] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from postroom.app import Postroom
from postroom.settings import Settings
from postroom.store import open_database
from postroom.store import webhooks as store
from postroom.store.migrate import upgrade
from postroom.webhooks.delivery import fan_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    options = parser.parse_args()
    url = options.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    database = open_database(url)
    upgrade(database)
    now = datetime.now(UTC)
    settings = Settings(
        database_url=url, address_keys={1: secrets.token_bytes(32)}, signing_key_id=1
    )
    room = Postroom(settings, database=database, clock=lambda: now)
    room.webhooks.add("http://127.0.0.1:9/bench")
    with database.transaction() as tx:
        for n in range(options.events):
            store.add_event(tx, type="opened", now=now, data={"label": "human", "n": n})
    started = time.perf_counter()
    queued = fan_out(room)
    elapsed = time.perf_counter() - started
    assert queued == options.events, queued
    backend = url.split(":")[0]
    print(f"{queued} messages in {elapsed:.2f} s: {queued / elapsed:,.0f} messages/s ({backend})")
    database.dispose()


if __name__ == "__main__":
    main()
