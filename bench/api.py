"""The HTTP API's lists with a million events, on SQLite and PostgreSQL in one run.

    uv run python bench/api.py [--events N] [--backend sqlite|postgresql|both] [--rounds R]

Seeds 4,000 emails of 50 recipients each (200,000 copies), and about ``--events`` events
(queued, sent, opens by people and machines, clicks, deferrals, bounces, replies...) spread
over 90 days and written in time order, as they would be. Then times, through the API itself
(the ASGI app in process: routing, bearer token check, query, JSON), the median of
``--rounds`` requests of each:

- the event list: first page, a page 200 pages deep (by its cursor), and filtered by type,
  type and time window, recipient, user and email;
- the email list: first page and 200 pages deep; one email with its recipients' timelines;
- ``/metrics`` (every count of the Prometheus scrape; a process's first scrape counts every
  event once, later ones only the new ones).

The peer, measured in the same run on the same data: the same deep page fetched the way a
list without a cursor would (``ORDER BY ... LIMIT 50 OFFSET 10000``); the ratio shows what the
keyset pages save. Target: every list request under 200 ms on both backends.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from postroom.access.tokens import Scope, create_token
from postroom.app import Postroom
from postroom.settings import ErrorMailSettings, Settings
from postroom.store import Database, open_database
from postroom.store.migrate import upgrade

START = datetime(2026, 8, 1, tzinfo=UTC)
EMAILS, PER_EMAIL, ADDRESSES = 5000, 50, 20000
TARGET_MS = 200.0


def _events_for(
    rng: random.Random, email_id: int, delivery_id: int, address: str, user: int, sent: datetime
) -> Iterator[tuple[Any, ...]]:
    """Events of one copy: (type, time, email, delivery, recipient, user, machine)."""
    yield ("queued", sent, email_id, delivery_id, address, user, None)
    roll = rng.random()
    if roll < 0.02:
        yield ("deferred", sent + timedelta(minutes=1), email_id, delivery_id, address, user, None)
    if roll < 0.03:
        yield ("failed", sent + timedelta(hours=1), email_id, delivery_id, address, user, None)
        return
    at = sent + timedelta(seconds=rng.randint(1, 120))
    yield ("sent", at, email_id, delivery_id, address, user, None)
    if rng.random() < 0.02:
        yield ("bounced", at + timedelta(minutes=5), email_id, delivery_id, address, user, None)
        return
    if rng.random() < 0.6:
        for _ in range(rng.randint(1, 4)):
            at += timedelta(minutes=rng.randint(1, 3000))
            machine = rng.random() < 0.3
            yield ("opened", at, email_id, delivery_id, address, user, machine)
    if rng.random() < 0.2:
        for _ in range(rng.randint(1, 3)):
            at += timedelta(minutes=rng.randint(1, 600))
            yield ("clicked", at, email_id, delivery_id, address, user, rng.random() < 0.1)
    if rng.random() < 0.03:
        yield ("replied", at + timedelta(hours=2), email_id, delivery_id, address, user, None)


def seed(database: Database, events_wanted: int) -> int:
    """Emails, copies and about ``events_wanted`` events; returns how many events."""
    rng = random.Random(1)
    now = START
    engine = database.engine
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (name, from_address, smtp_host, smtp_port, smtp_security, "
                "smtp_auth, envelope, limits, state, created_at, updated_at) VALUES "
                "('main', 'news@example.test', '127.0.0.1', 2525, 'none', 'none', 'account', "
                "'{}', '{}', :now, :now)"
            ),
            {"now": now},
        )
    scale = events_wanted / 1_000_000
    emails = max(10, int(EMAILS * scale))
    span = timedelta(days=90) / emails
    deliveries: list[dict[str, Any]] = []
    events: list[tuple[Any, ...]] = []
    email_rows = []
    delivery_id = 0
    for email_id in range(1, emails + 1):
        created = START + span * email_id
        email_rows.append(
            {
                "id": email_id,
                "account_id": 1,
                "token": f"t{email_id}",
                "created_at": created,
                "subject": f"Newsletter {email_id}",
                "message_id": f"e{email_id}@example.test",
                "recipients": PER_EMAIL,
                "options": "{}",
                "template": b"",
            }
        )
        for user in rng.sample(range(ADDRESSES), PER_EMAIL):
            delivery_id += 1
            address = f"reader{user}@example.test"
            deliveries.append(
                {
                    "id": delivery_id,
                    "email_id": email_id,
                    "account_id": 1,
                    "role": "to",
                    "address": address,
                    "user_id": user,
                    "message_id": f"c{delivery_id}@example.test",
                    "status": "sent",
                    "attempts": 1,
                    "next_attempt_at": created,
                    "created_at": created,
                    "sent_at": created,
                }
            )
            events.extend(_events_for(rng, email_id, delivery_id, address, user, created))
    events.sort(key=lambda e: e[1])  # written as they happen
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO emails (id, account_id, token, created_at, subject, message_id, "
                "recipients, options, template) VALUES (:id, :account_id, :token, :created_at, "
                ":subject, :message_id, :recipients, :options, :template)"
            ),
            email_rows,
        )
        for chunk in range(0, len(deliveries), 20000):
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, email_id, account_id, role, address, user_id, "
                    "message_id, status, attempts, next_attempt_at, created_at, sent_at) VALUES "
                    "(:id, :email_id, :account_id, :role, :address, :user_id, :message_id, "
                    ":status, :attempts, :next_attempt_at, :created_at, :sent_at)"
                ),
                deliveries[chunk : chunk + 20000],
            )
        keys = ("type", "occurred_at", "email_id", "delivery_id", "recipient", "user_id", "machine")
        for chunk in range(0, len(events), 20000):
            conn.execute(
                text(
                    "INSERT INTO events (type, occurred_at, email_id, delivery_id, recipient, "
                    "user_id, machine, data) VALUES (:type, :occurred_at, :email_id, "
                    ":delivery_id, :recipient, :user_id, :machine, '{}')"
                ),
                [dict(zip(keys, e, strict=True)) for e in events[chunk : chunk + 20000]],
            )
        if database.dialect == "postgresql":
            for table in ("emails", "deliveries", "events"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE"))
    return len(events)


def median_ms(call: Callable[[], Any], rounds: int) -> float:
    call()  # warm: the first request pays for the connection and the statement cache
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@contextmanager
def backend_url(name: str) -> Iterator[str]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
    else:
        from support.postgres import fresh_database

        with fresh_database() as url:
            yield url


def run(backend: str, events_wanted: int, rounds: int) -> list[tuple[str, float, str]]:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from postroom.web.api import build_api
    from postroom.web.metrics import build_metrics

    rows: list[tuple[str, float, str]] = []
    with backend_url(backend) as url:
        database = open_database(url)
        upgrade(database)
        started = time.perf_counter()
        count = seed(database, events_wanted)
        print(f"{backend}: seeded {count:,} events in {time.perf_counter() - started:.0f} s")
        settings = Settings(
            database_url=url,
            address_keys={1: b"k" * 32},
            error_mail=ErrorMailSettings(transport="none"),
        )
        room = Postroom(settings, database=database)
        token = create_token(database, "bench", frozenset({Scope.READ}), now=START).token
        app = Starlette(routes=[Mount("/api", build_api(room)), build_metrics(room)])
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})

        def get(path: str, **params: Any) -> dict[str, Any]:
            answer = client.get(path, params=params)
            assert answer.status_code == 200, answer.text
            return answer.json() if path != "/metrics" else {}

        def deep(path: str, pages: int, **params: Any) -> str:
            cursor = None
            for _ in range(pages):
                page = get(path, limit=50, **params, **({"cursor": cursor} if cursor else {}))
                if page["next_cursor"] is None:
                    break
                cursor = page["next_cursor"]
            assert cursor
            return str(cursor)

        started = time.perf_counter()
        get("/metrics")  # this process's first scrape: every event counted once
        first_scrape_ms = (time.perf_counter() - started) * 1000
        some = get("/api/events", type="opened", limit=1)["items"][0]
        cursor_200 = deep("/api/events", 200)
        email_cursor = deep("/api/emails", 60)
        checks: list[tuple[str, Callable[[], Any]]] = [
            ("events: first page", lambda: get("/api/events", limit=50)),
            ("events: 200 pages deep", lambda: get("/api/events", limit=50, cursor=cursor_200)),
            ("events: type=bounced", lambda: get("/api/events", type="bounced", limit=50)),
            ("events: type=opened", lambda: get("/api/events", type="opened", limit=50)),
            (
                "events: type=clicked, one week",
                lambda: get(
                    "/api/events",
                    type="clicked",
                    since="2026-09-01T00:00:00Z",
                    until="2026-09-08T00:00:00Z",
                    limit=50,
                ),
            ),
            ("events: recipient", lambda: get("/api/events", recipient=some["recipient"])),
            ("events: user", lambda: get("/api/events", user=some["user_id"])),
            ("events: email", lambda: get("/api/events", email=some["email_id"], limit=50)),
            ("emails: first page", lambda: get("/api/emails", limit=50)),
            ("emails: 60 pages deep", lambda: get("/api/emails", limit=50, cursor=email_cursor)),
            ("email with timelines", lambda: get(f"/api/emails/{some['email_id']}", limit=50)),
            ("/metrics", lambda: get("/metrics")),
        ]
        for name, call in checks:
            ms = median_ms(call, rounds)
            verdict = "" if name == "/metrics" else ("ok" if ms < TARGET_MS else "OVER")
            rows.append((name, ms, verdict))
        rows.append(("/metrics, a process's first scrape", first_scrape_ms, ""))
        # Half-way down the event list, the same page two ways, each one SQL statement.
        order = "ORDER BY occurred_at DESC, id DESC"
        middle = count // 2
        with database.engine.connect() as conn:
            at, last = conn.execute(
                text(f"SELECT occurred_at, id FROM events {order} LIMIT 1 OFFSET :n"),
                {"n": middle - 1},
            ).one()
            offset_sql = text(f"SELECT * FROM events {order} LIMIT 50 OFFSET :n")
            keyset_sql = text(
                "SELECT * FROM events WHERE occurred_at <= :t AND (occurred_at < :t OR id < :i) "
                f"{order} LIMIT 50"
            )
            offset_ms = median_ms(lambda: conn.execute(offset_sql, {"n": middle}).all(), rounds)
            keyset_ms = median_ms(
                lambda: conn.execute(keyset_sql, {"t": at, "i": last}).all(), rounds
            )
            same = (
                conn.execute(offset_sql, {"n": middle}).all()
                == conn.execute(keyset_sql, {"t": at, "i": last}).all()
            )
        assert same, "the keyset page differs from the OFFSET page"
        rows.append((f"page at row {middle:,} by cursor (SQL)", keyset_ms, ""))
        rows.append(
            (
                f"peer: same page by OFFSET {middle:,}",
                offset_ms,
                f"the cursor is {offset_ms / keyset_ms:.0f}x faster",
            )
        )
        client.close()
        room.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = {b: run(b, args.events, args.rounds) for b in backends}
    print(f"\n{'request':36}" + "".join(f"{b:>14}" for b in backends))
    names = [name for name, _, _ in results[backends[0]]]
    for index, name in enumerate(names):
        cells = "".join(f"{results[b][index][1]:>11.1f} ms" for b in backends)
        notes = "; ".join(f"{b}: {results[b][index][2]}" for b in backends if results[b][index][2])
        print(f"{name:36}{cells}   {notes}")


if __name__ == "__main__":
    main()
