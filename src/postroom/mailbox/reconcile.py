"""Sent folder reconciliation of one email: the provider's copies out, one clean copy in.

Sans-IO in spirit: :func:`reconcile` talks only to an :class:`ImapSession` and reports
progress through a callback; the job that loads the email and stores what was learned is in
:mod:`postroom.mailbox.jobs`. The steps, and the commands each costs after login:

1. ``SELECT`` Sent (its UIDVALIDITY is checked against the one learned; UIDNEXT says where
   the newest messages are).
2. ``UID FETCH`` of the header fields ``BODY.PEEK[HEADER.FIELDS (MESSAGE-ID FROM TO CC
   X-POSTROOM-EMAIL)]`` (PEEK: nothing is marked \\Seen) of a window of UIDs around UIDNEXT
   (:func:`_window`): the copies were filed moments ago, so they are among the newest. Each
   is known by its Message-ID or, where the provider replaced that, by postroom's
   ``X-Postroom-Email`` header; the clean copy (a run killed after appending) by its own; the
   From, To and Cc come as the provider stored them.
3. Only when the window misses copies: ``UID SEARCH`` for all the email's Message-IDs and,
   until the account has shown which works, the ``X-Postroom-Email`` header, as OR chains
   (:mod:`postroom.mailbox.search`), and a header FETCH of what it found outside the window.
   Copies that are not there yet are waited for a bounded time (``mailbox.sent_wait_seconds``),
   fetching the window again after 1, 1, 2, 4... seconds; a server that filed nothing by then
   is remembered as one that files nothing, and its later emails only get the append.
4. Removal of the provider's copies, only those UIDs, never a plain EXPUNGE (RFC 3501's
   EXPUNGE removes every \\Deleted message of the folder, the user's own too):
   - generic server, ``sent_cleanup = "delete"`` (default): ``UID STORE +FLAGS.SILENT
     (\\Deleted)`` then ``UID EXPUNGE`` (RFC 4315) of those UIDs: gone for good, nothing left
     in Trash;
   - ``sent_cleanup = "trash"``, or no UIDPLUS: ``UID MOVE`` to Trash when MOVE is offered
     (RFC 6851), else ``UID COPY`` to Trash, \\Deleted and ``UID EXPUNGE``;
   - Gmail (``X-GM-EXT-1``): deleting from a label only archives (GMAIL-IMAP.md fact 15), so
     ``UID MOVE`` to the \\Trash folder, then ``SELECT`` Trash and ``UID STORE \\Deleted`` of
     the UIDs its COPYUID named (fact 20; by X-GM-MSGID when no COPYUID came), and
     ``UID EXPUNGE`` only when Gmail did not expunge them at once itself (fact 16).
5. ``APPEND`` of one clean copy to Sent, ``(\\Seen)``, INTERNALDATE = the send time, unless
   step 2 found it there already (a run that was killed after appending).

So a generic server costs 5 commands per email (SELECT, UID FETCH, UID STORE, UID EXPUNGE,
APPEND); Gmail costs 6 (7 when its auto-expunge is turned off); a server known to file
nothing costs 3 (SELECT, UID FETCH, APPEND). Killed at any point, a new run ends in the same
state: the provider's copies are found again where they are (Sent, or Gmail's Trash when
the run died between the move and the delete there), and the clean copy by its Message-ID.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32

from postroom.compose.template import Template
from postroom.errors import MailboxError
from postroom.mailbox.cleancopy import build_clean_copy
from postroom.mailbox.facts import MailboxFacts
from postroom.mailbox.search import chunked, email_keys
from postroom.mailbox.session import Fetched, ImapSession
from postroom.store.inbound import normal_message_id

FIELDS = ("Message-ID", "From", "To", "Cc", "X-Postroom-Email")
SEEN = "\\Seen"
DELETED = "\\Deleted"
CLEANUP_MODES = ("delete", "trash", "off")

#: Progress recorded on the email (``emails.sent_folder``) between steps.
REMOVING = "removing"
REMOVED = "removed"
CLEAN = "clean"


@dataclass(frozen=True, slots=True)
class EmailToReconcile:
    """What the reconciliation needs of one email (loaded by the job)."""

    email_id: int
    token: str
    clean_id: str
    copy_ids: tuple[str, ...]
    sent_at: datetime
    template: Template
    progress: str | None = None


@dataclass(slots=True)
class Outcome:
    """What one run did and learned."""

    facts: MailboxFacts
    removed: int = 0
    appended: bool = False
    clean_found: bool = False
    missing: int = 0
    searches: int = 0
    notes: list[str] = field(default_factory=list)


def _parse(fetched: Fetched) -> tuple[str | None, str | None]:
    message = BytesHeaderParser(policy=compat32).parsebytes(fetched.header)
    mid = message.get("Message-ID")
    token = message.get("X-Postroom-Email")
    return (normal_message_id(str(mid)) if mid else None, str(token).strip() if token else None)


#: The ``2 x copies + WINDOW_EXTRA`` UIDs below Sent's UIDNEXT (the newest messages) and as
#: many above it (copies filed while the run waits) are fetched in one command; past
#: WINDOW_MAX_COPIES copies they are searched for instead (OR chains of their Message-IDs).
WINDOW_EXTRA = 20
WINDOW_MAX_COPIES = 100


def _window(uidnext: int | None, copies: int) -> tuple[int, int] | None:
    """The first and last UID of the window, or None to search instead."""
    if uidnext is None or copies > WINDOW_MAX_COPIES:
        return None
    span = 2 * copies + WINDOW_EXTRA
    return max(1, uidnext - span), uidnext - 1 + span


def _copies_in(fetched: dict[int, Fetched], email: EmailToReconcile) -> int:
    """How many of ``fetched`` are provider copies of ``email`` (by Message-ID or token)."""
    wanted = set(email.copy_ids)
    count = 0
    for item in fetched.values():
        mid, token = _parse(item)
        if mid in wanted or (token == email.token and mid != normal_message_id(email.clean_id)):
            count += 1
    return count


class Reconciler:
    """Runs the steps above for one email on one session."""

    def __init__(
        self,
        session: ImapSession,
        facts: MailboxFacts,
        *,
        mode: str = "delete",
        wait_seconds: float = 10.0,
        progress: Callable[[str], None] = lambda step: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if mode not in CLEANUP_MODES:
            raise MailboxError(
                f"mailbox.sent_cleanup is {mode!r}", f"use one of {', '.join(CLEANUP_MODES)}"
            )
        self.session = session
        self.facts = facts
        self.mode = mode
        self.wait_seconds = wait_seconds
        self.progress = progress
        self.sleep = sleep

    # -- the steps ---------------------------------------------------------------------------

    def run(self, email: EmailToReconcile) -> Outcome:
        session, facts = self.session, self.facts
        caps = session.capabilities
        sent = facts.sent
        selected = session.select(sent)
        known = facts.uidvalidity.get(sent)
        if known != selected.uidvalidity:
            # A new folder under the old name: nothing learned about it holds any more.
            facts = facts.learned(
                uidvalidity={**facts.uidvalidity, sent: selected.uidvalidity},
                files_sent=None if known is not None else facts.files_sent,
                search_key=None if known is not None else facts.search_key,
            )
        outcome = Outcome(facts)
        # A run that got as far as removing found the copies already: what is not there now was
        # removed by it, so nothing is waited for.
        expect = email.progress not in (REMOVING, REMOVED) and facts.files_sent is not False
        ids = [*email.copy_ids, email.clean_id]
        token = None if facts.search_key == "message-id" else email.token
        if facts.search_key == "header":
            ids = [email.clean_id]
        chains = chunked(email_keys(ids, token))
        window = _window(selected.uidnext, len(email.copy_ids))
        delays = iter([1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
        waited = 0.0

        def waiting(have: int) -> bool:
            return expect and have < len(email.copy_ids) and waited < self.wait_seconds

        fetched: dict[int, Fetched]
        if window is not None:
            # The copies were filed moments ago: they are among the folder's newest messages
            # (or arrive next), whose header fields one UID FETCH brings: no SEARCH.
            fetched = session.fetch_headers_between(*window, FIELDS, gmail_ids=caps.gmail)
            older: dict[int, Fetched] = {}
            if facts.files_sent is not False and _copies_in(fetched, email) < len(email.copy_ids):
                # Some are older than the window (much mail filed since), not filed yet, or
                # never filed: one SEARCH finds the first kind; the window shows the second.
                extra = [uid for uid in self._search(chains, outcome) if uid not in fetched]
                if extra:
                    older = session.fetch_headers(extra, FIELDS, gmail_ids=caps.gmail)
                fetched |= older
            while waiting(_copies_in(fetched, email)):
                delay = min(next(delays, 32.0), self.wait_seconds - waited)
                self.sleep(delay)
                waited += delay
                fetched = older | session.fetch_headers_between(
                    *window, FIELDS, gmail_ids=caps.gmail
                )
        else:
            found = self._search(chains, outcome)
            while waiting(len(found)):
                delay = min(next(delays, 32.0), self.wait_seconds - waited)
                self.sleep(delay)
                waited += delay
                found = self._search(chains, outcome)
            fetched = session.fetch_headers(found, FIELDS, gmail_ids=caps.gmail) if found else {}
        clean: list[int] = []
        copies: list[int] = []
        by_id = by_header = 0
        wanted = set(email.copy_ids)
        for uid, item in sorted(fetched.items()):
            mid, their_token = _parse(item)
            if mid == normal_message_id(email.clean_id):
                clean.append(uid)
            elif mid in wanted:
                copies.append(uid)
                by_id += 1
            elif their_token == email.token:
                copies.append(uid)
                by_header += 1
        if copies:
            facts = facts.learned(files_sent=True, search_key="message-id" if by_id else "header")
        elif expect and facts.files_sent is None and not clean:
            facts = facts.learned(files_sent=False)
            outcome.notes.append("the server filed no copy in Sent: only the append is done")
        outcome.facts = facts
        outcome.missing = max(0, len(email.copy_ids) - len(copies)) if expect else 0
        provider_header = fetched[copies[0]].header if copies else None
        if copies and self.mode != "off":
            self.progress(REMOVING)
            outcome.removed = self._remove(copies, fetched)
        elif caps.gmail and email.progress == REMOVING and facts.trash:
            # Killed between the move to Trash and the delete there: finish it.
            outcome.removed = self._purge_trash_by_id(email)
        self.progress(REMOVED)
        if clean:
            outcome.clean_found = True
            if len(clean) > 1:
                self._delete_in_place(clean[1:])
        else:
            data = build_clean_copy(email.template, email.clean_id, provider_header)
            limit = caps.append_limit
            if limit is not None and len(data) > limit:
                raise MailboxError(
                    f"the clean copy is {len(data):,} bytes, over the server's APPENDLIMIT "
                    f"of {limit:,}",
                    "nothing was appended; send smaller attachments",
                )
            session.append(sent, data, [SEEN], email.sent_at)
            outcome.appended = True
        self.progress(CLEAN)
        return outcome

    def _search(self, chains: Sequence[bytes], outcome: Outcome) -> list[int]:
        found: set[int] = set()
        for chain in chains:
            found.update(self.session.search(chain))
            outcome.searches += 1
        return sorted(found)

    def _remove(self, uids: list[int], fetched: dict[int, Fetched]) -> int:
        session = self.session
        caps = session.capabilities
        if caps.gmail:
            trash = self._trash()
            moved = session.move(uids, trash) if caps.move else session.copy(uids, trash)
            session.select(trash)
            if moved is not None:
                targets = list(moved.target)
            else:
                ids = [n for u in uids if (n := fetched[u].gm_msgid) is not None]
                targets = self._find_gmail(ids)
            if targets:
                expunged = session.add_flags(targets, [DELETED])
                if expunged < len(targets):
                    session.uid_expunge(targets)
            return len(uids)
        if self.mode == "delete" and caps.uidplus:
            self._delete_in_place(uids)
            return len(uids)
        trash = self._trash()
        if caps.move:
            session.move(uids, trash)
        else:
            session.copy(uids, trash)
            session.add_flags(uids, [DELETED])
            if caps.uidplus:
                session.uid_expunge(uids)
            # Without UIDPLUS they stay flagged \Deleted in Sent until the user's next
            # expunge: a plain EXPUNGE would take the user's own \Deleted mail with them.
        return len(uids)

    def _delete_in_place(self, uids: list[int]) -> None:
        session = self.session
        if not session.capabilities.uidplus:
            raise MailboxError(
                "the server offers no UIDPLUS, so postroom cannot expunge only its own messages",
                'set mailbox.sent_cleanup = "trash" for this server',
            )
        session.add_flags(uids, [DELETED])
        session.uid_expunge(uids)

    def _trash(self) -> str:
        if self.facts.trash is None:
            raise MailboxError(
                "the account's IMAP server lists no Trash folder",
                "enable 'Show in IMAP' for Trash at the provider, or use "
                'mailbox.sent_cleanup = "delete"',
            )
        return self.facts.trash

    def _find_gmail(self, gm_ids: Sequence[int]) -> list[int]:
        found: set[int] = set()
        keys = [f"X-GM-MSGID {n}".encode() for n in gm_ids]
        for chain in chunked(keys):
            found.update(self.session.search(chain))
        return sorted(found)

    def _purge_trash_by_id(self, email: EmailToReconcile) -> int:
        trash = self._trash()
        self.session.select(trash)
        found: set[int] = set()
        for chain in chunked(email_keys(list(email.copy_ids), None)):
            found.update(self.session.search(chain))
        if found:
            targets = sorted(found)
            expunged = self.session.add_flags(targets, [DELETED])
            if expunged < len(targets):
                self.session.uid_expunge(targets)
        return len(found)
