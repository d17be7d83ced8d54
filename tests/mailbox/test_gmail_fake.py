"""Acceptance 2, Gmail: the whole path (``room.send``, ``postroom worker``'s scheduling and
job) against the Gmail-semantics fake, and the fake held to the real Gmail answers in
../shared/fixtures/gmail-imap/ (its capability line, its folder list).

What each step stands for at Gmail:
- the copies are filed in ``[Gmail]/Sent Mail`` by ``GmailFake.submit``: Gmail files every
  message submitted through smtp.gmail.com there (GMAIL-IMAP.md fact 21);
- folders are found by their RFC 6154 attributes, ``\\Sent`` and ``\\Trash`` (fact 4);
- the copies are moved to ``[Gmail]/Trash``, found there by the COPYUID of the tagged OK
  (fact 20), flagged \\Deleted there (Gmail dropped the flag in the move, fact 19) and so
  deleted for good (auto-expunge, fact 16; only Trash and Spam delete, fact 15);
- with auto-expunge turned off, a UID EXPUNGE of just those UIDs follows (fact 16);
- the clean copy is appended with APPEND, answered by APPENDUID (fact 23).
"""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from postroom.mailbox.capabilities import ImapCapabilities
from postroom.mailbox.fake import GMAIL_CAPABILITY, GMAIL_LIST, SENT, TRASH, GmailFake
from postroom.mailbox.folders import ListedFolder, Role, find_roles
from postroom.mailbox.jobs import discover_account
from support.mailboxes import PDF, Stack, configure, send

pytestmark = pytest.mark.mailservers

FIXTURES = Path("/work/shared/fixtures/gmail-imap")


def _fixture(name: str) -> str:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"the Gmail captures are not on this machine ({path})")
    return path.read_text(encoding="utf-8")


def test_the_fake_answers_as_gmail_did() -> None:
    capability = _fixture("mailkit__head_authenticate.txt").splitlines()[0]
    assert capability == f"* CAPABILITY {GMAIL_CAPABILITY}"
    listing = _fixture("google-docs__imap-extensions-examples.txt")
    lines = re.findall(r'^\* LIST \(([^)]*)\) "/" "([^"]+)"$', listing, re.MULTILINE)
    assert [(tuple(flags.split()), name) for flags, name in lines] == list(GMAIL_LIST)
    caps = ImapCapabilities.parse([GMAIL_CAPABILITY])
    assert caps.gmail and caps.move and caps.uidplus and caps.idle and caps.condstore
    assert caps.append_limit == 35651584
    roles = find_roles(ListedFolder(f, "/", n) for f, n in GMAIL_LIST)
    assert roles.sent == SENT and roles.trash == TRASH
    assert roles.get(Role.ALL) == "[Gmail]/All Mail" and roles.get(Role.JUNK) == "[Gmail]/Spam"


def test_xlist_names_and_a_user_label_called_sent() -> None:
    """XLIST's attributes (fact 5) count as well; a user label "Sent" next to the system
    folder is not taken for it (fact 9)."""
    xlist = _fixture("mailkit__2014-session_xlist.txt")
    lines = re.findall(r'^\* XLIST \(([^)]*)\) "/" "([^"]+)"$', xlist, re.MULTILINE)
    listed = [ListedFolder(("\\HasNoChildren",), "/", "Sent")]
    listed += [ListedFolder(tuple(f.split()), "/", n) for f, n in lines]
    roles = find_roles(listed)
    assert roles.sent == SENT and roles.trash == TRASH
    assert roles.get(Role.ALL) == "[Gmail]/All Mail"
    assert roles.found_by[Role.SENT] == "special-use"


