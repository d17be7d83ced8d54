"""The tracking endpoints in process: the pixel for every token, clicks that redirect only to
the recorded URL (no open redirect), RFC 8058 one-click unsubscribe as Gmail performs it, and
the event sink writing exactly the hits of valid tokens."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from conftest import make_settings
from postroom.addresses import Keyring
from postroom.app import Postroom
from postroom.store.models import EventRow, SuppressionRow
from postroom.tracking import TokenCodec
from postroom.tracking.endpoints import PIXEL
from postroom.tracking.sink import EventSink, EventWriter, ThreadSink
from postroom.tracking.spool import Spool
from postroom.web.app import build_app
from support.tracking import seed_copies

TARGET = "https://example.org/page?a=1"


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[tuple[Postroom, ThreadSink, TestClient]]:
    from postroom.store import open_database
    from postroom.store.migrate import upgrade

    database = open_database(database_url)
    upgrade(database)
    settings = make_settings(database_url)
    settings = settings.clone(
        tracking=settings.tracking.__class__(spool_dir=str(tmp_path / "spool"))
    )
    room = Postroom(settings, database=database)
    sink = ThreadSink(
        EventSink(EventWriter(database, settings.tracking), Spool(tmp_path / "spool"))
    )
    with TestClient(build_app(room, recorder=sink)) as client:
        yield room, sink, client
    database.dispose()


def events(room: Postroom) -> list[EventRow]:
    with room.database.transaction() as tx:
        return list(tx.scalars(select(EventRow).order_by(EventRow.id)))


def test_pixel_for_every_token_and_only_valid_ones_recorded(setup) -> None:  # type: ignore[no-untyped-def]
    room, sink, client = setup
    _, ids = seed_copies(room.database, 3)
    codec = TokenCodec(room.codec_keyring())
    good = codec.encode_open(ids[0])
    for token in (good, good[:-1] + ("A" if good[-1] != "A" else "B"), "nonsense", good[:10]):
        answer = client.get(f"/t/o/{token}.gif", headers={"User-Agent": "Thunderbird/128.0"})
        assert answer.status_code == 200
        assert answer.content == PIXEL and len(PIXEL) == 43
        assert answer.headers["cache-control"] == "no-store, max-age=0"
        assert answer.headers["content-type"] == "image/gif"
    sink.flush()
    recorded = events(room)
    assert [(e.type, e.delivery_id) for e in recorded] == [("opened", ids[0])]
    assert recorded[0].data["agent"] == "Thunderbird/128.0"
    assert recorded[0].machine is False and recorded[0].data["label"] == "human"


def test_click_goes_only_to_the_recorded_url(setup) -> None:  # type: ignore[no-untyped-def]
    room, sink, client = setup
    _, ids = seed_copies(room.database, 2, urls=[TARGET])
    codec = TokenCodec(room.codec_keyring())
    token = codec.encode_click(ids[0], 0)
    answer = client.get(
        f"/t/c/{token}?url=https://evil.example&next=//evil.example", follow_redirects=False
    )
    assert answer.status_code == 302
    assert answer.headers["location"] == TARGET
    other_key = TokenCodec(Keyring.from_secrets({1: secrets.token_bytes(32)}, 1))
    expired = codec.encode_click(ids[0], 0, expires=datetime.now(UTC) - timedelta(days=1))
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    flipped = base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode().rstrip("=")
    hostile = [
        token[:-1],  # truncated
        flipped,  # tampered tag
        other_key.encode_click(ids[0], 0),  # re-signed with another key
        expired,
        codec.encode_click(ids[0], 5),  # a link the email does not have
        codec.encode_open(ids[0]),  # another kind
        f"{token}%2F%2Fevil.example",
        f"{token}\\evil.example",
        f"%2F%2Fevil.example/{token}",
        "https:%2F%2Fevil.example",
        f"{token}/../../evil",
    ]
    for bad in hostile:
        refused = client.get(f"/t/c/{bad}", follow_redirects=False)
        assert refused.status_code == 404, bad
        assert "location" not in refused.headers
    sink.flush()
    assert [(e.type, e.delivery_id) for e in events(room)] == [("clicked", ids[0])]


def test_one_click_unsubscribe_as_gmail_posts_it(setup) -> None:  # type: ignore[no-untyped-def]
    room, _sink, client = setup
    _, ids = seed_copies(room.database, 2)
    token = TokenCodec(room.codec_keyring()).encode_unsubscribe(ids[0])
    page = client.get(f"/t/u/{token}")
    assert page.status_code == 200 and 'value="One-Click"' in page.text
    with room.database.transaction() as tx:  # a GET (a scanner) unsubscribes nobody
        assert tx.scalars(select(SuppressionRow)).first() is None
    client.cookies.clear()
    done = client.post(
        f"/t/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert done.status_code == 200 and "set-cookie" not in done.headers
    with room.database.transaction() as tx:
        [row] = tx.scalars(select(SuppressionRow)).all()
        assert row.reason == "unsubscribe" and row.address == f"reader{ids[0]}@example.net"
    assert [e.type for e in events(room)] == ["unsubscribed"]
    wrong = client.post(f"/t/u/{token}", content=b"List-Unsubscribe=Yes")
    assert wrong.status_code == 400
    multipart = client.post(
        f"/t/u/{TokenCodec(room.codec_keyring()).encode_unsubscribe(ids[1])}",
        files={"List-Unsubscribe": (None, "One-Click")},
    )
    assert multipart.status_code == 200
    assert client.post("/t/u/forged", content=b"List-Unsubscribe=One-Click").status_code == 404
