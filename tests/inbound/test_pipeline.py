"""The inbound pipeline end to end in one process, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import Clock
from postroom.app import Postroom
from postroom.errors import MessageInProgress, Reject, UnparseableMessage
from postroom.inbound.types import Outcome, Reply
from postroom.mailer import MemoryTransport
from postroom.store import repos
from postroom.store.models import JobRow
from support.messages import bounce, reply
from support.notices import delivered


def notices(room: Postroom, transport: MemoryTransport) -> list[str]:
    return [str(m["X-Postroom-Notice"]) for m in delivered(room, transport)]


def test_a_reply_reaches_the_handler_with_user_data_and_text(
    room: Postroom, received: list[Reply]
) -> None:
    issued = room.create_session("forum", 42, {"topic": 7, "title": "Meetup"})
    result = room.receive(reply(issued.address), recipients=[issued.address])
    assert result.outcome is Outcome.DISPATCHED
    assert result.module == "forum" and result.user_id == 42
    [got] = received
    assert got.user_id == 42 and got.session_data == {"topic": 7, "title": "Meetup"}
    assert got.text == "Sounds good, see you there."
    assert "Meet at 5?" in got.quoted
    assert got.sender == "ada@example.net"
    with room.database.transaction() as tx:
        row = repos.get_inbound(tx, result.inbound_id or 0)
        assert row is not None and row.outcome == "dispatched" and row.raw.startswith(b"From")
        assert [e.type for e in repos.list_events(tx)] == ["replied"]


def test_the_address_is_found_in_headers_when_the_envelope_is_unknown(
    room: Postroom, received: list[Reply]
) -> None:
    issued = room.create_session("forum", 42)
    raw = reply("someone@else.example", headers={"Delivered-To": issued.address.upper()})
    assert room.receive(raw).outcome is Outcome.DISPATCHED
    assert received[0].user_id == 42


def test_the_same_message_twice_dispatches_once(room: Postroom, received: list[Reply]) -> None:
    issued = room.create_session("forum", 42)
    raw = reply(issued.address, message_id="<same@example.net>")
    assert room.receive(raw).outcome is Outcome.DISPATCHED
    assert room.receive(raw).outcome is Outcome.DUPLICATE
    assert len(received) == 1


def test_a_session_is_reusable_until_expiry_by_default(
    room: Postroom, received: list[Reply], clock: Clock, transport: MemoryTransport
) -> None:
    issued = room.create_session("forum", 42)
    assert room.receive(reply(issued.address)).outcome is Outcome.DISPATCHED
    assert room.receive(reply(issued.address)).outcome is Outcome.DISPATCHED
    clock.advance(days=31)
    result = room.receive(reply(issued.address))
    assert result.outcome is Outcome.SESSION_EXPIRED
    assert len(received) == 2 and notices(room, transport) == ["expired_session"]
    [notice] = delivered(room, transport)
    assert notice["Auto-Submitted"] == "auto-replied"
    assert notice["To"] == "ada@example.net"
    assert "no longer valid" in notice.get_content()


def test_a_session_with_n_uses_refuses_the_next(
    room: Postroom, received: list[Reply], transport: MemoryTransport
) -> None:
    issued = room.create_session("forum", 42, uses=1)
    assert room.receive(reply(issued.address)).outcome is Outcome.DISPATCHED
    assert room.receive(reply(issued.address)).outcome is Outcome.SESSION_EXPIRED
    assert "all were used" in delivered(room, transport)[0].get_content()


def test_pruned_sessions_answer_as_expired(room: Postroom, clock: Clock) -> None:
    issued = room.create_session("forum", 42)
    clock.advance(days=61)
    assert room.prune().sessions == 1
    assert room.receive(reply(issued.address)).outcome is Outcome.SESSION_EXPIRED


def test_a_forged_address_is_never_dispatched(
    room: Postroom, received: list[Reply], transport: MemoryTransport
) -> None:
    issued = room.create_session("forum", 42)
    local, _, domain = issued.address.partition("@")
    forged = local[:-2] + ("aa" if local[-2:] != "aa" else "bb") + "@" + domain
    result = room.receive(reply(forged), recipients=[forged])
    assert result.outcome is Outcome.INVALID_ADDRESS
    # The address does not verify: its sender may be forged too, so nobody is answered.
    assert received == [] and notices(room, transport) == []


def test_mail_for_nobody_of_ours(room: Postroom) -> None:
    result = room.receive(reply("bob@example.net"), recipients=["bob@example.net"])
    assert result.outcome is Outcome.NOT_OURS and result.inbound_id is None


def test_unparseable_bytes(room: Postroom) -> None:
    with pytest.raises(UnparseableMessage):
        room.receive(b"\x00\x01 not mail", recipients=[])


def test_unknown_module(room: Postroom, transport: MemoryTransport) -> None:
    address = room.codec.encode_reply(module=999, user=1, session_key=b"k" * 8)
    with room.database.transaction() as tx:
        repos.insert_session(
            tx,
            key=b"k" * 8,
            module=999,
            user_id=1,
            data=None,
            created_at=room.clock(),
            expires_at=room.clock() + timedelta(days=1),
            uses_left=None,
        )
    assert room.receive(reply(address)).outcome is Outcome.UNKNOWN_MODULE
    assert notices(room, transport) == ["unknown_module"]


def test_an_empty_reply(room: Postroom, received: list[Reply], transport: MemoryTransport) -> None:
    issued = room.create_session("forum", 42)
    body = "On Mon, Bob wrote:\n> Meet at 5?\n> Bring snacks.\n"
    assert room.receive(reply(issued.address, body)).outcome is Outcome.EMPTY_REPLY
    assert received == [] and notices(room, transport) == ["empty_reply"]


def test_a_message_too_large(room: Postroom, transport: MemoryTransport) -> None:
    small = room.settings.clone(max_message_bytes=2048)
    room.configure(small)
    issued = room.create_session("forum", 42)
    result = room.receive(reply(issued.address, "x" * 5000))
    assert result.outcome is Outcome.TOO_LARGE and notices(room, transport) == ["too_large"]
    with room.database.transaction() as tx:
        row = repos.get_inbound(tx, result.inbound_id or 0)
        assert row is not None and len(row.raw) < 2048  # the header section is kept


def test_sender_check(room: Postroom, transport: MemoryTransport) -> None:
    got: list[Reply] = []
    room.handler("private", check_sender=lambda user, sender: sender == "ada@example.net")(
        got.append
    )
    issued = room.create_session("private", 42)
    assert room.receive(reply(issued.address)).outcome is Outcome.DISPATCHED
    result = room.receive(reply(issued.address, sender="eve@example.org"))
    assert result.outcome is Outcome.WRONG_SENDER and len(got) == 1
    assert notices(room, transport) == ["wrong_sender"]


def test_a_handler_rejection_is_explained_to_the_sender(
    room: Postroom, transport: MemoryTransport
) -> None:
    def closed(reply: Reply) -> None:
        raise Reject("closed_topic", "This topic is closed.")

    room.handler("closed")(closed)
    issued = room.create_session("closed", 42, uses=1)
    assert room.receive(reply(issued.address)).outcome is Outcome.REJECTED
    assert "This topic is closed." in delivered(room, transport)[0].get_content()
    # The rejected reply did not spend the only use.
    with room.database.transaction() as tx:
        row = tx.get(repos.SessionRow, issued.session_id)
        assert row is not None and row.uses_left == 1


def test_a_failing_handler_keeps_the_message_for_replay(
    room: Postroom, transport: MemoryTransport
) -> None:
    calls: list[Reply] = []
    broken = {"yes": True}

    def flaky(reply: Reply) -> None:
        if broken["yes"]:
            raise RuntimeError("forum database is read-only")
        calls.append(reply)

    room.handler("flaky")(flaky)
    issued = room.create_session("flaky", 42)
    result = room.receive(reply(issued.address))
    assert result.outcome is Outcome.FAILED and "read-only" in result.detail
    assert notices(room, transport) == ["unexpected_failure"]
    assert f"#{result.inbound_id}" in delivered(room, transport)[0].get_content()

    dry = room.replay(result.inbound_id or 0, dry_run=True)
    assert dry.outcome is Outcome.DISPATCHED and calls == []
    assert any("would call handler 'flaky'" in step for step in dry.steps)

    broken["yes"] = False
    assert room.replay(result.inbound_id or 0).outcome is Outcome.DISPATCHED
    assert len(calls) == 1
    with room.database.transaction() as tx:
        row = repos.get_inbound(tx, result.inbound_id or 0)
        assert row is not None and row.outcome == "dispatched"


def test_bounces_count_against_the_user_and_suppress_at_the_threshold(
    room: Postroom, received: list[Reply], transport: MemoryTransport
) -> None:
    for n in range(3):
        issued = room.create_session("forum", 7, address="ada@example.net")
        result = room.receive(bounce(issued.address, mid=f"d{n}"), sender="")
        assert result.outcome is Outcome.BOUNCE_RECORDED and result.detail == "hard"
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, 7)
        assert score is not None and score.score == 3.0 and repos.is_suppressed(tx, 7)
    assert received == [] and delivered(room, transport) == []


def test_soft_bounces_weigh_less_and_delays_count_nothing(room: Postroom) -> None:
    issued = room.create_session("forum", 8, address="ada@example.net")
    soft = bounce(issued.address, status="4.2.2", diagnostic="452 4.2.2 mailbox full", mid="s")
    assert room.receive(soft, sender="").outcome is Outcome.BOUNCE_RECORDED
    delayed = bounce(
        issued.address,
        action="delayed",
        status="4.4.1",
        diagnostic="451 4.4.1 no answer from host",
        mid="dl",
    )
    assert room.receive(delayed, sender="").outcome is Outcome.DELAY_RECORDED
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, 8)
        assert score is not None and score.score == room.settings.bounces.soft_weight


def test_forged_bounces_count_nothing(room: Postroom) -> None:
    fake = room.codec.encode_reply(module=1, user=9, session_key=b"z" * 8)
    local, _, domain = fake.partition("@")
    forged = local[:-1] + ("q" if local[-1] != "q" else "r") + "@" + domain
    for n in range(5):
        room.receive(bounce(forged, mid=f"f{n}"), recipients=[forged], sender="")
    with room.database.transaction() as tx:
        assert repos.get_bounce_score(tx, 9) is None and not repos.is_suppressed(tx, 9)


def test_auto_replies_are_recorded_never_dispatched_never_answered(
    room: Postroom, received: list[Reply], transport: MemoryTransport
) -> None:
    issued = room.create_session("forum", 42)
    raw = reply(
        issued.address,
        "I am out of the office until Monday.",
        subject="Out of Office: Meetup",
        headers={"Auto-Submitted": "auto-replied"},
    )
    assert room.receive(raw).outcome is Outcome.AUTO_REPLY_RECORDED
    assert received == [] and delivered(room, transport) == []
    with room.database.transaction() as tx:
        assert [e.type for e in repos.list_events(tx)] == ["auto_replied"]


def test_no_error_email_to_a_null_sender_or_a_list(
    room: Postroom, clock: Clock, transport: MemoryTransport
) -> None:
    issued = room.create_session("forum", 42)
    clock.advance(days=31)
    room.receive(reply(issued.address, message_id="<a@x>"), sender="<>")
    room.receive(reply(issued.address, message_id="<b@x>", headers={"Precedence": "bulk"}))
    room.receive(reply(issued.address, message_id="<c@x>", sender="MAILER-DAEMON@x.example"))
    assert delivered(room, transport) == []


def test_error_emails_are_throttled_per_sender(
    room: Postroom, clock: Clock, transport: MemoryTransport
) -> None:
    issued = room.create_session("forum", 42)
    clock.advance(days=31)
    for n in range(8):
        room.receive(reply(issued.address, message_id=f"<t{n}@example.net>"))
    assert len(delivered(room, transport)) == room.settings.error_mail.throttle_count
    clock.advance(hours=2)
    room.receive(reply(issued.address, message_id="<later@example.net>"))
    assert len(delivered(room, transport)) == room.settings.error_mail.throttle_count + 1


def test_attachments_reach_the_handler(room: Postroom, received: list[Reply]) -> None:
    from email.message import EmailMessage

    issued = room.create_session("forum", 42)
    message = EmailMessage()
    message["From"] = "ada@example.net"
    message["To"] = issued.address
    message["Subject"] = "photo"
    message["Message-ID"] = "<att@example.net>"
    message.set_content("Here is the photo.")
    message.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="cat.png")
    assert room.receive(bytes(message)).outcome is Outcome.DISPATCHED
    [attachment] = received[0].attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        "cat.png",
        "image/png",
        b"\x89PNG...",
    )


def test_a_message_claimed_by_a_process_that_died_is_retried_later_then_taken_over(
    room: Postroom, received: list[Reply], clock: Clock
) -> None:
    issued = room.create_session("forum", 42)
    raw = reply(issued.address, message_id="<inflight@example.net>")
    key = repos.dedupe_key("inflight@example.net", raw, issued.address)
    with room.database.transaction() as tx:  # what a process that died mid-message leaves
        repos.claim_inbound(
            tx,
            key=key,
            now=clock(),
            lease=timedelta(minutes=10),
            values={"raw": raw, "received_at": clock()},
        )
    with pytest.raises(MessageInProgress):
        room.receive(raw, recipients=[issued.address])
    assert received == []
    clock.advance(minutes=11)
    assert room.receive(raw, recipients=[issued.address]).outcome is Outcome.DISPATCHED
    assert room.receive(raw, recipients=[issued.address]).outcome is Outcome.DUPLICATE
    assert len(received) == 1


class BrokenOutbox:
    def send(self, message: object) -> None:
        raise OSError(28, "No space left on device")


def test_an_error_email_that_cannot_be_written_does_not_fail_the_message(
    room: Postroom, clock: Clock, transport: MemoryTransport
) -> None:
    room.configure(room.settings, transport=BrokenOutbox())
    issued = room.create_session("forum", 42)
    clock.advance(days=31)
    result = room.receive(reply(issued.address))
    assert result.outcome is Outcome.SESSION_EXPIRED
    assert result.notice == "expired_session:queued"
    # The worker's attempt fails: the notice waits and is retried with backoff, never lost.
    worker = room.worker()
    assert worker.run_jobs() == 1
    with room.database.transaction() as tx:
        [job] = tx.query(JobRow).filter(JobRow.kind == "notice").all()
        assert job.status == "queued" and "No space left" in (job.last_error or "")
        assert job.run_at > clock.now
    # Once the outbox can be written again, the retry sends it.
    room.configure(room.settings, transport=transport)
    clock.now = job.run_at
    assert notices(room, transport) == ["expired_session"]


# --- bounces that reach us by a Message-ID or a VERP return path ------------------------------


def test_a_bounce_quoting_a_remembered_message_id_counts_against_its_user(room: Postroom) -> None:
    # A bounce mailbox of the application's own (no address of ours) piped to postroom.
    assert room.remember_sent("<w1@app.example.com>", user=31, recipient="ada@example.net")
    assert not room.remember_sent("w1@app.example.com", user=99)  # the first record stands
    with pytest.raises(ValueError, match="empty"):
        room.remember_sent("<>", user=31)
    with pytest.raises(ValueError, match="not one"):
        room.remember_sent("x" * 999 + "@app.example.com", user=31)
    raw = bounce("bounces@app.example.com", original="w1@app.example.com", mid="q1")
    result = room.receive(raw, recipients=["bounces@app.example.com"], sender="")
    assert result.outcome is Outcome.BOUNCE_RECORDED and result.detail == "hard"
    assert result.user_id == 31 and result.inbound_id is not None
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, 31)
        assert score is not None and score.score == room.settings.bounces.hard_weight
        [event] = repos.list_events(tx, type="bounced")
        assert event.user_id == 31 and event.recipient == "ada@example.net"
    again = room.receive(raw, recipients=["bounces@app.example.com"], sender="")
    assert again.outcome is Outcome.DUPLICATE


def test_a_complaint_quoting_a_remembered_message_id_suppresses_its_user(room: Postroom) -> None:
    room.remember_sent("c1@app.example.com", user=32, recipient="bob@example.net")
    raw = (
        b"From: feedback@isp.example\nTo: fbl@app.example.com\nSubject: complaint\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="f"\n\n'
        b"--f\nContent-Type: text/plain\n\nA complaint about a message from you.\n"
        b"--f\nContent-Type: message/feedback-report\n\n"
        b"Feedback-Type: abuse\nUser-Agent: isp-fbl/1.0\nVersion: 1\n"
        b"Original-Rcpt-To: bob@example.net\n"
        b"--f\nContent-Type: message/rfc822\n\n"
        b"From: app@example.com\nTo: bob@example.net\nSubject: news\n"
        b"Message-ID: <c1@app.example.com>\n\nhello\n--f--\n"
    )
    result = room.receive(raw, recipients=["fbl@app.example.com"])
    assert result.outcome is Outcome.COMPLAINT_RECORDED and result.user_id == 32
    with room.database.transaction() as tx:
        assert repos.is_suppressed(tx, 32)


def test_a_bounce_quoting_an_unknown_message_id_is_not_ours(room: Postroom) -> None:
    raw = bounce("bounces@app.example.com", original="never-sent@app.example.com", mid="q2")
    result = room.receive(raw, recipients=["bounces@app.example.com"], sender="")
    assert result.outcome is Outcome.NOT_OURS and result.inbound_id is None
    assert any("no copy of ours" in step for step in result.steps)
    # Human mail to no address of ours stays NOT_OURS without a lookup.
    human = reply("someone@app.example.com", "hello there")
    assert room.receive(human, recipients=["someone@app.example.com"]).outcome is Outcome.NOT_OURS


def test_a_verp_bounce_counts_against_the_user_of_its_delivery(room: Postroom) -> None:
    room.remember_sent("v1@app.example.com", user=33, recipient="cy@example.net", delivery_id=501)
    verp = room.codec.encode_bounce(delivery_id=501)
    result = room.receive(bounce(verp, failed="cy@example.net", mid="v1"), sender="")
    assert result.outcome is Outcome.BOUNCE_RECORDED
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, 33)
        assert score is not None and score.hard_count == 1
    # A VERP address whose delivery nobody recorded is recorded, and counts against nobody.
    unknown = room.codec.encode_bounce(delivery_id=502)
    assert room.receive(bounce(unknown, mid="v2"), sender="").outcome is Outcome.BOUNCE_RECORDED


def test_prune_forgets_message_ids_of_old_copies(room: Postroom, clock: Clock) -> None:
    room.remember_sent("old@app.example.com", user=34)
    age = room.settings.session_ttl + room.settings.session_prune_after + timedelta(days=1)
    clock.advance(seconds=age.total_seconds())
    room.remember_sent("new@app.example.com", user=34)
    assert room.prune().message_ids == 1
    raw = bounce("bounces@app.example.com", original="old@app.example.com", mid="q3")
    assert room.receive(raw, recipients=["b@app.example.com"]).outcome is Outcome.NOT_OURS
