"""The dashboard's pages with a million events, on SQLite and PostgreSQL in one run.

    uv run python bench/dashboard.py [--events N] [--backend sqlite|postgresql|both] [--rounds R]

Seeds the data of bench/api.py (5,000 emails of 50 recipients, about ``--events`` events over
90 days, written in time order), logs in as an operator, then times the median of
``--rounds`` requests of each page through the dashboard itself (the ASGI app in process:
routing, the session cookie check, queries, the Jinja2 render of the whole HTML page):

- the email list: first page, 60 pages deep (by its cursor), a search by address and by
  Message-ID; one email with its recipients' timelines;
- the event list: first page, 200 pages deep, filtered by type and by recipient;
- the opens/clicks/bounces page (30 days of aggregates; no target, shown for what it costs).

The peer, measured in the same run on the same data: the JSON API's answer for the same list
(``/api/emails``, ``/api/events``, same page size), so the ratio is what rendering HTML adds
to the same queries. Target: the email and event lists under 200 ms on both backends.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from api import START, backend_url, median_ms, seed  # bench/api.py
from postroom.access.tokens import Scope, create_token
from postroom.access.users import add_user
from postroom.app import Postroom
from postroom.settings import ErrorMailSettings, Settings
from postroom.store import open_database
from postroom.store.migrate import upgrade

TARGET_MS = 200.0
PASSWORD = "a bench password of some length"


def run(backend: str, events_wanted: int, rounds: int) -> list[tuple[str, float, str]]:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from postroom.web.api import build_api
    from postroom.web.dashboard import dashboard_routes

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
        add_user(database, "bench", PASSWORD, now=room.clock())
        token = create_token(database, "bench", frozenset({Scope.READ}), now=START).token
        app = Starlette(routes=[Mount("/api", build_api(room)), *dashboard_routes(room)])
        client = TestClient(app, follow_redirects=False)
        form = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        login = client.post(
            "/login", data={"username": "bench", "password": PASSWORD, "csrf": csrf}
        )
        assert login.status_code == 303, login.text
        api_headers = {"Authorization": f"Bearer {token}"}

        def page(path: str, **params: Any) -> str:
            answer = client.get(path, params=params)
            assert answer.status_code == 200, (path, answer.text[:500])
            return answer.text

        def api(path: str, **params: Any) -> dict[str, Any]:
            answer = client.get(path, params=params, headers=api_headers)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        def deep(path: str, pages: int) -> str:
            cursor = None
            for _ in range(pages):  # fewer when a small seed has fewer pages
                found = api(path, limit=50, **({"cursor": cursor} if cursor else {}))
                if found["next_cursor"] is None:
                    break
                cursor = found["next_cursor"]
            assert cursor, f"{path} has a single page"
            return str(cursor)

        some = api("/api/events", type="opened", limit=1)["items"][0]
        email = api(f"/api/emails/{some['email_id']}", limit=1)
        message_id = email["copies"][0]["message_id"]
        events_deep = deep("/api/events", 200)  # the API's cursors are the dashboard's too
        emails_deep = deep("/api/emails", 60)
        checks: list[tuple[str, Any, Any]] = [
            ("emails: first page", lambda: page("/emails"), lambda: api("/api/emails", limit=50)),
            (
                "emails: 60 pages deep",
                lambda: page("/emails", cursor=emails_deep),
                lambda: api("/api/emails", limit=50, cursor=emails_deep),
            ),
            (
                "emails: search by address",
                lambda: page("/emails", q=some["recipient"]),
                lambda: api("/api/emails", recipient=some["recipient"], limit=50),
            ),
            ("emails: search by Message-ID", lambda: page("/emails", q=message_id), None),
            (
                "email with timelines",
                lambda: page(f"/emails/{some['email_id']}"),
                lambda: api(f"/api/emails/{some['email_id']}", limit=50),
            ),
            ("events: first page", lambda: page("/events"), lambda: api("/api/events", limit=50)),
            (
                "events: 200 pages deep",
                lambda: page("/events", cursor=events_deep),
                lambda: api("/api/events", limit=50, cursor=events_deep),
            ),
            (
                "events: type=opened",
                lambda: page("/events", type="opened"),
                lambda: api("/api/events", type="opened", limit=50),
            ),
            (
                "events: recipient",
                lambda: page("/events", recipient=some["recipient"]),
                lambda: api("/api/events", recipient=some["recipient"], limit=50),
            ),
            ("stats: 30 days", lambda: page("/stats"), None),
        ]
        for name, call, peer in checks:
            ms = median_ms(call, rounds)
            note = ""
            if peer is not None:
                peer_ms = median_ms(peer, rounds)
                note = f"API {peer_ms:.1f} ms, HTML {ms / peer_ms:.2f}x"
            if name.startswith(("emails", "events")):
                note = ("ok" if ms < TARGET_MS else "OVER") + (f"; {note}" if note else "")
            rows.append((name, ms, note))
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
    print(f"\n{'page':32}" + "".join(f"{b:>14}" for b in backends))
    for index, (name, _, _) in enumerate(results[backends[0]]):
        cells = "".join(f"{results[b][index][1]:>11.1f} ms" for b in backends)
        notes = "; ".join(f"{b}: {results[b][index][2]}" for b in backends if results[b][index][2])
        print(f"{name:32}{cells}   {notes}")


if __name__ == "__main__":
    main()
