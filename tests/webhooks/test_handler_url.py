"""A module served by a URL: the verified, extracted reply POSTed signed to a real HTTP server
on loopback, on SQLite and PostgreSQL. A 2xx accepts it; a JSON rejection sends the sender the
explanation by email (through a real SMTP server on loopback); a failure keeps the message and
the queue replays it, with the same webhook-id, until the URL takes it."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from conftest import Clock
from postroom.app import Postroom
from postroom.inbound.types import Outcome
from postroom.mailer import SmtpTransport
from postroom.store.models import JobRow
from postroom.webhooks import verify
from support.messages import reply
from support.smtpserver import ScriptedSmtpServer
from support.webhooks import WebhookReceiver

BODY = "Count me in for Thursday.\n\nOn Mon, Bob wrote:\n> Who comes?\n"


def served_room(room: Postroom, receiver: WebhookReceiver, clock: Clock) -> str:
    """``tickets`` served by the receiver; returns a reply address of it."""
    endpoint = room.webhooks.add(receiver.url, handler="tickets")
    receiver.check = lambda headers, body: verify(endpoint.secret, headers, body, now=clock())
    issued = room.create_session("tickets", 42, {"ticket": 1234}, address="ada@example.net")
    return issued.address


def test_a_module_served_by_a_url_gets_the_signed_extracted_reply(
    room: Postroom, clock: Clock
) -> None:
    with WebhookReceiver() as receiver:
        address = served_room(room, receiver, clock)
        result = room.receive(reply(address, BODY), recipients=[address])
    assert result.outcome is Outcome.DISPATCHED, result.steps
    assert result.module == "tickets"
    [request] = receiver.requests
    assert request.error is None and request.headers["content-type"] == "application/json"
    payload = request.payload
    assert payload["type"] == "reply"
    data = payload["data"]
    assert data["module"] == "tickets" and data["user_id"] == 42
    assert data["session_data"] == {"ticket": 1234}
    assert data["text"] == "Count me in for Thursday."
    assert "Who comes?" in data["quoted"]
    assert data["sender"] == "ada@example.net" and data["inbound_id"] == result.inbound_id
    [event] = room.events(type="replied")
    assert event.inbound_id == result.inbound_id


def test_a_rejection_sends_the_sender_the_explanation_by_email(
    room: Postroom, clock: Clock
) -> None:
    explanation = "Ticket 1234 was closed on Monday; open a new one to write to us."
    answer = json.dumps({"reject": "ticket_closed", "explanation": explanation}).encode()
    with ScriptedSmtpServer() as smtp, WebhookReceiver() as receiver:
        room.configure(room.settings, transport=SmtpTransport(smtp.host, smtp.port))
        address = served_room(room, receiver, clock)
        receiver.script((200, answer))
        result = room.receive(reply(address, BODY), recipients=[address])
        assert result.outcome is Outcome.REJECTED, result.steps
        assert result.detail.startswith("ticket_closed")
        room.worker().drain()  # the notice job sends the error email
        [mail] = smtp.wait_for_messages(1)
    assert mail.rcpts == ("ada@example.net",)
    assert mail.mail_from == ""  # a null return path: nothing bounces back to us
    message = message_from_bytes(mail.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert explanation in text
    assert not room.events(type="replied")
    # The session's use was given back: the person may write again.
    [request] = receiver.requests
    assert request.payload["data"]["session_data"] == {"ticket": 1234}


def test_a_4xx_rejection_is_a_rejection_too(room: Postroom, clock: Clock) -> None:
    answer = json.dumps({"reject": "too_late", "explanation": "Voting has closed."}).encode()
    with WebhookReceiver() as receiver:
        address = served_room(room, receiver, clock)
        receiver.script((422, answer))
        result = room.receive(reply(address, BODY), recipients=[address])
    assert result.outcome is Outcome.REJECTED
    assert result.notice == "rejected:queued"


def test_a_failing_url_keeps_the_message_and_the_queue_retries_it_until_taken(
    room: Postroom, clock: Clock
) -> None:
    with WebhookReceiver() as receiver:
        address = served_room(room, receiver, clock)
        receiver.script(503, 500, (200, b"<html>not json</html>"))
        result = room.receive(reply(address, BODY), recipients=[address])
        assert result.outcome is Outcome.FAILED
        assert result.notice is None  # the sender is not told: the retry may well succeed
        assert room.inbound_message(result.inbound_id).status == "failed"  # type: ignore[arg-type,union-attr]
        worker = room.worker()
        worker.drain()
        assert len(receiver.requests) == 1  # the retry waits its turn
        for _ in range(2):
            clock.advance(hours=1)
            worker.drain()
    assert [r.status for r in receiver.requests] == [503, 500, 200]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert all(r.error is None for r in receiver.requests)
    stored = room.inbound_message(result.inbound_id)  # type: ignore[arg-type]
    assert stored is not None and (stored.status, stored.outcome) == ("done", "dispatched")
    assert len(room.events(type="replied")) == 1
    with room.database.transaction() as tx:
        [job] = tx.execute(select(JobRow).where(JobRow.kind == "handler-retry")).scalars()
        assert job.status == "done" and job.attempts == 2


def test_a_python_handler_and_a_url_cannot_share_a_name(room: Postroom) -> None:
    from postroom.errors import WebhookError

    with pytest.raises(WebhookError, match="Python code"):
        room.webhooks.add("http://127.0.0.1:9/", handler="forum")
    room.webhooks.add("http://127.0.0.1:9/", handler="tickets")
    with pytest.raises(WebhookError, match="already"):
        room.webhooks.add("http://127.0.0.1:9/other", handler="tickets")
