"""Acceptance 4: IMAP commands after login per email, counted on the wire (a proxy between
postroom and Dovecot) and on the Gmail fake's sessions, for emails with 1 and with 20
recipients, the account's first email included: folder roles and capabilities were learned
when the account was set up (``discover_account``, what ``postroom accounts test`` runs), so
no email pays for LIST or CAPABILITY.
"""

from __future__ import annotations

import pytest

from postroom.compose import Email, Recipient
from postroom.mailbox.fake import GmailFake
from postroom.mailbox.jobs import discover_account
from support.imapproxy import ImapProxy
from support.mailboxes import Stack, run_reconcile, send_and_deliver

pytestmark = pytest.mark.mailservers

BUDGET = 6


def email(recipients: int) -> Email:
    return Email(
        account="alice",
        to=[Recipient("bob@example.test", "Bob", user=1)],
        bcc=[Recipient(f"r{n}@example.test", user=10 + n) for n in range(recipients - 1)],
        subject=f"To {recipients}",
        text="Hello https://example.test/a",
    )


def test_dovecot_first_email_and_every_email_within_six(stack: Stack) -> None:
    proxy = ImapProxy(stack.servers.host, stack.servers.imap_port)
    try:
        stack.add_account(imap_port=proxy.port)
        discover_account(stack.room, stack.account())
        counts = {}
        for recipients in (1, 20):
            email_id = send_and_deliver(stack, email(recipients))
            before = len(proxy.connections)
            run_reconcile(stack.room, email_id)
            (connection,) = proxy.connections[before:]
            commands = [c for c in connection.after_login() if c != "LOGOUT"]
            counts[recipients] = commands
        print("commands after login per email (Dovecot):", counts)
        for recipients, commands in counts.items():
            assert len(commands) <= BUDGET, (recipients, commands)
            assert commands == [
                "SELECT",
                "UID FETCH",
                "UID STORE",
                "UID EXPUNGE",
                "APPEND",
            ]
    finally:
        proxy.close()


def test_gmail_fake_counts(stack: Stack) -> None:
    """The same emails against the Gmail fake. Gmail needs one more step than a generic
    server: deleting in Sent only archives there, so the copies go to Trash and are deleted
    in Trash, which must be selected (SELECT Trash): 6 commands, the budget."""
    fake = GmailFake()
    stack.add_account()
    discover_account(stack.room, stack.account(), fake.opener)
    counts = {}
    for recipients in (1, 20):
        email_id = send_and_deliver(stack, email(recipients))
        for raw in stack.servers.wait_for_mail("alice@example.test", "Sent", count=1):
            fake.submit(raw)
        run_reconcile(stack.room, email_id, fake.opener)
        counts[recipients] = fake.sessions[-1].commands
        with stack.imap() as client:  # start the next email with Dovecot's Sent empty
            client.select_folder("Sent")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.uid_expunge(uids)
    print("commands after login per email (Gmail fake):", counts)
    for commands in counts.values():
        assert len(commands) <= BUDGET, commands
        assert commands == [
            "SELECT",
            "UID FETCH",
            "UID MOVE",
            "SELECT",
            "UID STORE",
            "APPEND",
        ]
