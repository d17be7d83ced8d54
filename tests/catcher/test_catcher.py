"""The local mail catcher on each backend: copies sent through the catcher account land in
each recipient's inbox; replying and bouncing as the recipient go through the inbound
pipeline; opening and clicking fetch the tracked URLs (and say so when nothing answers)."""

from __future__ import annotations

import http.server
import secrets
import smtplib
import socket
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from postroom.app import Postroom
from postroom.catcher import Catcher, actions, ensure_account
from postroom.catcher.mail import parse, tracked_urls
from postroom.compose import Email, Recipient, ReplyTo
from postroom.errors import CatcherError
from postroom.inbound.types import Reply
from postroom.outbound.types import Timeouts
from postroom.store import catcher as store


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Tracker(http.server.BaseHTTPRequestHandler):
    """A stand-in for the tracking endpoints: records each request's path and agent."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        Tracker.seen.append((self.path, self.headers.get("User-Agent", "")))
        if self.path.startswith("/t/c/"):
            self.send_response(302)
            self.send_header("Location", "https://example.org/landing")
        else:
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tracker() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tracker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Tracker.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def caught_room(room: Postroom, tracker: str) -> Iterator[tuple[Postroom, Catcher]]:
    settings = room.settings.clone(
        account_keys={1: secrets.token_bytes(32)},
        tracking=room.settings.tracking.__class__(base_url=tracker),
    )
    room.configure(settings)
    catcher = Catcher(room, "127.0.0.1", free_port())
    with catcher:
        yield room, catcher


def send_one(room: Postroom, to: list[str]) -> int:
    result = room.send(
        Email(
            account="catcher",
            to=[Recipient(address, user=number) for number, address in enumerate(to, 40)],
            subject="New post in <Topic>",
            text="Hello, a new post: https://example.org/post/1",
            html='<p>Hello, <a href="https://example.org/post/1">read the post</a></p>',
            reply=ReplyTo("forum", data={"topic": 7}),
        )
    )
    room.worker(concurrency=1, timeouts=Timeouts.uniform(5)).drain(timeout=30)
    return result.email_id


def test_smtp_mail_is_kept_once_per_recipient(caught_room: tuple[Postroom, Catcher]) -> None:
    room, catcher = caught_room
    with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as smtp:
        refused = smtp.sendmail(
            "app@example.test",
            ["Ada@Example.net", "bob@example.net"],
            b"From: app@example.test\r\nSubject: Hi\r\nMessage-ID: <m1@example.test>\r\n\r\nhi\r\n",
        )
    assert refused == {}
    with room.database.transaction() as tx:
        boxes = {box.recipient: box.messages for box in store.inboxes(tx)}
        page = store.caught_page(tx, recipient="ada@example.net", start=None, limit=10)
    assert boxes == {"ada@example.net": 1, "bob@example.net": 1}
    [message] = page.items
    assert (message.subject, message.message_id) == ("Hi", "<m1@example.test>")
    assert message.mail_from == "app@example.test"


def test_a_taken_port_is_named(caught_room: tuple[Postroom, Catcher]) -> None:
    room, catcher = caught_room
    with pytest.raises(CatcherError, match="in use"):
        Catcher(room, catcher.host, catcher.port).start()


def test_send_reply_and_bounce_as_the_recipient(
    caught_room: tuple[Postroom, Catcher], received: list[Reply]
) -> None:
    room, catcher = caught_room
    assert ensure_account(room, catcher.host, catcher.port) is not None
    assert ensure_account(room, catcher.host, catcher.port) is None  # once only
    email_id = send_one(room, ["ada@example.net", "bob@example.net"])
    assert {c.status for c in room.email(email_id).copies} == {"sent"}
    with room.database.transaction() as tx:
        [ada] = store.caught_page(tx, recipient="ada@example.net", start=None, limit=5).items
        [bob] = store.caught_page(tx, recipient="bob@example.net", start=None, limit=5).items

    replied = actions.reply_message(room, ada.id, "Count me in!")
    assert replied.details["outcome"] == "dispatched", replied.summary
    [reply] = received
    assert reply.text == "Count me in!"
    assert reply.session_data == {"topic": 7}
    assert "wrote:" in (reply.quoted or "")

    bounced = actions.bounce_message(room, bob.id, hard=True)
    assert bounced.details["outcome"] == "bounce_recorded", bounced.summary
    [event] = room.events(type="bounced")
    assert event.recipient == "bob@example.net"
    with room.database.transaction() as tx:
        kept = store.get_caught(tx, bob.id)
    assert kept is not None and [a["action"] for a in kept.actions] == ["bounce"]


def test_open_and_click_fetch_the_tracked_urls(caught_room: tuple[Postroom, Catcher]) -> None:
    room, catcher = caught_room
    ensure_account(room, catcher.host, catcher.port)
    send_one(room, ["cy@example.net"])
    with room.database.transaction() as tx:
        [cy] = store.caught_page(tx, recipient="cy@example.net", start=None, limit=5).items
        full = store.get_caught(tx, cy.id)
    assert full is not None and full.raw is not None
    urls = tracked_urls(parse(full.raw), room.settings.tracking.base_url)
    assert urls.pixel is not None and len(urls.links) == 1

    opened = actions.open_message(room, cy.id, client="person")
    prefetched = actions.open_message(room, cy.id, client="apple_prefetch")
    clicked = actions.click_link(room, cy.id, 0)
    assert "200" in opened.summary and "200" in prefetched.summary
    assert clicked.details["location"] == "https://example.org/landing"
    agents = [agent for _, agent in Tracker.seen]
    assert agents == [actions.PERSON_AGENT, actions.APPLE_PREFETCH_AGENT, actions.PERSON_AGENT]
    assert [path[:5] for path, _ in Tracker.seen] == ["/t/o/", "/t/o/", "/t/c/"]
    with pytest.raises(CatcherError, match="no #3"):
        actions.click_link(room, cy.id, 3)


def test_an_unreachable_pixel_is_an_error_the_user_sees(
    caught_room: tuple[Postroom, Catcher],
) -> None:
    room, catcher = caught_room
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    room.configure(room.settings.clone(tracking=room.settings.tracking.__class__(base_url=dead)))
    ensure_account(room, catcher.host, catcher.port)
    send_one(room, ["di@example.net"])
    with room.database.transaction() as tx:
        [di] = store.caught_page(tx, recipient="di@example.net", start=None, limit=5).items
    with pytest.raises(CatcherError, match=r"could not fetch .* Is `postroom serve` running"):
        actions.open_message(room, di.id)
    with room.database.transaction() as tx:
        kept = store.get_caught(tx, di.id)
    assert kept is not None
    [failed] = kept.actions
    assert failed["action"] == "open" and failed["ok"] is False


def test_no_message_no_action(room: Postroom) -> None:
    with pytest.raises(CatcherError, match="no message #999"):
        actions.reply_message(room, 999, "hi")


def test_a_soft_bounce_is_a_delay(caught_room: tuple[Postroom, Catcher]) -> None:
    room, catcher = caught_room
    ensure_account(room, catcher.host, catcher.port)
    send_one(room, ["ed@example.net"])
    with room.database.transaction() as tx:
        [ed] = store.caught_page(tx, recipient="ed@example.net", start=None, limit=5).items
    delayed = actions.bounce_message(room, ed.id, hard=False)
    assert delayed.details["outcome"] == "delay_recorded", delayed.summary
    assert room.events(type="deferred")
    assert not room.events(type="bounced")


def test_the_dsn_is_read_as_a_hard_bounce_of_the_copy() -> None:
    from datetime import UTC, datetime

    from postroom.catcher.mail import HARD, delivery_status_notification
    from postroom.understand.bounces import classify_message

    raw = b"From: a@example.test\r\nMessage-ID: <c1@example.test>\r\nSubject: s\r\n\r\nbody\r\n"
    now = datetime(2026, 12, 4, tzinfo=UTC)
    dsn = delivery_status_notification(
        raw,
        recipient="zed@example.net",
        return_path="bounce+x@reply.example.test",
        kind=HARD,
        arrived=now,
        now=now,
        reporting_mta="catcher.localhost",
    )
    result = classify_message(parse(dsn))
    assert result.is_bounce and result.original_message_id == "c1@example.test"
    [failed] = result.recipients
    assert (failed.address, failed.status, failed.hard) == ("zed@example.net", "5.1.1", True)
