"""``/api/events``: newest first by time then id, every page one keyset range, each event
exactly once however the pages fall, and every filter at once."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.store import repos
from web.conftest import problem, unique_address

BASE = datetime(2026, 6, 1, tzinfo=UTC)


def seed(room: Postroom, recipient: str, count: int, *, email_id: int, user: int) -> None:
    """``count`` events for ``recipient``, two at each instant (ties broken by id), opens
    every third one with the human/machine judgement set."""
    with room.database.transaction() as tx:
        for n in range(count):
            kind = "opened" if n % 3 == 0 else "sent"
            repos.add_event(
                tx,
                type=kind,
                occurred_at=BASE + timedelta(minutes=n // 2),
                email_id=email_id,
                delivery_id=email_id * 1000 + n,
                recipient=recipient,
                user_id=user,
                machine=(n % 2 == 0) if kind == "opened" else None,
                data={"n": n},
            )


def walk(client: TestClient, headers: dict[str, str], url: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    while url:
        page = client.get(url, headers=headers).json()
        items += page["items"]
        url = page["next"]
    return items


def test_pages_give_every_event_once_newest_first(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    read = auth("read")  # type: ignore[operator]
    who = unique_address("pages")
    email_id = secrets.randbelow(10**9) + 10**6
    seed(api_room, who, 23, email_id=email_id, user=77)
    items = walk(client, read, f"/api/events?recipient={who}&limit=4")
    assert [item["data"] for item in items] == [{"n": n} for n in range(22, -1, -1)]
    keys = [(item["occurred_at"], item["id"]) for item in items]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 23

    opened = walk(client, read, f"/api/events?recipient={who}&type=opened&limit=3")
    assert [e["data"]["n"] for e in opened] == [21, 18, 15, 12, 9, 6, 3, 0]  # type: ignore[index]
    assert [e["machine"] for e in opened] == [False, True, False, True, False, True, False, True]

    window = walk(
        client,
        read,
        f"/api/events?email={email_id}&since=2026-06-01T00:03:00Z"
        "&until=2026-06-01T00:06:00%2B00:00&limit=2",
    )
    assert [e["data"]["n"] for e in window] == [11, 10, 9, 8, 7, 6]  # type: ignore[index]
    by_user = client.get("/api/events", headers=read, params={"user": 77, "email": email_id})
    assert len(by_user.json()["items"]) == 23
    one = client.get(f"/api/events/{items[0]['id']}", headers=read).json()
    assert one == items[0]
    problem(client.get("/api/events/987654321", headers=read), 404, "not-found")


def test_the_recipient_filter_ignores_case_and_filters_combine(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    read = auth("read")  # type: ignore[operator]
    who = unique_address("Case")
    seed(api_room, who.lower(), 4, email_id=secrets.randbelow(10**9) + 10**6, user=5)
    assert (
        len(
            client.get("/api/events", headers=read, params={"recipient": who.upper()}).json()[
                "items"
            ]
        )
        == 4
    )
    nothing = client.get(
        "/api/events", headers=read, params={"recipient": who, "type": "bounced"}
    ).json()
    assert nothing == {"items": [], "next_cursor": None, "next": None}


def test_bad_filters_are_named(client: TestClient, auth: object) -> None:
    read = auth("read")  # type: ignore[operator]
    bad_type = client.get("/api/events", headers=read, params={"type": "exploded"})
    body = problem(bad_type, 422, "invalid-field")
    assert body["field"] == "type" and "opened" in str(body["detail"])
    naive = client.get("/api/events", headers=read, params={"since": "2026-06-01T00:00:00"})
    assert problem(naive, 422, "invalid-field")["field"] == "since"
    twice = client.get("/api/events?limit=1&limit=2", headers=read)
    assert "more than once" in str(problem(twice, 422, "invalid-field")["detail"])
    big = client.get("/api/events", headers=read, params={"limit": 501})
    assert problem(big, 422, "invalid-field")["field"] == "limit"