@pytest.mark.parametrize("auto_expunge", [True, False])
def test_gmail_sent_is_clean_after_the_worker_ran(stack: Stack, auto_expunge: bool) -> None:
    fake = GmailFake(auto_expunge=auto_expunge)
    stack.add_account()
    discover_account(stack.room, stack.account(), fake.opener)
    own = fake.add(
        b"From: alice@example.test\r\nSubject: mine\r\nMessage-ID: <mine@x>\r\n\r\nhi\r\n",
        [SENT],
        flags=["\\Seen", "\\Deleted"],
    )
    email_id = send(stack)
    worker = stack.room.worker(concurrency=1, imap_opener=fake.opener)
    # Deliver the copies; the job's first run sees the Sent copies once they are filed.
    configure(stack, reconcile_delay=timedelta(hours=1))
    assert not worker.drain(timeout=60).errors
    for raw in stack.servers.wait_for_mail("alice@example.test", "Sent", count=3):
        fake.submit(raw)
    configure(stack)
    from postroom.store.models import JobRow

    with stack.room.database.transaction() as tx:
        job = tx.query(JobRow).filter(JobRow.kind == "sent-reconcile").one()
        job.run_at = stack.room.clock()
    stats = worker.drain(timeout=60)
    assert not stats.errors, stats.errors
    in_sent = fake.in_folder(SENT)
    assert own in in_sent  # the user's \Deleted message in Sent Mail is untouched
    ours = [m for m in in_sent if m is not own]
    assert len(ours) == 1
    (clean,) = ours
    assert "\\Seen" in clean.flags
    message = message_from_bytes(clean.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    (attachment,) = message.iter_attachments()
    assert attachment.get_content() == PDF
    assert b"Bcc: Dave <dave@example.test>" in clean.raw
    assert fake.in_folder(TRASH) == []
    # Nothing of the email archived in All Mail either: deleted for good.
    token = clean.raw.split(b"X-Postroom-Email: ", 1)[1].split(b"\r\n", 1)[0]
    assert [m for m in fake.messages.values() if token in m.raw] == [clean]
    commands = fake.sessions[-1].commands
    assert ("UID EXPUNGE" in commands) is (not auto_expunge)
    assert email_id


def test_a_copy_filed_after_the_wait_is_swept_later(stack: Stack) -> None:
    """A provider that files one copy late (its own queue backed up): the first run removes
    the two it finds and appends the clean copy; a sweep queued for later removes the third
    and appends nothing more."""
    from postroom.mailbox.jobs import SWEEP_AFTER
    from postroom.store.models import JobRow

    fake = GmailFake()
    stack.add_account()
    discover_account(stack.room, stack.account(), fake.opener)
    send(stack)
    worker = stack.room.worker(concurrency=1, imap_opener=fake.opener)
    configure(stack, reconcile_delay=timedelta(hours=1))
    assert not worker.drain(timeout=60).errors
    first, second, late = stack.servers.wait_for_mail("alice@example.test", "Sent", count=3)
    fake.submit(first)
    fake.submit(second)
    configure(stack, sent_wait=timedelta(0))
    with stack.room.database.transaction() as tx:
        tx.query(JobRow).filter(JobRow.kind == "sent-reconcile").one().run_at = stack.room.clock()
    assert not worker.drain(timeout=60).errors
    assert len(fake.in_folder(SENT)) == 1  # the clean copy; the late one is not filed yet
    fake.submit(late)
    assert len(fake.in_folder(SENT)) == 2
    with stack.room.database.transaction() as tx:
        sweep = tx.query(JobRow).filter(JobRow.status == "queued").one()
        assert sweep.payload.get("sweep") is True
        assert sweep.run_at >= stack.room.clock() + SWEEP_AFTER - timedelta(minutes=1)
        sweep.run_at = stack.room.clock()
    assert not worker.drain(timeout=60).errors
    (clean,) = fake.in_folder(SENT)
    assert b"Bcc: Dave <dave@example.test>" in clean.raw
    with stack.room.database.transaction() as tx:
        assert tx.query(JobRow).filter(JobRow.status == "queued").count() == 0


def test_copies_older_than_the_window_are_searched_for(stack: Stack) -> None:
    """Much mail filed in Sent after the copies (the sender's own client at work): they fall
    out of the newest-messages window, and one UID SEARCH finds them."""
    from postroom.mailbox.reconcile import WINDOW_EXTRA
    from support.mailboxes import run_reconcile, send_and_deliver, the_email

    fake = GmailFake()
    stack.add_account()
    discover_account(stack.room, stack.account(), fake.opener)
    email_id = send_and_deliver(stack, the_email("old copies"))
    for raw in stack.servers.wait_for_mail("alice@example.test", "Sent", count=3):
        fake.submit(raw)
    for n in range(2 * 3 + WINDOW_EXTRA + 5):
        fake.add(f"From: alice@example.test\r\nMessage-ID: <own-{n}@x>\r\n\r\nhi\r\n".encode(),
                 [SENT])  # fmt: skip
    run_reconcile(stack.room, email_id, fake.opener)
    commands = fake.sessions[-1].commands
    assert commands[:4] == ["SELECT", "UID FETCH", "UID SEARCH", "UID FETCH"], commands
    ours = [m for m in fake.in_folder(SENT) if b"own-" not in m.raw]
    assert len(ours) == 1 and b"X-Postroom-Email" in ours[0].raw
    assert len(fake.in_folder(SENT)) == 1 + 2 * 3 + WINDOW_EXTRA + 5


def test_a_provider_that_replaces_message_ids_is_searched_by_postroom_header(
    stack: Stack,
) -> None:
    """Outlook.com and FastMail have been reported to replace the Message-ID of submitted
    mail: the copies are then found by X-Postroom-Email, and the account remembers it."""
    from support.mailboxes import run_reconcile, send_and_deliver, the_email

    fake = GmailFake()
    stack.add_account()
    discover_account(stack.room, stack.account(), fake.opener)
    for n in range(2):
        email_id = send_and_deliver(stack, the_email(f"replaced {n}"))
        with stack.imap() as client:
            client.select_folder("Sent")
            uids = client.search("ALL")
            for k, item in enumerate(client.fetch(uids, ["BODY.PEEK[]"]).values()):
                raw = re.sub(
                    rb"(?im)^Message-ID: <[^>]+>",
                    f"Message-ID: <provider-{n}-{k}@mail.example.test>".encode(),
                    item[b"BODY[]"],
                )
                fake.submit(raw)
            client.delete_messages(uids)
            client.uid_expunge(uids)
        run_reconcile(stack.room, email_id, fake.opener)
        in_sent = fake.in_folder(SENT)
        assert len(in_sent) == n + 1  # one clean copy per email, no provider copy
        assert not any(b"provider-" in m.raw for m in fake.messages.values())
        assert stack.account().state["mailbox"]["search_key"] == "header"
    # Both found among Sent's newest messages by their X-Postroom-Email field: no SEARCH.
    assert fake.sessions[-1].commands[:3] == ["SELECT", "UID FETCH", "UID MOVE"]
