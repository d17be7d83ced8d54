"""Acceptance 1 and 2 on real servers: Postfix submission files a copy of every submitted
message in the sender's Sent folder (as Gmail does), Dovecot behind it. After an email to To,
Cc and Bcc recipients is sent and reconciled, Sent holds exactly one clean copy (the visible
headers as sent, a Bcc line for the sender, attachments, \\Seen, internal date = send time),
no provider copy is left anywhere, and nothing unrelated was touched: a message of the user's
flagged \\Deleted in Sent before survives (a plain EXPUNGE would have purged it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from postroom.mailbox.jobs import discover_account
from postroom.store import Database
from support.mailboxes import (
    Stack,
    check_clean_sent,
    configure,
    mailbox_settings,
    make_stack,
    send,
    unrelated_mail,
)
from support.mailservers import MailServers

pytestmark = pytest.mark.mailservers


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
        configure(stack, sent_wait=timedelta(seconds=3))  # nothing will come: wait briefly
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
