"""RFC 8098 read receipts through the pipeline: recorded, never dispatched, never answered;
a "displayed" disposition is an ``opened`` event for the copy it names."""

from __future__ import annotations

from postroom.app import Postroom
from postroom.inbound.types import Outcome, Reply
from postroom.mailer import MemoryTransport
from postroom.store import repos
from support.notices import delivered


def receipt(to: str, original: str, disposition: str = "displayed", mid: str = "r1") -> bytes:
    """A Thunderbird-shaped MDN from bob@example.net about the copy ``original``."""
    mode = "manual-action/MDN-sent-manually"
    return (
        f"From: Bob <bob@example.net>\nTo: {to}\nSubject: Return Receipt (displayed) - news\n"
        f"Message-ID: <{mid}@example.net>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="m"\n\n'
        "--m\nContent-Type: text/plain; charset=utf-8\n\n"
        "This is a Return Receipt for the mail that you sent to bob@example.net.\n\n"
        "--m\nContent-Type: message/disposition-notification\n\n"
        "Reporting-UA: mail.example.net; Thunderbird 128.0\n"
        "Final-Recipient: rfc822;bob@example.net\n"
        f"Original-Message-ID: <{original}>\n"
        f"Disposition: {mode}; {disposition}\n\n"
        "--m--\n"
    ).encode()


def test_a_displayed_receipt_is_an_open_of_the_copy_it_names(
    room: Postroom, received: list[Reply], transport: MemoryTransport
) -> None:
    room.remember_sent("n1@app.example.com", user=41, recipient="bob@example.net")
    raw = receipt("receipts@app.example.com", "n1@app.example.com")
    result = room.receive(raw, recipients=["receipts@app.example.com"])
    assert result.outcome is Outcome.RECEIPT_RECORDED and result.kind == "read_receipt"
    assert result.user_id == 41
    assert received == [] and delivered(room, transport) == []
    with room.database.transaction() as tx:
        [event] = repos.list_events(tx, type="opened")
        assert event.user_id == 41 and event.recipient == "bob@example.net"
        assert event.data["disposition"] == "displayed" and event.data["label"] == "human"
        assert event.data["original_message_id"] == "n1@app.example.com"
    again = room.receive(raw, recipients=["receipts@app.example.com"])
    assert again.outcome is Outcome.DUPLICATE


def test_a_receipt_to_a_reply_address_is_recorded_with_its_open(
    room: Postroom, received: list[Reply], transport: MemoryTransport
) -> None:
    issued = room.create_session("forum", 42)
    room.remember_sent("n2@app.example.com", user=42, recipient="bob@example.net")
    result = room.receive(receipt(issued.address, "n2@app.example.com", mid="r2"))
    assert result.outcome is Outcome.RECEIPT_RECORDED
    assert received == [] and delivered(room, transport) == []
    with room.database.transaction() as tx:
        [event] = repos.list_events(tx, type="opened")
        assert event.user_id == 42 and event.recipient == "bob@example.net"


def test_a_receipt_for_a_deleted_copy_is_recorded_without_an_open(room: Postroom) -> None:
    issued = room.create_session("forum", 43)
    raw = receipt(issued.address, "n3@app.example.com", disposition="deleted", mid="r3")
    result = room.receive(raw)
    assert result.outcome is Outcome.RECEIPT_RECORDED
    with room.database.transaction() as tx:
        assert repos.list_events(tx, type="opened") == []


def test_a_receipt_for_an_unknown_copy_is_not_ours(room: Postroom) -> None:
    raw = receipt("receipts@app.example.com", "never@app.example.com", mid="r4")
    result = room.receive(raw, recipients=["receipts@app.example.com"])
    assert result.outcome is Outcome.NOT_OURS and result.inbound_id is None
