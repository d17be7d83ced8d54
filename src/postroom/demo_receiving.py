"""``postroom demo``: the whole loop that exists so far, on this machine, narrated.

A forum-like application issues reply addresses; replies arrive over LMTP (the way an MTA
hands them to ``postroom receive --lmtp``) and become posts; a duplicate, an expired address,
a closed topic, a forged address, an auto-reply and bounces show what postroom does instead;
a reply to a digest reaches the item it names.
Everything lives in one folder (SQLite database, outbox of error emails, forum posts).
"""

from __future__ import annotations

import secrets
import shutil
import smtplib
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sqlalchemy import select

from postroom.app import DigestEntry, Postroom
from postroom.examples.forum import Board, build
from postroom.mailer import OutboxTransport
from postroom.receivers import BackgroundListener
from postroom.settings import ErrorMailSettings, Settings, render_config
from postroom.store import open_database, repos
from postroom.store.migrate import upgrade
from postroom.store.models import InboundMessageRow


class Listener(BackgroundListener):
    """``postroom receive --lmtp`` in a background thread, plus an MTA-like client."""

    def __init__(self, room: Postroom) -> None:
        super().__init__(room, protocol="lmtp")

    def deliver(self, message: EmailMessage | bytes, rcpt: str, sender: str) -> str:
        """Hand a message over LMTP like an MTA; returns the server's final answer."""
        # SMTP and LMTP lines end in CRLF (RFC 5321 section 2.3.8); smtplib converts only str.
        data = message if isinstance(message, bytes) else message.as_bytes(policy=SMTP_POLICY)
        with smtplib.LMTP("127.0.0.1", self.port, timeout=30) as client:
            client.ehlo_or_helo_if_needed()
            client.mail(sender)
            code, text = client.rcpt(rcpt)
            if code >= 400:
                client.rset()
                return f"{code} {text.decode()}"
            code, text = client.data(data)
            return f"{code} {text.decode()}"


class DemoClock:
    """A clock the demo can move forward (to let an address expire without waiting)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _reply(to: str, subject: str, body: str, sender: str = "ada@example.net") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Ada Lovelace <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="example.net")
    message.set_content(body)
    return message


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


_DSN = """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn{n}.{nonce}@mx.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn{n}"

--dsn{n}
Content-Type: text/plain

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{failed}>: host mx.example.net said: 550 5.1.1 <{failed}>:
    Recipient address rejected: User unknown in virtual mailbox table

