"""The demo's Sent folder: the catcher account with IMAP settings for the private Dovecot,
the provider's part played by the demo (it files every submitted copy in Sent, as Gmail
does), and the check that reconciliation left exactly one clean copy."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from imapclient import IMAPClient

from postroom.accounts import AccountSecrets, Security
from postroom.accounts.service import add_account
from postroom.catcher.account import catcher_spec
from postroom.demo.site import FORUM_ADDRESS, HOST, Site

if TYPE_CHECKING:
    from postroom.demo.headless import Loop


def add_catcher_account(site: Site) -> None:
    """The ``catcher`` account: SMTP to the catcher, IMAP to the private Dovecot when there
    is one (its Sent folder is the sender's)."""
    spec = catcher_spec(FORUM_ADDRESS, HOST, site.catcher_port)
    secrets = AccountSecrets()
    if site.imap is not None:
        spec = dataclasses.replace(
            spec,
            imap_host=site.imap.host,
            imap_port=site.imap.port,
            imap_security=Security.NONE,
            imap_username=site.imap.user,
        )
        secrets = AccountSecrets(imap_password=site.imap.password)
    add_account(site.room.database, site.room.settings, spec, secrets, now=site.room.clock())


def _client(site: Site) -> IMAPClient:
    assert site.imap is not None
    client = IMAPClient(site.imap.host, site.imap.port, ssl=False, timeout=10)
    client.login(site.imap.user, site.imap.password)
    return client


def file_like_gmail(site: Site, raws: list[bytes]) -> None:
    """What Gmail does with every message submitted through its SMTP: a copy in Sent."""
    client = _client(site)
    try:
        for raw in raws:
            client.append("Sent", raw, flags=(b"\\Seen",), msg_time=datetime.now(UTC))
    finally:
        client.logout()


def sent_folder(site: Site) -> list[bytes]:
    client = _client(site)
    try:
        client.select_folder("Sent", readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return [bytes(item[b"BODY[]"]) for item in fetched.values()]
    finally:
        client.logout()


def reconcile_demo(loop: Loop, email_id: int, filed: int) -> str:
    """Run the worker until the email's reconciliation is done; say what Sent holds."""
    from sqlalchemy import select

    from postroom.demo.headless import check, wait_for
    from postroom.store.models import EmailRow

    def progress() -> str | None:
        loop.deliver()
        with loop.room.database.transaction() as tx:
            state = tx.scalar(select(EmailRow.sent_folder).where(EmailRow.id == email_id))
        return state if state == "clean" else None

    wait_for("the Sent folder reconciliation", progress, timeout=60)
    with loop.room.database.transaction() as tx:
        token = tx.scalar(select(EmailRow.token).where(EmailRow.id == email_id))
    assert token is not None
    # Every email of the account gets its clean copy; this step looks at the first one's.
    held = [raw for raw in sent_folder(loop.site) if token.encode() in raw]
    check(len(held) == 1, f"Sent holds {len(held)} messages of the email")
    clean = held[0]
    base = loop.room.settings.tracking.base_url.encode()
    check(base not in clean, "the copy in Sent still carries tracking URLs")
    return (
        f"the provider filed {filed} copies (as Gmail does); reconciliation removed them and "
        "appended one clean copy: no pixel, no tracked links"
    )
