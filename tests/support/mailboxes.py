"""Fixtures and helpers for the Mailbox part's tests (tests/mailbox/, which is no package:
a package named mailbox on the tests' path would hide the standard library's; this module is
a plugin of tests/conftest.py instead of a conftest there).

Real Postfix + Dovecot (Postfix files a copy of every submitted message in the sender's Sent,
as Gmail does), an application with an account that has SMTP and IMAP settings, an email to
To, Cc and Bcc recipients, and the checks of the state reconciliation must end in."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.model import Account
from postroom.accounts.service import add_account, get_account
from postroom.app import Postroom
from postroom.compose import Email, Recipient
from postroom.compose.email import Attachment
from postroom.settings import MailboxSettings
from postroom.store import Database
from postroom.store.models import DeliveryRow, EmailRow
from support.mailservers import MailServers, start_mail_servers
from support.sending import settings_with_keys

USERS = (
    ("alice@example.test", "secret-alice"),
    ("bob@example.test", "secret-bob"),
    ("carol@example.test", "secret-carol"),
    ("dave@example.test", "secret-dave"),
    *((f"r{n}@example.test", f"secret-r{n}") for n in range(20)),
)


@dataclass
class Stack:
    room: Postroom
    servers: MailServers
    tmp: Path

    def add_account(
        self, name: str = "alice", *, imap_port: int | None = None, user: str = "alice"
    ) -> Account:
        address = f"{user}@example.test"
        add_account(
            self.room.database,
            self.room.settings,
            AccountSpec(
                name,
                address,
                "127.0.0.1",
                smtp_port=self.servers.submission_port,
                smtp_security=Security.NONE,
                smtp_auth=Auth.PLAIN,
                smtp_username=address,
                from_name="Alice Example",
                imap_host="127.0.0.1",
                imap_port=imap_port or self.servers.imap_port,
                imap_security=Security.NONE,
                imap_username=address,
            ),
            AccountSecrets(password=self.servers.password(address)),
            now=self.room.clock(),
        )
        return get_account(self.room.database, name)

    def account(self, name: str = "alice") -> Account:
        return get_account(self.room.database, name)

    @contextlib.contextmanager
    def imap(self, user: str = "alice@example.test") -> Iterator[IMAPClient]:
        client = self.servers.connect_imap(user)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def folder(self, folder: str, user: str = "alice@example.test") -> dict[int, dict[bytes, Any]]:
        """Every message of a folder: flags, internal date, the whole message (PEEK)."""
        with self.imap(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return {}
            return dict(client.fetch(uids, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"]))


def mailbox_settings(**changes: Any) -> MailboxSettings:
    # 30 s: the wait ends as soon as every copy is filed, and Postfix's filing of the copies
    # through Dovecot's LMTP has taken more than 8 s with the whole suite on two cores.
    base = MailboxSettings(
        reconcile_delay=timedelta(0), sent_wait=timedelta(seconds=30), poll_interval=timedelta(1)
    )
    import dataclasses

    return dataclasses.replace(base, **changes)


def make_stack(
    database: Database, database_url: str, tmp_path: Path, **server_options: Any
) -> Iterator[Stack]:
    room = Postroom(settings_with_keys(database_url, mailbox=mailbox_settings()), database=database)
    servers = start_mail_servers(tmp_path / "mail", users=USERS, **server_options)
    try:
        yield Stack(room, servers, tmp_path)
    finally:
        servers.stop()


@pytest.fixture
def stack(database: Database, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    yield from make_stack(database, database_url, tmp_path)


def configure(stack: Stack, **mailbox: Any) -> None:
    stack.room.configure(
        stack.room.settings.clone(mailbox=mailbox_settings(**mailbox)),
        database=stack.room.database,
    )


def send_and_deliver(stack: Stack, email: Any, *, sent_copies: int | None = None) -> int:
    """Send ``email`` and deliver its copies, then wait until the server filed them all in
    Sent; its reconciliation is not run (``reconcile_delay`` is an hour): the test runs it."""
    from postroom.store.models import DeliveryRow

    configure(
        stack,
        reconcile_delay=timedelta(hours=1),
        sent_cleanup=stack.room.settings.mailbox.sent_cleanup,
    )
    result = stack.room.send(email)
    stats = stack.room.worker(concurrency=1).drain(timeout=60)
    assert not stats.errors, stats.errors
    with stack.room.database.transaction() as tx:
        from sqlalchemy import select

        ids = list(
            tx.execute(
                select(DeliveryRow.message_id).where(DeliveryRow.email_id == result.email_id)
            ).scalars()
        )
    for mid in ids[: sent_copies if sent_copies is not None else len(ids)]:
        stack.servers.wait_for_mail("alice@example.test", "Sent", message_id=mid)
    return result.email_id


def run_reconcile(room: Postroom, email_id: int, opener: Any = None, attempts: int = 1) -> None:
    from postroom.jobs.registry import JobContext
    from postroom.mailbox.jobs import MailboxJobs

    MailboxJobs(opener).reconcile(JobContext(room, room.clock(), attempts), {"email_id": email_id})


# -- an email with To, Cc, Bcc, HTML and an attachment, and the state of acceptance 1 ----

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
