"""Watching an IMAP mailbox: ``postroom worker`` polls each configured mailbox (IDLE where the
server offers it, RFC 2177; a timed poll otherwise) and hands every new message to
:func:`~postroom.mailbox.inbox.handle_message`.

Several pollers may watch one mailbox (workers on several hosts): each message is claimed in
the database by (account, folder, UIDVALIDITY, UID) and by its Message-ID before it is
fetched, so exactly one poller handles it; the others skip it. One poll costs, after the
SELECT: a ``UID SEARCH UID n:*`` for what arrived since the last poll, a header FETCH
(Message-IDs for the claims), a ``BODY.PEEK[]`` FETCH of the claimed messages (PEEK: the
sender's mail stays unread), and the configured keyword or move afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any

from postroom.accounts.model import Account
from postroom.errors import ImapFailed, MailboxError
from postroom.mailbox.capabilities import ImapCapabilities
from postroom.mailbox.facts import MailboxFacts
from postroom.mailbox.inbox import handle_message
from postroom.mailbox.login import AccountLogin, SessionOpener
from postroom.mailbox.session import ImapSession
from postroom.store import mailbox as store
from postroom.store.accounts import get_account
from postroom.store.inbound import normal_message_id

if TYPE_CHECKING:
    from postroom.app import Postroom

log = logging.getLogger("postroom.mailbox")

CLAIM_LEASE = timedelta(minutes=10)
WATCH_KEY = "watch"


def merge_watch_state(
    tx: Any, account_id: int, folder: str, uidvalidity: int, last_uid: int, *, now: Any
) -> None:
    """Remember the highest UID looked at (an optimisation only: the claims decide), kept
    on the account so a restarted worker goes on from there."""
    from postroom.store.accounts import get_account as load
    from postroom.store.accounts import merge_state

    account = load(tx, id=account_id)
    if account is None:
        return
    watched = dict(account.state.get(WATCH_KEY) or {})
    previous = watched.get(folder) or {}
    if (
        previous.get("uidvalidity") == uidvalidity
        and int(previous.get("last_uid") or 0) >= last_uid
    ):
        return
    watched[folder] = {"uidvalidity": uidvalidity, "last_uid": last_uid}
    merge_state(tx, account_id, {WATCH_KEY: watched}, now=now)


@dataclass(frozen=True, slots=True)
class WatchedMailbox:
    account: str
    folder: str = "INBOX"

    @classmethod
    def parse(cls, text: str) -> WatchedMailbox:
        account, _, folder = text.partition(":")
        return cls(account.strip(), folder.strip() or "INBOX")

    def __str__(self) -> str:
        return f"{self.account}:{self.folder}"


@dataclass(slots=True)
class PollStats:
    polls: int = 0
    handled: int = 0
    skipped: int = 0


class MailboxPoller:
    """Polls one mailbox for one worker; :meth:`poll` once, or :meth:`run` until stopped."""

    def __init__(
        self,
        room: Postroom,
        mailbox: WatchedMailbox,
        *,
        worker: str,
        opener: SessionOpener | None = None,
    ) -> None:
        self.room = room
        self.mailbox = mailbox
        self.worker = worker
        self.opener = opener or AccountLogin(room)
        self.stats = PollStats()
        self._last_uid: dict[int, int] = {}

    def _account(self) -> Account:
        with self.room.database.transaction() as tx:
            account = get_account(tx, name=self.mailbox.account)
        if account is None:
            raise MailboxError(
                f"mailbox.watch names account {self.mailbox.account!r}, which does not exist",
                "add it (postroom accounts add) or fix mailbox.watch",
            )
        return account

    def open(self) -> tuple[Account, ImapSession]:
        account = self._account()
        facts = MailboxFacts.from_state(account.state)
        known: ImapCapabilities | None = facts.capabilities if facts else None
        return account, self.opener(account, known)

    def poll(self, account: Account, session: ImapSession) -> int:
        """Handle what arrived since the last poll; returns how many messages this poller
        handled."""
        room, folder = self.room, self.mailbox.folder
        settings = room.settings.mailbox
        selected = session.select(folder)
        validity = selected.uidvalidity
        self.stats.polls += 1
        if validity not in self._last_uid:
            seen = (account.state.get(WATCH_KEY) or {}).get(folder) or {}
            if seen.get("uidvalidity") == validity:
                self._last_uid[validity] = int(seen.get("last_uid") or 0)
        if validity in self._last_uid:
            start = self._last_uid[validity] + 1
            uids = [u for u in session.search(f"UID {start}:*".encode()) if u >= start]
        else:
            # First look at this folder (or it was recreated): what arrived since the account
            # was added, not the years of mail a sender's inbox already holds.
            since = account.created_at.strftime("%d-%b-%Y")
            uids = session.search(f"SINCE {since}".encode())
            self._last_uid[validity] = 0
        if not uids:
            return 0
        with room.database.transaction() as tx:
            done = store.done_uids(tx, account.id, folder, validity, uids)
        fresh = [u for u in uids if u not in done]
        handled = 0
        if fresh:
            heads = session.fetch_headers(fresh, ("Message-ID",))
            claimed: list[int] = []
            now = room.clock()
            for uid in fresh:
                header = heads[uid].header if uid in heads else b""
                value = BytesHeaderParser(policy=compat32).parsebytes(header).get("Message-ID")
                message_id = normal_message_id(str(value))[:998] if value else None
                with room.database.transaction() as tx:
                    won = store.claim_message(
                        tx,
                        account_id=account.id,
                        folder=folder,
                        uidvalidity=validity,
                        uid=uid,
                        message_id=message_id,
                        worker=self.worker,
                        now=now,
                        lease=CLAIM_LEASE,
                    )
                if won:
                    claimed.append(uid)
                else:
                    self.stats.skipped += 1
            if claimed:
                raws = session.fetch_raw(claimed)
                for uid in claimed:
                    outcome = handle_message(room, raws.get(uid, b""), mailbox=str(self.mailbox))
                    with room.database.transaction() as tx:
                        store.finish_claim(
                            tx,
                            account_id=account.id,
                            folder=folder,
                            uidvalidity=validity,
                            uid=uid,
                            outcome=outcome,
                            now=room.clock(),
                        )
                    handled += 1
                if settings.processed_keyword:
                    session.add_flags(claimed, [settings.processed_keyword])
                if settings.move_processed_to:
                    caps = session.capabilities
                    if caps.move:
                        session.move(claimed, settings.move_processed_to)
                    else:
                        session.copy(claimed, settings.move_processed_to)
                        session.add_flags(claimed, ["\\Deleted"])
                        session.uid_expunge(claimed)
        if max(uids) > self._last_uid.get(validity, 0):
            self._last_uid[validity] = max(uids)
            with room.database.transaction() as tx:
                merge_watch_state(tx, account.id, folder, validity, max(uids), now=room.clock())
        self.stats.handled += handled
        return handled

    def run(self, stop: threading.Event) -> PollStats:
        """Poll, wait (IDLE or sleep), poll again, until ``stop``; reconnects after a
        failure, waiting a little longer each time (at most the poll interval)."""
        interval = self.room.settings.mailbox.poll_interval.total_seconds()
        idle = self.room.settings.mailbox.idle
        backoff = 1.0
        while not stop.is_set():
            try:
                account, session = self.open()
            except (ImapFailed, MailboxError) as exc:
                log.warning("mailbox %s: %s", self.mailbox, exc)
                stop.wait(min(backoff, interval))
                backoff = min(backoff * 2, max(interval, 1.0))
                continue
            backoff = 1.0
            try:
                while not stop.is_set():
                    self.poll(account, session)
                    if idle and session.capabilities.idle:
                        # Short IDLE rounds, so a stop request is seen within a second or so.
                        session.wait(min(interval, 5.0))
                    else:
                        stop.wait(interval)
            except (ImapFailed, MailboxError, OSError) as exc:
                log.warning("mailbox %s: %s; reconnecting", self.mailbox, exc)
                time.sleep(0.1)
            finally:
                session.close()
        return self.stats
