"""The Mailbox part's work on the durable queue.

``sent-reconcile`` (payload ``email_id``): once every copy of an email is final and one was
sent, the worker queues it (unique per email) to run ``mailbox.reconcile_delay`` after the
last copy went out; it runs :class:`~postroom.mailbox.reconcile.Reconciler` on a session of
its own and records what it learned on the account. ``mailbox-discover`` (payload
``account_id``): LIST and the folders' UIDVALIDITY, for an account whose facts are unknown or
stale; the reconciliation never spends its commands on that (``postroom accounts test`` does
the same when the account is set up).

A provider may file a copy later than ``mailbox.sent_wait`` (a queue backed up, a greylisted
hop of its own): when the reconciliation removed fewer copies than were sent from an account
known to file them, one more run (payload ``sweep``: no waiting, the clean copy is found, not
appended again) is queued :data:`SWEEP_AFTER` later, so a late copy does not stay in Sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from postroom.accounts.model import Account
from postroom.compose.template import Template
from postroom.errors import ImapFailed, MailboxError
from postroom.jobs.registry import JobContext, RetryLater
from postroom.mailbox.facts import STATE_KEY, MailboxFacts, discover
from postroom.mailbox.login import AccountLogin, SessionOpener
from postroom.mailbox.reconcile import CLEAN, EmailToReconcile, Outcome, Reconciler
from postroom.store import mailbox as store
from postroom.store import queue
from postroom.store.accounts import get_account, merge_state

if TYPE_CHECKING:
    from postroom.app import Postroom

log = logging.getLogger("postroom.mailbox")

RECONCILE = "sent-reconcile"
DISCOVER = "mailbox-discover"
SWEEP_AFTER = timedelta(minutes=10)


def discover_account(
    room: Postroom, account: Account, opener: SessionOpener | None = None
) -> MailboxFacts:
    """Learn the account's folders and capabilities (one session: LIST, SELECT Sent, SELECT
    Trash) and keep them on the account."""
    opener = opener or AccountLogin(room)
    previous = MailboxFacts.from_state(account.state)
    session = opener(account, previous.capabilities if previous else None)
    try:
        facts = discover(session, now=room.clock(), previous=previous)
    finally:
        session.close()
    store_facts(room, account, facts)
    return facts


def store_facts(room: Postroom, account: Account, facts: MailboxFacts) -> None:
    with room.database.transaction() as tx:
        merge_state(tx, account.id, {STATE_KEY: facts.to_json()}, now=room.clock())


def schedule_reconciliations(room: Postroom) -> int:
    """Queue a reconciliation for each email that is ready for one; returns how many."""
    now = room.clock()
    delay = room.settings.mailbox.reconcile_delay
    queued = 0
    with room.database.transaction() as tx:
        for email_id, last_sent, has_imap in store.emails_to_reconcile(tx):
            if last_sent is None or not has_imap:
                # Nothing was sent, or the account has no IMAP: nothing to reconcile, and the
                # email is not looked at again.
                store.set_sent_folder(tx, email_id, "none", only_if="null")
                continue
            if not store.set_sent_folder(tx, email_id, "queued", only_if="null"):
                continue
            queue.enqueue_job(
                tx,
                kind=RECONCILE,
                payload={"email_id": email_id},
                now=now,
                run_at=max(now, last_sent + delay),
                unique_key=f"{RECONCILE}:{email_id}",
                max_attempts=8,
            )
            queued += 1
    return queued


class MailboxJobs:
    """The job functions, bound to how sessions are opened (``opener``: tests pass a fake
    or a connection through a counting proxy)."""

    def __init__(self, opener: SessionOpener | None = None) -> None:
        self._opener = opener

    def opener(self, room: Postroom) -> SessionOpener:
        return self._opener or AccountLogin(room)

    def discover(self, ctx: JobContext, payload: Mapping[str, Any]) -> None:
        with ctx.room.database.transaction() as tx:
            account = get_account(tx, id=int(payload["account_id"]))
        if account is not None and account.imap_host:
            try:
                discover_account(ctx.room, account, self.opener(ctx.room))
            except ImapFailed as exc:
                if exc.transient:
                    raise RetryLater(str(exc), timedelta(minutes=2)) from exc
                raise

    def reconcile(self, ctx: JobContext, payload: Mapping[str, Any]) -> None:
        room = ctx.room
        email_id = int(payload["email_id"])
        with room.database.transaction() as tx:
            loaded = store.load_email(tx, email_id)
            account = get_account(tx, id=loaded.account_id) if loaded else None
        if loaded is None or account is None:
            return
        if not account.imap_host:
            with room.database.transaction() as tx:
                store.set_sent_folder(tx, email_id, "none")
            return
        sweep = bool(payload.get("sweep"))
        if loaded.sent_folder == CLEAN and not sweep:
            return
        opener = self.opener(room)
        facts = MailboxFacts.from_state(account.state)
        try:
            if facts is None:
                facts = discover_account(room, account, opener)
            outcome = self._run(room, account, loaded, facts, opener, wait=not sweep)
        except ImapFailed as exc:
            if exc.transient:
                raise RetryLater(str(exc), timedelta(minutes=1)) from exc
            raise
        except MailboxError:
            # The folder may have been renamed or recreated: learn the folders again, retry.
            with room.database.transaction() as tx:
                queue.enqueue_job(
                    tx,
                    kind=DISCOVER,
                    payload={"account_id": account.id},
                    now=room.clock(),
                    unique_key=f"{DISCOVER}:{account.id}:{room.clock().date()}",
                )
            raise
        store_facts(room, account, outcome.facts)
        if outcome.missing and outcome.facts.files_sent and not sweep:
            with room.database.transaction() as tx:
                queue.enqueue_job(
                    tx,
                    kind=RECONCILE,
                    payload={"email_id": email_id, "sweep": True},
                    now=room.clock(),
                    run_at=room.clock() + SWEEP_AFTER,
                    unique_key=f"{RECONCILE}:{email_id}:sweep",
                    max_attempts=8,
                )
            log.info(
                "email %d: %d provider copies not in Sent yet; looked for again in %s",
                email_id,
                outcome.missing,
                SWEEP_AFTER,
            )
        log.info(
            "email %d: Sent reconciled on %s (%d provider copies removed, clean copy %s)",
            email_id,
            account.name,
            outcome.removed,
            "appended" if outcome.appended else "there already",
        )

    def _run(
        self,
        room: Postroom,
        account: Account,
        loaded: store.EmailForSent,
        facts: MailboxFacts,
        opener: SessionOpener,
        *,
        wait: bool = True,
    ) -> Outcome:
        email = EmailToReconcile(
            loaded.email_id,
            loaded.token,
            loaded.message_id,
            loaded.copy_ids,
            loaded.first_sent or room.clock(),
            Template.from_bytes(loaded.template),
            loaded.sent_folder,
        )

        def progress(step: str) -> None:
            with room.database.transaction() as tx:
                store.set_sent_folder(tx, loaded.email_id, step)

        settings = room.settings.mailbox
        session = opener(account, facts.capabilities)
        try:
            reconciler = Reconciler(
                session,
                facts,
                mode=settings.sent_cleanup,
                wait_seconds=settings.sent_wait.total_seconds() if wait else 0.0,
                progress=progress,
            )
            return reconciler.run(email)
        finally:
            session.close()


def register(registry: Any, opener: SessionOpener | None = None) -> MailboxJobs:
    jobs = MailboxJobs(opener)
    registry.add(RECONCILE, jobs.reconcile)
    registry.add(DISCOVER, jobs.discover)
    return jobs
