"""Acceptance 3: reconciliation killed after each step in turn (each IMAP command is a step:
its effect on the server has happened, nothing after it has), then run again as the queue
would (the job's next attempt): every rerun ends in the state of acceptance 1, exactly one
clean copy and no provider copy, on Dovecot and on the Gmail fake."""

from __future__ import annotations

from typing import Any

import pytest

from postroom.compose import Email
from postroom.mailbox.fake import SENT, TRASH, GmailFake
from postroom.mailbox.jobs import discover_account
from postroom.mailbox.login import AccountLogin
from support.mailboxes import Stack, run_reconcile, send_and_deliver

pytestmark = pytest.mark.mailservers


class Killed(Exception):
    """Stands for the worker process dying right after a command."""


class Dying:
    """Passes commands to a real session and dies after the ``after``-th."""

    def __init__(self, inner: Any, after: int) -> None:
        self.inner = inner
        self.after = after
        self.capabilities = inner.capabilities
        self.commands = inner.commands

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name == "close":
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if len(self.inner.commands) >= self.after:
                raise Killed(f"killed after {self.inner.commands[-1]}")
            return result

        return call


def email(n: int) -> Email:
    from support.mailboxes import the_email

    return the_email(f"resume {n}")


def dying_opener(base: Any, after: int) -> Any:
    def open_(account: Any, known: Any) -> Any:
        return Dying(base(account, known), after)

    return open_


def kill_and_rerun(stack: Stack, base: Any, steps: int, check: Any, deliver: Any) -> list[str]:
    seen = []
    for after in range(1, steps + 1):
        email_id = deliver(after)
        with pytest.raises(Killed) as killed:
            run_reconcile(stack.room, email_id, dying_opener(base, after))
        seen.append(str(killed.value))
        run_reconcile(stack.room, email_id, base, attempts=2)
        check(email_id)
    return seen


def test_dovecot_rerun_after_each_step(stack: Stack) -> None:
    from support.mailboxes import check_clean_sent, unrelated_mail

    stack.add_account()
    unrelated_mail(stack)
    discover_account(stack.room, stack.account())

    def deliver(n: int) -> int:
        return send_and_deliver(stack, email(n))

    def check(email_id: int) -> None:
        check_clean_sent(stack, email_id)

    seen = kill_and_rerun(stack, AccountLogin(stack.room), 5, check, deliver)
    assert [s.split()[-1] for s in seen] == [
        "SELECT",
        "FETCH",
        "STORE",
        "EXPUNGE",
        "APPEND",
    ]


def test_gmail_rerun_after_each_step(stack: Stack) -> None:
    fake = GmailFake()
    stack.add_account()
    discover_account(stack.room, stack.account(), fake.opener)
    tokens: dict[int, str] = {}

    def deliver(n: int) -> int:
        email_id = send_and_deliver(stack, email(n))
        with stack.imap() as client:
            client.select_folder("Sent")
            uids = client.search("ALL")
            for raw in client.fetch(uids, ["BODY.PEEK[]"]).values():
                fake.submit(raw[b"BODY[]"])
            client.delete_messages(uids)
            client.uid_expunge(uids)
        from sqlalchemy import select

        from postroom.store.models import EmailRow

        with stack.room.database.transaction() as tx:
            tokens[email_id] = tx.execute(
                select(EmailRow.token).where(EmailRow.id == email_id)
            ).scalar_one()
        return email_id

    def check(email_id: int) -> None:
        token = tokens[email_id].encode()
        in_sent = [m for m in fake.in_folder(SENT) if token in m.raw]
        assert len(in_sent) == 1 and "\\Seen" in in_sent[0].flags
        # No provider copy anywhere in the account: not in Trash, not archived in All Mail.
        rest = [m for m in fake.messages.values() if token in m.raw and m is not in_sent[0]]
        assert rest == [], [sorted(m.labels) for m in rest]
        assert not [m for m in fake.in_folder(TRASH) if token in m.raw]

    seen = kill_and_rerun(stack, fake.opener, 6, check, deliver)
    assert [s.split()[-1] for s in seen] == [
        "SELECT",
        "FETCH",
        "MOVE",
        "SELECT",
        "STORE",
        "APPEND",
    ]
