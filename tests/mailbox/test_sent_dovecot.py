"""Acceptance 1 and 2 on real servers: Postfix submission files a copy of every submitted
message in the sender's Sent folder (as Gmail does), Dovecot behind it. After an email to To,
Cc and Bcc recipients is sent and reconciled, Sent holds exactly one clean copy (the visible
headers as sent, a Bcc line for the sender, attachments, \\Seen, internal date = send time),
no provider copy is left anywhere, and nothing unrelated was touched: a message of the user's
flagged \\Deleted in Sent before survives (a plain EXPUNGE would have purged it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from postroom.compose import Email, Recipient
from postroom.compose.email import Attachment
from postroom.mailbox.jobs import discover_account
from postroom.store import Database
from postroom.store.models import DeliveryRow, EmailRow
from support.mailservers import MailServers

from .conftest import Stack, mailbox_settings, make_stack

pytestmark = pytest.mark.mailservers

HTML = "<p>Hello,</p><p>see <a href='https://shop.example.test/offer'>the offer</a>.</p>"
VISIBLE = ("from", "to", "cc", "date", "subject", "mime-version", "x-postroom-email")
PDF = b"%PDF-1.4 a small attachment\n" * 40


def unrelated_mail(stack: Stack) -> None:
    """Two messages of the user's own in Sent, one of them flagged \\Deleted already."""
    with stack.imap() as client:
        for n, flags in ((1, [b"\\Seen", b"\\Deleted"]), (2, [b"\\Seen"])):
            client.append(
                "Sent",
                (
                    f"From: alice@example.test\r\nTo: zed@example.test\r\n"
                    f"Subject: the user's own {n}\r\nMessage-ID: <own-{n}@example.test>\r\n\r\n"
                    f"hello {n}\r\n"
                ).encode(),
                flags=flags,
            )


def the_email(subject: str = "A clean Sent folder", **extra: Any) -> Email:
    return Email(
        account="alice",
        to=[Recipient("bob@example.test", "Bob", user=2)],
        cc=[Recipient("carol@example.test", "Carol Ørsted", user=3)],
        bcc=[Recipient("dave@example.test", "Dave", user=4)],
        subject=subject,
        html=HTML,
        attachments=[Attachment("terms.pdf", PDF, "application/pdf")],
        **extra,
    )


def send(stack: Stack, **extra: Any) -> int:
    return stack.room.send(the_email(**extra)).email_id


def fields(raw: bytes) -> dict[str, str]:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    out: dict[str, str] = {}
    for item in re.split(rb"\r?\n(?![ \t])", head):
        name, _, value = item.partition(b":")
        out.setdefault(name.decode().strip().lower(), re.sub(r"\s+", " ", value.decode()).strip())
    return out


def sent_at(database: Database, email_id: int) -> datetime:
    with database.transaction() as tx:
        times = tx.execute(
            select(DeliveryRow.sent_at).where(DeliveryRow.email_id == email_id)
        ).scalars()
        return min(t for t in times if t is not None)


def check_clean_sent(stack: Stack, email_id: int, *, trash_may_hold_copies: bool = False) -> None:
    database = stack.room.database
    with database.transaction() as tx:
        email = tx.execute(select(EmailRow).where(EmailRow.id == email_id)).scalar_one()
        token, clean_id, progress = email.token, email.message_id, email.sent_folder
        copy_ids = set(
            tx.execute(
                select(DeliveryRow.message_id).where(DeliveryRow.email_id == email_id)
            ).scalars()
        )
    assert progress == "clean"
    sent = stack.folder("Sent")
    ours = {u: v for u, v in sent.items() if token.encode() in v[b"BODY[]"]}
    assert len(ours) == 1, f"{len(ours)} messages of the email in Sent"
    (clean,) = ours.values()
    raw = clean[b"BODY[]"]
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Message-ID"] == f"<{clean_id}>"
    # The visible headers as every recipient got them (Bob's copy), plus the sender's Bcc.
    received = stack.servers.wait_for_mail("bob@example.test")
    bob = next(r for r in received if token.encode() in r)
    theirs, mine = fields(bob), fields(raw)
    for name in VISIBLE:
        assert mine.get(name) == theirs.get(name), name
    assert mine["bcc"] == "Dave <dave@example.test>"
    assert "reply-to" not in mine and "list-unsubscribe" not in mine
    html = message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "https://shop.example.test/offer" in content
    assert "/t/o/" not in content and "/t/c/" not in content  # no pixel, no tracked links
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["terms.pdf"]
    assert attachments[0].get_content() == PDF
    assert b"\\Seen" in clean[b"FLAGS"]
    when = clean[b"INTERNALDATE"]
    if when.tzinfo is None:
        when = when.astimezone()
    assert abs((when - sent_at(database, email_id)).total_seconds()) < 1.0
    # Nothing unrelated was touched: the user's two messages, one still \Deleted, are there.
    own = {
        v[b"BODY[]"].split(b"Subject: ")[1][:16]: v[b"FLAGS"]
        for v in sent.values()
        if b"the user's own" in v[b"BODY[]"]
    }
    assert set(own) == {b"the user's own 1", b"the user's own 2"}
    assert b"\\Deleted" in own[b"the user's own 1"]
    # No provider copy anywhere: every Message-ID of a copy is gone from Sent and Trash.
    trash = stack.folder("Trash")
    for folder in (sent, {} if trash_may_hold_copies else trash):
        for value in folder.values():
            mid = fields(value[b"BODY[]"]).get("message-id", "").strip("<>")
            assert mid not in copy_ids


