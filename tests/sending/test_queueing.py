"""``room.send`` queues one copy per recipient, records everything the other parts read, and
refuses bad input before anything is queued."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from postroom.app import Postroom
from postroom.compose import Email, Recipient, ReplyTo
from postroom.errors import AccountError, ComposeError
from postroom.store import repos
from postroom.store.models import (
    DeliveryRow,
    EmailRow,
    EventRow,
    LinkRow,
    MessageIdRow,
    SessionRow,
)

HTML = '<p>Hello <a href="https://example.test/a">a</a> <a href="mailto:x@example.test">m</a></p>'


def _count(room: Postroom, model: type) -> int:
    with room.database.transaction() as tx:
        return int(tx.scalar(select(func.count()).select_from(model)) or 0)


def test_one_copy_per_recipient_with_its_message_id_recorded(sender: Postroom) -> None:
    result = sender.send(
        Email(
            account="main",
            to=[Recipient("Ada@Example.test", "Ada", user=1), "bob@example.test"],
            cc=[Recipient("cy@example.test", user=3)],
            bcc=["dee@example.test"],
            subject="News",
            html=HTML,
        )
    )
    assert [(c.address, c.role) for c in result.deliveries] == [
        ("ada@example.test", "to"),
        ("bob@example.test", "to"),
        ("cy@example.test", "cc"),
        ("dee@example.test", "bcc"),
    ]
    assert result.skipped == ()
    ids = {c.message_id for c in result.deliveries}
    assert len(ids) == 4 and all(m.endswith("@example.test") for m in ids)
    with sender.database.transaction() as tx:
        for copy in result.deliveries:
            found = repos.find_message_id(tx, message_id=f"<{copy.message_id}>")
            assert found.delivery_id == copy.id and found.email_id == result.email_id
            assert found.user_id == copy.user_id and found.recipient == copy.address
        clean = repos.find_message_id(tx, message_id=result.message_id)
        assert clean.role == "clean" and clean.email_id == result.email_id
        links = tx.scalars(select(LinkRow.url).where(LinkRow.email_id == result.email_id))
        assert list(links) == ["https://example.test/a"]
        queued = tx.scalars(select(EventRow.type).where(EventRow.email_id == result.email_id))
        assert list(queued) == ["queued"] * 4
    state = sender.email(result.email_id)
    assert state.counts() == {"queued": 4} and not state.done
    assert [c.events for c in state.copies] == [("queued",)] * 4


def test_replies_to_a_handler_give_every_copy_its_own_session(sender: Postroom) -> None:
    result = sender.send(
        Email(
            account="main",
            to=[Recipient("ada@example.test", user=1), Recipient("bob@example.test", user=2)],
            subject="Topic",
            text="Reply to this",
            reply=ReplyTo("forum", data={"topic": 7}),
        )
    )
    addresses = [c.reply_address for c in result.deliveries]
    assert len(set(addresses)) == 2 and all(addresses)
    with sender.database.transaction() as tx:
        for copy in result.deliveries:
            assert copy.reply_address is not None
            token = sender.codec.decode(copy.reply_address)
            session = repos.find_session(tx, token.session_key)  # type: ignore[union-attr]
            assert session.user_id == copy.user_id and session.delivery_id == copy.id
            assert session.data == {"topic": 7}
            row = tx.get(DeliveryRow, copy.id)
            assert row is not None and row.session_id == session.id


def test_suppressed_and_duplicate_recipients_are_skipped_and_said(sender: Postroom) -> None:
    now = sender.clock()
    with sender.database.transaction() as tx:
        repos.suppress_user(tx, user_id=9, address=None, reason="complaint", now=now, details={})
        repos.suppress_address(
            tx, address="gone@example.test", user_id=None, reason="bounces", now=now, details={}
        )
    result = sender.send(
        Email(
            account="main",
            to=["ok@example.test", "GONE@example.test", Recipient("x@example.test", user=9)],
            cc=["ok@example.test"],
            subject="s",
            text="t",
        )
    )
    assert [c.address for c in result.deliveries] == ["ok@example.test"]
    assert {(s.address.lower(), s.reason) for s in result.skipped} == {
        ("gone@example.test", "suppressed: bounces"),
        ("x@example.test", "suppressed: complaint"),
        ("ok@example.test", "duplicate recipient"),
    }
    state = sender.email(result.email_id)
    assert state.counts() == {"queued": 1, "skipped": 2}


@pytest.mark.parametrize(
    ("email", "error", "text"),
    [
        (Email(account="nope", to=["a@example.test"], text="t"), AccountError, "accounts add"),
        (Email(account="main", text="t"), ComposeError, "recipient"),
        (Email(account="main", to=["not an address"], text="t"), ComposeError, "to[0]"),
        (
            Email(account="main", to=["a@example.test"], subject="a\r\nBcc: x@y", text="t"),
            ComposeError,
            "subject",
        ),
        (
            Email(account="main", to=["a@example.test"], text="t", reply=ReplyTo("nope")),
            ComposeError,
            "no handler named",
        ),
        (
            Email(account="main", to=["a@example.test"], text="t", reply=ReplyTo("forum")),
            ComposeError,
            "has no user",
        ),
    ],
)
def test_bad_input_queues_nothing(sender: Postroom, email: Email, error: type, text: str) -> None:
    with pytest.raises(error, match=re.escape(text)):
        sender.send(email)
    assert _count(sender, EmailRow) == 0 and _count(sender, DeliveryRow) == 0
    assert _count(sender, SessionRow) == 0 and _count(sender, MessageIdRow) == 0


def test_the_server_size_limit_is_checked_before_queueing(sender: Postroom) -> None:
    from postroom.compose import Attachment
    from postroom.store.accounts import get_account, merge_state

    with sender.database.transaction() as tx:
        account = get_account(tx, name="main")
        assert account is not None
        merge_state(tx, account.id, {"capabilities": {"size": 10_000}}, now=sender.clock())
    with pytest.raises(ComposeError, match="at most 10,000"):
        sender.send(
            Email(
                account="main",
                to=["a@example.test"],
                text="t",
                attachments=[Attachment("big.bin", b"x" * 20_000)],
            )
        )
    assert _count(sender, EmailRow) == 0


def test_a_digest_goes_out_with_its_own_reply_address(sender: Postroom) -> None:
    from postroom.app import DigestEntry
    from postroom.compose import ReplyAddress

    digest = sender.create_digest(
        "forum",
        5,
        [
            DigestEntry("Picnic", "Who comes?", {"topic": 1}),
            DigestEntry("Talks", "At 7 pm.", {"topic": 2}),
        ],
        subject="Digest",
        address="eve@example.test",
    )
    result = sender.send(
        Email(
            account="main",
            to=[Recipient("eve@example.test", user=5)],
            subject="Digest",
            text=digest.parts.text,
            html=digest.parts.html,
            reply=ReplyAddress(digest.address),
        )
    )
    [copy] = result.deliveries
    assert copy.reply_address == digest.address
    with pytest.raises(ComposeError, match=re.escape("reply.address")):
        sender.send(
            Email(
                account="main",
                to=["eve@example.test"],
                text="t",
                reply=ReplyAddress("someone@else.example"),
            )
        )