--dsn{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {failed}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: User unknown
{returned}
--dsn{n}--
"""

# RFC 3462 text/rfc822-headers: the returned copy's header, with its Message-ID.
_RETURNED = """
--dsn{n}
Content-Type: text/rfc822-headers

From: Forum <news@forum.localhost>
To: {failed}
Subject: This week on the forum
Message-ID: <{original}>
"""


def _bounce(to: str, failed: str, n: int, original: str | None = None) -> bytes:
    """A Postfix-style RFC 3464 delivery status notification for a dead mailbox; with
    ``original``, it returns the header of the copy sent under that Message-ID."""
    returned = _RETURNED.format(n=n, failed=failed, original=original) if original else ""
    text = _DSN.format(to=to, failed=failed, n=n, nonce=secrets.token_hex(4), returned=returned)
    return text.replace("\n", "\r\n").encode()


def _body_text(message: Message) -> str:
    payload = message.get_payload(decode=True)
    return payload.decode("utf-8", "replace").strip() if isinstance(payload, bytes) else ""


class Narrator:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.count = 0

    def step(self, title: str) -> None:
        self.count += 1
        print(f"\n{self.count}. {title}")

    def say(self, text: str) -> None:
        print(textwrap.indent(text, "   "))

    def check(self, ok: bool, what: str) -> None:
        print(f"   {'ok' if ok else 'UNEXPECTED'}: {what}")
        if not ok:
            self.failures.append(what)


def run_demo(workdir: Path, *, out: Callable[[str], None] = print) -> int:
    """Run the scripted loop in ``workdir`` (recreated). Returns 0 when every step behaved."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    secret = secrets.token_bytes(32)
    db_url = f"sqlite:///{workdir / 'postroom.db'}"
    (workdir / "postroom.toml").write_text(
        render_config(secret=secret, database_url=db_url)
        .replace('outbox_dir = "outbox"', f'outbox_dir = "{workdir / "outbox"}"')
        .replace('# import = "myapp.mail:room"', 'import = "postroom.examples.forum:room"'),
        encoding="utf-8",
    )
    settings = Settings(
        database_url=db_url,
        reply_domain="reply.localhost",
        address_keys={1: secret},
        signing_key_id=1,
        error_mail=ErrorMailSettings(
            sender="postroom@reply.localhost",
            transport="outbox",
            outbox_dir=str(workdir / "outbox"),
        ),
        report_addresses=("bounces@forum.localhost",),
        source=str(workdir / "postroom.toml"),
    )
    database = open_database(db_url)
    upgrade(database)
    clock = DemoClock()
    room, board = build(workdir / "forum-posts.jsonl")
    room.clock = clock
    room.configure(settings, database=database, transport=OutboxTransport(workdir / "outbox"))
    say = Narrator()
    print(f"postroom demo in {workdir}/ (SQLite database, outbox, forum posts)")
    listener = Listener(room)
    print(f"LMTP listener (postroom receive --lmtp) on 127.0.0.1:{listener.port}")
    try:
        _script(room, board, listener, clock, say, workdir)
    finally:
        listener.stop()
        room.close()
    print()
    if say.failures:
        print(f"demo finished with {len(say.failures)} unexpected result(s):")
        for failure in say.failures:
            print(f"  - {failure}")
        return 1
    print(f"demo finished: all {say.count} steps behaved as expected.")
    print(f"Look around: .venv/bin/postroom --config {workdir}/postroom.toml replay 1 --dry-run")
    return 0


def _script(
    room: Postroom, board: Board, lmtp: Listener, clock: DemoClock, say: Narrator, workdir: Path
) -> None:
    notification = 'Bob posted in "Welcome to the forum":\nHello everyone! Introduce yourselves.'
    say.step("The forum sends user 42 a notification with a signed reply address")
    welcome = room.create_session("forum", 42, {"title": "Welcome to the forum", "topic": 1})
    say.say(f"Reply-To: {welcome.address}  ({len(welcome.address.split('@')[0])}-char local part)")

    say.step("User 42 replies from Gmail; the MTA hands the reply to postroom over LMTP")
    body = (
        "Thanks Bob, glad to be here!\nI run the Tuesday meetup.\n\n"
        "On Sat, Nov 21, 2026 at 10:00 AM Forum <forum@example.org> wrote:\n"
        + _quoted(notification)
    )
    reply = _reply(welcome.address, "Re: Welcome to the forum", body)
    answer = lmtp.deliver(reply, welcome.address, "ada@example.net")
    say.say(f"LMTP: {answer}")
    posts = board.posts()
    say.check(len(posts) == 1 and posts[0].user_id == 42, "the forum handler got user 42's reply")
    if posts:
        say.say(
            "posted text (quote and attribution stripped):\n"
            + textwrap.indent(posts[-1].text, "  | ")
        )

    say.step("The MTA delivers the same message again (a retry after a timeout)")
    answer = lmtp.deliver(reply, welcome.address, "ada@example.net")
    say.say(f"LMTP: {answer}")
    say.check(len(board.posts()) == 1, "dispatched once: duplicates are recognised by Message-ID")

    say.step("A reply to an address whose session has expired")
    old = room.create_session("forum", 42, {"title": "Last year's picnic"})
    clock.offset = timedelta(days=31)
    late = _reply(old.address, "Re: Last year's picnic", "Count me in!\n\n" + _quoted("Picnic?"))
    say.say(f"LMTP: {lmtp.deliver(late, old.address, 'ada@example.net')}")
    room.worker().run_jobs()  # postroom worker sends the error emails the pipeline queued
    clock.offset = timedelta()
    outbox = sorted((workdir / "outbox").glob("*.eml"))
    say.check(len(outbox) == 1, "the sender got an error email (captured in the outbox)")
    if outbox:
        notice = message_from_bytes(outbox[-1].read_bytes())
        say.say(
            f"--- {outbox[-1].name}\nTo: {notice['To']}\nSubject: {notice['Subject']}\n"
            f"Auto-Submitted: {notice['Auto-Submitted']}\nIn-Reply-To: {notice['In-Reply-To']}"
            f"\n\n{_body_text(notice)}\n---"
        )

    say.step("A reply to a closed topic: the handler raises Reject")
    closed = room.create_session("forum", 42, {"title": "Announcements", "closed": True})
    no = _reply(closed.address, "Re: Announcements", "Can I post here?")
    say.say(f"LMTP: {lmtp.deliver(no, closed.address, 'ada@example.net')}")
    room.worker().run_jobs()
    outbox = sorted((workdir / "outbox").glob("*.eml"))
    subject = message_from_bytes(outbox[-1].read_bytes())["Subject"] if outbox else ""
    say.check(len(outbox) == 2, f"error email with the handler's explanation: {subject}")

    say.step("Someone forges a reply address (one character changed)")
    local, _, domain = welcome.address.partition("@")
    flip = "a" if local[-1] != "a" else "b"
    forged = f"{local[:-1]}{flip}@{domain}"
    answer = lmtp.deliver(_reply(forged, "spam", "buy now"), forged, "spammer@example.com")
    say.say(f"LMTP: {answer}")
    say.check(answer.startswith("550 5.1.1"), "refused at RCPT with 550 5.1.1: no backscatter")

    say.step("User 42 is on holiday: an auto-reply comes back")
    away = _reply(welcome.address, "Out of office: Welcome to the forum", "I am away until Monday.")
    away["Auto-Submitted"] = "auto-replied"
    say.say(f"LMTP: {lmtp.deliver(away, welcome.address, 'ada@example.net')}")
    say.check(
        len(board.posts()) == 1
        and room.worker().run_jobs() == 0
        and len(list((workdir / "outbox").glob("*.eml"))) == 2,
        "recorded as auto_replied, not dispatched, not answered (RFC 3834)",
    )

    say.step("User 7's mailbox is gone: three notifications bounce")
    for n in range(3):
        issued = room.create_session(
            "forum", 7, {"title": f"Topic {n}"}, address="carol@example.net"
        )
        bounce = _bounce(issued.address, "carol@example.net", n)
        say.say(f"bounce {n + 1}: LMTP {lmtp.deliver(bounce, issued.address, '')}")
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, 7)
        suppressed = repos.is_suppressed(tx, 7)
    say.say(
        f"user 7 bounce score: {score.score if score else 0:g} "
        f"(threshold {room.settings.bounces.threshold:g})"
    )
    say.check(suppressed, "user 7's address is suppressed after crossing the threshold")

    say.step("The forum's own newsletter bounces to its bounce mailbox (not a postroom address)")
    room.remember_sent("news-1@forum.localhost", user=43, recipient="dan@example.net")
    say.say("room.remember_sent('news-1@forum.localhost', user=43, recipient='dan@example.net')")
    bounce = _bounce("bounces@forum.localhost", "dan@example.net", 9, "news-1@forum.localhost")
    say.say(
        f"LMTP to bounces@forum.localhost: {lmtp.deliver(bounce, 'bounces@forum.localhost', '')}"
    )
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, 43)
    say.check(
        score is not None and score.hard_count == 1,
        "the bounce quotes the copy's Message-ID, so it counts against user 43 "
        "(inbound.report_addresses lets the listener accept that mailbox)",
    )

    say.step("A digest of three topics; user 42 answers one of them by its number")
    digest = room.create_digest(
        "forum",
        42,
        [
            DigestEntry("Picnic on Sunday", "Who is coming?", {"title": "Picnic on Sunday"}),
            DigestEntry(
                "Projector for the meetup",
                "Who can bring one?",
                {"title": "Projector for the meetup"},
            ),
            DigestEntry("Talk schedule", "Talks start at 7 pm.", {"title": "Talk schedule"}),
        ],
        subject="Forum digest: 3 new topics",
    )
    say.say(
        "digest text part (each item has a marker and its own reply address):\n"
        + textwrap.indent(digest.parts.text.split("\n\n")[0], "  | ")
    )
    to_digest = _reply(
        digest.address,
        "Re: Forum digest: 3 new topics",
        "#2 I can bring the projector.\n\nOn Sat, Nov 21, 2026, Forum wrote:\n"
        + _quoted(digest.parts.text),
    )
    say.say(f"LMTP: {lmtp.deliver(to_digest, digest.address, 'ada@example.net')}")
    last = board.posts()[-1]
    say.check(
        last.topic == "Projector for the meetup" and last.text.endswith("projector."),
        f'posted to "{last.topic}": {last.text}',
    )

    say.step("What postroom recorded")
    with room.database.transaction() as tx:
        rows = tx.scalars(select(InboundMessageRow).order_by(InboundMessageRow.id)).all()
        for row in rows:
            say.say(
                f"#{row.id:<2} {row.kind or '-':<10} {row.outcome or row.status:<20} "
                f"user {row.user_id}  {row.subject}"
            )
        events = repos.list_events(tx, limit=50)
        say.say("events: " + ", ".join(sorted({e.type for e in events})))
