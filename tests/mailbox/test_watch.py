"""Acceptance 5 and 6: watched mailboxes on real Dovecot.

5. Two pollers watch one mailbox (IDLE) while 200 replies arrive through Postfix: each reply
   is dispatched (a ``replied`` event) exactly once, claimed by one poller only.
6. Replies in the styles of Gmail, Outlook and Apple Mail, sent to the sender's own inbox
   (the email had no reply address: the CRM case), become ``replied`` events for the right
   copy with the text the person wrote, and stay unread where they are; a bounce delivered
   there counts against the right recipient.
"""

from __future__ import annotations

import smtplib
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select

from postroom.compose import Email, Recipient
from postroom.mailbox.jobs import discover_account
from postroom.mailbox.watch import MailboxPoller, WatchedMailbox
from postroom.store.models import DeliveryRow, EventRow, MailboxClaimRow
from support.mailboxes import Stack, configure
from support.messages import bounce

pytestmark = pytest.mark.mailservers


def send_plain(stack: Stack, *, to: list[Recipient]) -> dict[str, str]:
    """An email with no reply address; returns each recipient's copy Message-ID."""
    configure(stack, sent_cleanup="off")
    result = stack.room.send(
        Email(account="alice", to=to, subject="Quarterly figures", text="Here they are.")
    )
    assert not stack.room.worker(concurrency=1).drain(timeout=60).errors
    with stack.room.database.transaction() as tx:
        rows = tx.execute(
            select(DeliveryRow.address, DeliveryRow.message_id).where(
                DeliveryRow.email_id == result.email_id
            )
        ).all()
    return {r.address: r.message_id for r in rows}


def deliver(stack: Stack, messages: list[bytes]) -> None:
    """Into alice's inbox through Postfix's plain port (no Sent copy is filed for these)."""
    with smtplib.SMTP(stack.servers.host, stack.servers.smtp_port, timeout=30) as smtp:
        for raw in messages:
            smtp.sendmail("bob@example.test", ["alice@example.test"], raw)


def reply_to(copy_id: str, body: str, *, n: int = 0, html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Bob <bob@example.test>"
    message["To"] = "Alice Example <alice@example.test>"
    message["Subject"] = "Re: Quarterly figures"
    message["Message-ID"] = make_msgid(f"r{n}", domain="example.test")
    message["In-Reply-To"] = f"<{copy_id}>"
    message["References"] = f"<{copy_id}>"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def events(stack: Stack, kind: str) -> list[EventRow]:
    with stack.room.database.transaction() as tx:
        rows = list(tx.execute(select(EventRow).where(EventRow.type == kind)).scalars())
        tx.expunge_all()
    return rows


def test_two_pollers_dispatch_each_of_200_replies_once(stack: Stack) -> None:
    stack.add_account()
    discover_account(stack.room, stack.account())
    copies = send_plain(stack, to=[Recipient("bob@example.test", "Bob", user=7)])
    configure(stack, poll_interval=timedelta(seconds=2))
    stop = threading.Event()
    pollers = [
        MailboxPoller(stack.room, WatchedMailbox("alice"), worker=f"poller-{n}") for n in (1, 2)
    ]
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in pollers]
    for thread in threads:
        thread.start()
    try:
        replies = [
            reply_to(copies["bob@example.test"], f"Reply number {n}.\n\nBob\n", n=n)
            for n in range(200)
        ]
        deliver(stack, replies[:100])
        deliver(stack, replies[100:])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(events(stack, "replied")) < 200:
            time.sleep(0.25)
        time.sleep(1.0)  # anything dispatched twice would show up by now
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    replied = events(stack, "replied")
    assert len(replied) == 200
    ids = [e.data["message_id"] for e in replied]
    assert len(set(ids)) == 200
    assert all(e.recipient == "bob@example.test" and e.user_id == 7 for e in replied)
    with stack.room.database.transaction() as tx:
        claims = tx.execute(
            select(MailboxClaimRow.claimed_by, func.count()).group_by(MailboxClaimRow.claimed_by)
        ).all()
    print("messages handled per poller:", dict(claims), [p.stats for p in pollers])
    assert sum(n for _, n in claims) == 200
    assert sum(p.stats.handled for p in pollers) == 200
    # The replies stay in the inbox, unread, marked with postroom's keyword.
    inbox = stack.folder("INBOX")
    assert len(inbox) == 200
    assert all(b"\\Seen" not in v[b"FLAGS"] and b"$Postroom" in v[b"FLAGS"] for v in inbox.values())


