"""Item 12: the Python API for outcomes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import Clock
from postroom.app import Postroom
from postroom.inbound.types import Outcome
from postroom.outcomes import EventType
from support.messages import bounce, reply


def bounce_three_times(room: Postroom, user: int, address: str) -> None:
    for n in range(3):
        issued = room.create_session("forum", user, address=address)
        raw = bounce(issued.address, failed=address, mid=f"u{user}n{n}")
        assert room.receive(raw, sender="").outcome is Outcome.BOUNCE_RECORDED


def test_suppression_by_user_or_address_and_lifting_it(room: Postroom) -> None:
    assert not room.is_suppressed(user=7)
    bounce_three_times(room, 7, "ada@example.net")
    assert room.is_suppressed(user=7) and room.is_suppressed(address="ADA@example.net")
    assert not room.is_suppressed(address="bob@example.net")
    found = room.suppression(user=7)
    assert found is not None and found.reason == "bounces" and found.address == "ada@example.net"
    score = room.bounce_score(7)
    assert score is not None and score.score == 3.0 and score.hard_count == 3
    assert room.lift_suppression(address="ada@example.net") == 1
    assert not room.is_suppressed(user=7) and room.bounce_score(7) is None
    assert room.lift_suppression(user=7) == 0
    with pytest.raises(ValueError, match="user, an address"):
        room.is_suppressed()


def test_lifting_can_keep_the_score(room: Postroom) -> None:
    bounce_three_times(room, 8, "bob@example.net")
    assert room.lift_suppression(user=8, reset_score=False) == 1
    score = room.bounce_score(8)
    assert score is not None and score.score == 3.0


def test_events_by_type_user_and_time(room: Postroom, clock: Clock) -> None:
    start = clock()
    issued = room.create_session("forum", 9, address="cy@example.net")
    room.receive(reply(issued.address))
    clock.advance(hours=2)
    room.receive(bounce(issued.address, failed="cy@example.net", mid="e1"), sender="")
    replied = room.events(type="replied")
    assert [e.type for e in replied] == [EventType.REPLIED] and replied[0].user_id == 9
    assert [e.type for e in room.events(user=9)] == [EventType.BOUNCED, EventType.REPLIED]
    later = room.events(user=9, since=start + timedelta(hours=1))
    assert [e.type for e in later] == [EventType.BOUNCED]
    assert room.events(user=9, until=start + timedelta(hours=1))[0].type is EventType.REPLIED
    assert room.events(email=12345) == [] and room.events(user=10) == []
    assert later[0].recipient == "cy@example.net" and later[0].data["counted"] is True
    with pytest.raises(ValueError):
        room.events(type="no-such-type")


def test_one_inbound_message_with_its_outcome(room: Postroom) -> None:
    issued = room.create_session("forum", 11)
    raw = reply(issued.address)
    result = room.receive(raw, recipients=[issued.address], sender="ada@example.net")
    message = room.inbound_message(result.inbound_id or 0)
    assert message is not None and message.outcome is Outcome.DISPATCHED
    assert message.status == "done" and message.user_id == 11 and message.raw == raw
    assert message.envelope_recipients == (issued.address,)
    assert message.envelope_sender == "ada@example.net" and message.subject == "Re: Meetup"
    assert room.inbound_message(999_999) is None
