"""Item 6: a report counts only for the address postroom itself sent to, and only when the
report names it; the suppression records postroom's address, never the report's."""

from __future__ import annotations

from sqlalchemy import select

from postroom.app import Postroom
from postroom.inbound.types import Outcome
from postroom.store import repos
from postroom.store.models import SuppressionRow
from support.messages import bounce

COMPLAINT = (
    "From: feedback@isp.example\nTo: {to}\nSubject: complaint\nMIME-Version: 1.0\n"
    'Content-Type: multipart/report; report-type=feedback-report; boundary="f"\n\n'
    "--f\nContent-Type: text/plain\n\nA complaint about a message from you.\n"
    "--f\nContent-Type: message/feedback-report\n\n"
    "Feedback-Type: abuse\nUser-Agent: isp-fbl/1.0\nVersion: 1\n"
    "Original-Rcpt-To: {named}\n"
    "--f\nContent-Type: message/rfc822\n\n"
    "From: app@example.com\nTo: {named}\nSubject: news\n"
    "Message-ID: <{mid}@app.example.com>\n\nhello\n--f--\n"
)


def complaint(to: str, named: str, mid: str = "c1") -> bytes:
    return COMPLAINT.format(to=to, named=named, mid=mid).encode()


def state(room: Postroom, user: int) -> tuple[float | None, str | None]:
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, user)
        row = tx.scalars(select(SuppressionRow).where(SuppressionRow.user_id == user)).first()
        return (score.score if score else None), (row.address if row else None)


def test_three_hand_written_dsns_naming_a_stranger_suppress_nobody(room: Postroom) -> None:
    issued = room.create_session("forum", 7, address="ada@example.net")
    for n in range(3):
        raw = bounce(issued.address, failed="victim@elsewhere.example", mid=f"forged{n}")
        result = room.receive(raw, recipients=[issued.address], sender="")
        assert result.outcome is Outcome.BOUNCE_RECORDED
        assert any("counts against nobody" in step for step in result.steps)
    assert state(room, 7) == (None, None)


def test_one_fake_abuse_report_naming_a_stranger_suppresses_nobody(room: Postroom) -> None:
    issued = room.create_session("forum", 8, address="bob@example.net")
    raw = complaint(issued.address, "victim@elsewhere.example")
    assert room.receive(raw, recipients=[issued.address]).outcome is Outcome.COMPLAINT_RECORDED
    assert state(room, 8) == (None, None)


def test_a_report_to_a_session_without_a_known_address_counts_against_nobody(
    room: Postroom,
) -> None:
    issued = room.create_session("forum", 9)
    for n in range(3):
        room.receive(bounce(issued.address, mid=f"n{n}"), recipients=[issued.address], sender="")
    assert state(room, 9) == (None, None)


def test_reports_naming_the_address_we_sent_to_count_and_record_our_address(
    room: Postroom,
) -> None:
    for n in range(3):
        issued = room.create_session("forum", 10, address="ada@example.net")
        raw = bounce(issued.address, failed="ADA@Example.NET", mid=f"real{n}")
        room.receive(raw, recipients=[issued.address], sender="")
    assert state(room, 10) == (3.0, "ada@example.net")
    issued = room.create_session("forum", 11, address="bob@example.net")
    room.receive(complaint(issued.address, "Bob@Example.net"), recipients=[issued.address])
    assert state(room, 11) == (None, "bob@example.net")


def test_a_quoted_message_id_counts_only_for_the_recipient_of_that_copy(room: Postroom) -> None:
    room.remember_sent("m1@app.example.com", user=12, recipient="cy@example.net")
    raw = bounce("bounces@app.example.com", failed="dee@example.net", original="m1@app.example.com")
    result = room.receive(raw, recipients=["bounces@app.example.com"], sender="")
    assert result.outcome is Outcome.BOUNCE_RECORDED and result.user_id == 12
    fake = complaint("fbl@app.example.com", "dee@example.net", mid="m1")
    room.receive(fake, recipients=["fbl@app.example.com"])
    assert state(room, 12) == (None, None)


def test_a_verp_bounce_counts_only_for_the_recipient_of_its_delivery(room: Postroom) -> None:
    room.remember_sent("v9@app.example.com", user=13, recipient="cy@example.net", delivery_id=9)
    verp = room.codec.encode_bounce(delivery_id=9)
    room.receive(bounce(verp, failed="dee@example.net", mid="w1"), sender="")
    assert state(room, 13) == (None, None)
    room.receive(bounce(verp, failed="cy@example.net", mid="w2"), sender="")
    assert state(room, 13) == (1.0, None)
