"""Item 1: messages that can never be handled end in a final outcome after one attempt.

Only a database outage is a reason to retry; a message that nests too deep, carries NUL
bytes, or makes any step raise is kept (``failed`` or a normal outcome) and never answered
with "retry later" again.
"""

from __future__ import annotations

import pytest

from postroom.app import Postroom
from postroom.inbound.types import Outcome, Reply
from postroom.store import repos
from support.messages import reply

MIME_NESTING_LIMIT = 100  # Postfix's mime_nesting_limit, as postroom.inbound.parse
NESTING_DEFECT = "MimeNestingTooDeepDefect"


def nested(to: str, depth: int, text: str = "hello from the deep") -> bytes:
    head = (
        f"From: Ada <ada@example.net>\r\nTo: {to}\r\nSubject: deep\r\n"
        "Message-ID: <deep@example.net>\r\nMIME-Version: 1.0\r\n"
    )
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    leaf = f"Content-Type: text/plain\r\n\r\n{text}\r\n"
    closing = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + leaf + closing).encode()


def row_of(room: Postroom, inbound_id: int | None) -> repos.InboundMessageRow:
    with room.database.transaction() as tx:
        row = repos.get_inbound(tx, inbound_id or 0)
        assert row is not None
        tx.expunge(row)
        return row


def test_mime_nested_a_thousand_levels_deep_is_a_recorded_defect(room: Postroom) -> None:
    issued = room.create_session("forum", 42)
    result = room.receive(nested(issued.address, 1000), recipients=[issued.address])
    # Everything past the nesting limit is cut off; what is left is handled as usual.
    assert result.outcome in (Outcome.DISPATCHED, Outcome.EMPTY_REPLY)
    row = row_of(room, result.inbound_id)
    assert row.status == "done" and NESTING_DEFECT in row.details["defects"]


def test_mime_nested_to_the_limit_is_read_whole(room: Postroom, received: list[Reply]) -> None:
    issued = room.create_session("forum", 42)
    raw = nested(issued.address, MIME_NESTING_LIMIT)
    assert room.receive(raw, recipients=[issued.address]).outcome is Outcome.DISPATCHED
    assert received[0].text == "hello from the deep"


def test_nul_bytes_in_the_subject_and_message_id_are_stored(
    room: Postroom, received: list[Reply]
) -> None:
    issued = room.create_session("forum", 42)
    raw = reply(issued.address, message_id="<nul@example.net>").replace(
        b"Subject: Re: Meetup", b"Subject: Re: Meet\x00up"
    )
    raw = raw.replace(b"<nul@example.net>", b"<n\x00ul@example.net>")
    result = room.receive(raw, recipients=[issued.address])
    assert result.outcome is Outcome.DISPATCHED and len(received) == 1
    row = row_of(room, result.inbound_id)
    assert row.subject == "Re: Meet\ufffdup" and row.raw == raw
    assert room.receive(raw, recipients=[issued.address]).outcome is Outcome.DUPLICATE


def test_any_other_error_keeps_the_message_as_failed_after_one_attempt(room: Postroom) -> None:
    def broken_check(user: int, sender: str) -> bool:
        raise LookupError("the user directory is not configured")

    room.handler("private", check_sender=broken_check)(lambda reply: None)
    issued = room.create_session("private", 42)
    raw = reply(issued.address)
    first = room.receive(raw, recipients=[issued.address])
    assert first.outcome is Outcome.FAILED
    assert "LookupError: the user directory is not configured" in first.detail
    row = row_of(room, first.inbound_id)
    assert row.status == "failed" and row.outcome == "failed"
    # The MTA's retry (or a second delivery) is no new attempt, and no "retry later".
    again = room.receive(raw, recipients=[issued.address])
    assert again.outcome is Outcome.DUPLICATE and again.inbound_id == first.inbound_id


@pytest.mark.parametrize("depth", [1000])
def test_replaying_a_deeply_nested_message_ends_in_an_outcome(room: Postroom, depth: int) -> None:
    issued = room.create_session("forum", 42)
    result = room.receive(nested(issued.address, depth), recipients=[issued.address])
    again = room.replay(result.inbound_id or 0, force=True)
    assert again.outcome is result.outcome and again.outcome is not Outcome.FAILED
