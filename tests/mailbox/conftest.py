"""Fixtures for the Mailbox part: real Postfix + Dovecot (Postfix files a copy of every
submitted message in the sender's Sent, as Gmail does), an application with an account that
has SMTP and IMAP settings, and helpers to read what IMAP holds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.model import Account
from postroom.accounts.service import add_account, get_account
from postroom.app import Postroom
from postroom.settings import MailboxSettings
from postroom.store import Database
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
    base = MailboxSettings(
        reconcile_delay=timedelta(0), sent_wait=timedelta(seconds=8), poll_interval=timedelta(1)
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