@pytest.fixture
def stack_without_move(database: Database, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """Dovecot with MOVE hidden from its CAPABILITY (``imap_capability``)."""
    yield from make_stack(
        database,
        database_url,
        tmp_path,
        dovecot_extra="protocol imap {\n  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID "
        "ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS "
        "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
        "LIST-STATUS BINARY SPECIAL-USE\n}\n",
    )


def run(stack: Stack) -> None:
    stats = stack.room.worker(concurrency=1).drain(timeout=60)
    assert not stats.errors, stats.errors


def test_one_clean_copy_is_left_in_sent(stack: Stack) -> None:
    stack.add_account()
    unrelated_mail(stack)
    discover_account(stack.room, stack.account())
    email_id = send(stack)
    run(stack)
    check_clean_sent(stack, email_id)
    facts = stack.account().state["mailbox"]
    assert facts["files_sent"] is True and facts["search_key"] == "message-id"


@pytest.mark.parametrize("cleanup", ["delete", "trash"])
def test_the_same_without_move(stack_without_move: Stack, cleanup: str) -> None:
    stack = stack_without_move
    stack.room.configure(
        stack.room.settings.clone(mailbox=mailbox_settings(sent_cleanup=cleanup)),
        database=stack.room.database,
    )
    stack.add_account()
    unrelated_mail(stack)
    facts = discover_account(stack.room, stack.account())
    assert not facts.capabilities.move and facts.capabilities.uidplus
    email_id = send(stack)
    run(stack)
    # "trash": COPY to Trash, \Deleted and UID EXPUNGE of just those UIDs in Sent.
    check_clean_sent(stack, email_id, trash_may_hold_copies=cleanup == "trash")
    if cleanup == "trash":
        assert len(stack.folder("Trash")) == 3


def test_trash_mode_with_move(stack: Stack) -> None:
    stack.room.configure(
        stack.room.settings.clone(mailbox=mailbox_settings(sent_cleanup="trash")),
        database=stack.room.database,
    )
    stack.add_account()
    unrelated_mail(stack)
    discover_account(stack.room, stack.account())
    email_id = send(stack)
    run(stack)
    check_clean_sent(stack, email_id, trash_may_hold_copies=True)
    assert len(stack.folder("Trash")) == 3  # UID MOVE put the three copies there


def test_a_server_that_files_nothing_gets_only_the_append(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    for stack in make_stack(database, database_url, tmp_path):
        stack.add_account()
        discover_account(stack.room, stack.account())
        # Sent through the plain port: Postfix files no copy (as a provider that stores nothing).
        stack.room.database  # noqa: B018
        from postroom.store.accounts import update_account

        with database.transaction() as tx:
            update_account(
                tx,
                stack.account().id,
                now=stack.room.clock(),
                smtp_port=stack.servers.smtp_port,
                smtp_auth="none",
                smtp_username=None,
            )
        email_id = send(stack)
        run(stack)
        sent = stack.folder("Sent")
        assert len(sent) == 1
        assert stack.account().state["mailbox"]["files_sent"] is False
        del email_id


_ = (UTC, MailServers)