GMAIL = (
    "Thanks, the numbers look right to me.\n\n"
    "On Fri, Dec 4, 2026 at 3:12 PM Alice Example <alice@example.test> wrote:\n\n"
    "> Here they are.\n"
)
GMAIL_HTML = (
    '<div dir="ltr">Thanks, the numbers look right to me.</div><br>'
    '<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Fri, '
    "Dec 4, 2026 at 3:12 PM Alice Example &lt;alice@example.test&gt; wrote:<br></div>"
    '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
    'rgb(204,204,204);padding-left:1ex">Here they are.</blockquote></div>'
)
OUTLOOK = (
    "Carol here: please send the spreadsheet as well.\n\n"
    "________________________________\n"
    "From: Alice Example <alice@example.test>\n"
    "Sent: Friday, December 4, 2026 15:12\n"
    "To: Carol <carol@example.test>\n"
    "Subject: Quarterly figures\n\n"
    "Here they are.\n"
)
APPLE = (
    "Dave: could we talk about Q3 on Monday?\n\n"
    "Sent from my iPhone\n\n"
    "On Dec 4, 2026, at 3:12 PM, Alice Example <alice@example.test> wrote:\n\n"
    "> Here they are.\n"
)


def test_replies_and_a_bounce_in_the_senders_inbox(stack: Stack) -> None:
    stack.add_account()
    discover_account(stack.room, stack.account())
    copies = send_plain(
        stack,
        to=[
            Recipient("bob@example.test", "Bob", user=2),
            Recipient("carol@example.test", "Carol", user=3),
            Recipient("dave@example.test", "Dave", user=4),
            Recipient("erin@example.test", "Erin", user=5),
        ],
    )
    raw_bounce = bounce(
        "alice@example.test",
        failed="erin@example.test",
        original=copies["erin@example.test"],
        reporting="dns; mx.example.test",
        sender="MAILER-DAEMON@mx.example.test",
    ).replace(b"\n", b"\r\n")
    with stack.imap() as client:
        # Years-old mail in the inbox: a first look at a sender's inbox leaves it alone.
        client.append(
            "INBOX",
            reply_to(copies["bob@example.test"], "An old message.\n", n=99),
            msg_time=datetime(2020, 1, 2, 3, 4, tzinfo=UTC),
        )
    deliver(
        stack,
        [
            reply_to(copies["bob@example.test"], GMAIL, n=1, html=GMAIL_HTML),
            reply_to(copies["carol@example.test"], OUTLOOK, n=2),
            reply_to(copies["dave@example.test"], APPLE, n=3),
            raw_bounce,
        ],
    )
    stack.servers.wait_for_mail("alice@example.test", "INBOX", count=5)
    poller = MailboxPoller(stack.room, WatchedMailbox("alice"), worker="one")
    account, session = poller.open()
    try:
        assert poller.poll(account, session) == 4
        assert poller.poll(account, session) == 0  # nothing twice
    finally:
        session.close()
    replied = {e.recipient: e for e in events(stack, "replied")}
    assert set(replied) == {"bob@example.test", "carol@example.test", "dave@example.test"}
    assert (
        replied["bob@example.test"].data["text"].strip() == "Thanks, the numbers look right to me."
    )
    assert replied["carol@example.test"].data["text"].strip() == (
        "Carol here: please send the spreadsheet as well."
    )
    assert (
        replied["dave@example.test"]
        .data["text"]
        .startswith("Dave: could we talk about Q3 on Monday?")
    )
    for address, event in replied.items():
        assert event.user_id is not None and event.delivery_id is not None
        with stack.room.database.transaction() as tx:
            copy = tx.get(DeliveryRow, event.delivery_id)
            assert copy is not None and copy.address == address
    bounced = events(stack, "bounced")
    assert [(e.recipient, e.user_id) for e in bounced] == [("erin@example.test", 5)]
    score = stack.room.bounce_score(5)
    assert score is not None and score.hard_count == 1
    inbox = stack.folder("INBOX")
    assert len(inbox) == 5 and all(b"\\Seen" not in v[b"FLAGS"] for v in inbox.values())
    assert not [e for e in events(stack, "replied") if "old message" in e.data["text"]]
    assert stack.account().state["watch"]["INBOX"]["last_uid"] == 5


def test_postroom_worker_watches_the_configured_mailbox(stack: Stack) -> None:
    """``postroom worker`` with ``[mailbox] watch``: a poller thread per mailbox (IDLE)."""
    stack.add_account()
    discover_account(stack.room, stack.account())
    copies = send_plain(stack, to=[Recipient("bob@example.test", "Bob", user=9)])
    configure(stack, sent_cleanup="off", watch=("alice",))
    worker = stack.room.worker(concurrency=1, poll_interval=0.2)
    thread = threading.Thread(target=worker.run, kwargs={"signals": False}, daemon=True)
    thread.start()
    try:
        deliver(stack, [reply_to(copies["bob@example.test"], "Yes, thanks.\n", n=1)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not events(stack, "replied"):
            time.sleep(0.2)
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    (event,) = events(stack, "replied")
    assert event.user_id == 9 and event.data["text"].strip() == "Yes, thanks."
    assert not worker.stats.errors
