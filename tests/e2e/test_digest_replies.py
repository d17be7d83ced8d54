"""End to end: a digest of three items goes out, three replies come back, each to its item.

The digest is submitted to a real Postfix and lands in Bob's Dovecot inbox; Bob's replies are
written from the digest he received, in the quoting styles of Gmail (reply through an item's
mailto: link, "On ... wrote:" and ">" quotes, gmail_quote HTML), Outlook (a "#2" reference on
top of an unquoted From/Sent/To/Subject block) and Apple Mail (written under an item inside
the quoted digest), and go back through Postfix to postroom's LMTP listener.
"""

from __future__ import annotations

import html
import re
import smtplib
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from postroom.app import DigestEntry, IssuedDigest, Postroom
from postroom.inbound.types import Reply
from postroom.mailer import MemoryTransport
from postroom.receivers import BackgroundListener
from support.mailservers import MailServers, start_mail_servers
from support.notices import delivered as sent_notices

FORUM, BOB = "alice@example.test", "bob@example.test"
ENTRIES = [
    DigestEntry("Picnic on Sunday", "Who is coming to the picnic?", {"topic": 11}),
    DigestEntry("Projector for the meetup", "We need someone to bring a projector.", {"topic": 12}),
    DigestEntry("Talk schedule", "The talks start at 7 pm sharp.", {"topic": 13}),
]


@pytest.fixture
def stack(room: Postroom, tmp_path: Path) -> Iterator[tuple[Postroom, MailServers]]:
    listener = BackgroundListener(room, protocol="lmtp")
    servers = start_mail_servers(
        tmp_path / "mail", lmtp_routes={"reply.example.test": ("127.0.0.1", listener.port)}
    )
    try:
        yield room, servers
    finally:
        servers.stop()
        listener.stop()


def submit(servers: MailServers, login: str, message: EmailMessage) -> None:
    with smtplib.SMTP(servers.host, servers.submission_port, timeout=30) as client:
        client.login(login, servers.password(login))
        client.send_message(message)


def send_digest(servers: MailServers, digest: IssuedDigest) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Forum <{FORUM}>"
    message["To"] = f"Bob <{BOB}>"
    message["Reply-To"] = digest.address
    message["Subject"] = digest.parts.subject
    message["Message-ID"] = make_msgid(domain="example.test")
    message.set_content(digest.parts.text)
    message.add_alternative(digest.parts.html, subtype="html")
    submit(servers, FORUM, message)
    [raw] = servers.wait_for_mail(BOB, message_id=str(message["Message-ID"]))
    received = message_from_bytes(raw, policy=policy.default)
    assert isinstance(received, EmailMessage)
    return received


def reply_message(to: str, subject: str, text: str, html_body: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Bob <{BOB}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.test")
    message.set_content(text)
    if html_body is not None:
        message.add_alternative(html_body, subtype="html")
    return message


def gmail_reply(digest: EmailMessage) -> EmailMessage:
    """Bob clicks the first item's "Reply to this item" link in Gmail and writes on top."""
    page = digest.get_body(preferencelist=("html",))
    assert page is not None
    links = re.findall(r'href="(mailto:[^"]+)"', page.get_content())
    target = urlsplit(html.unescape(links[0]))
    to = unquote(target.path)
    subject = parse_qs(target.query)["subject"][0]
    text_part = digest.get_body(preferencelist=("plain",))
    assert text_part is not None
    original = text_part.get_content()
    attribution = "On Sat, Nov 21, 2026 at 12:00 PM Forum <alice@example.test> wrote:"
    quoted = "\n".join("> " + line if line else ">" for line in original.splitlines())
    html_body = (
        '<div dir="ltr">Count me in for the picnic.</div><br><div class="gmail_quote">'
        f'<div dir="ltr" class="gmail_attr">{html.escape(attribution)}<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        f"{page.get_content()}</blockquote></div>"
    )
    return reply_message(
        to, subject, f"Count me in for the picnic.\n\n{attribution}\n{quoted}\n", html_body
    )


def outlook_reply(digest: EmailMessage) -> EmailMessage:
    """Outlook: a "#2" reference on top, the original below an unquoted header block."""
    text_part = digest.get_body(preferencelist=("plain",))
    assert text_part is not None
    body = (
        "#2 I can bring the projector.\n\n"
        "________________________________\n"
        "From: Forum <alice@example.test>\n"
        "Sent: Saturday, November 21, 2026 12:00 PM\n"
        "To: Bob <bob@example.test>\n"
        f"Subject: {digest['Subject']}\n\n"
        f"{text_part.get_content()}"
    )
    return reply_message(str(digest["Reply-To"]), f"RE: {digest['Subject']}", body)


def apple_reply(digest: EmailMessage) -> EmailMessage:
    """Apple Mail: Bob writes inside the quoted digest, right under the third item."""
    text_part = digest.get_body(preferencelist=("plain",))
    assert text_part is not None
    lines = ["> On 21 Nov 2026, at 12:00, Forum <alice@example.test> wrote:", ">"]
    for line in text_part.get_content().splitlines():
        lines.append("> " + line if line else ">")
        if line.startswith("The talks start at 7 pm"):
            lines += ["", "I will be ten minutes late for the talks.", ""]
    return reply_message(
        str(digest["Reply-To"]), f"Re: {digest['Subject']}", "\n".join(lines) + "\n"
    )


def wait_until(condition: object, servers: MailServers, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} after 30 s; Postfix log:\n{servers.postfix_log()[-3000:]}"
            )
        time.sleep(0.1)


def test_three_replies_in_three_styles_reach_the_right_items(
    stack: tuple[Postroom, MailServers], received: list[Reply], transport: MemoryTransport
) -> None:
    room, servers = stack
    digest = room.create_digest("forum", 7, ENTRIES, subject="Forum digest: 3 new topics")
    delivered = send_digest(servers, digest)

    for make in (gmail_reply, outlook_reply, apple_reply):
        submit(servers, BOB, make(delivered))
        count = len(received) + 1
        wait_until(lambda c=count: len(received) >= c, servers, f"no {make.__name__} dispatch")

    by_item = {reply.digest_item: reply for reply in received}
    assert sorted(by_item) == [1, 2, 3]
    assert by_item[1].session_data == {"topic": 11}
    assert by_item[1].text == "Count me in for the picnic."
    assert by_item[2].session_data == {"topic": 12}
    assert by_item[2].text == "I can bring the projector."  # the "#2" reference is removed
    assert by_item[3].session_data == {"topic": 13}
    assert "I will be ten minutes late for the talks." in by_item[3].text
    assert all(reply.user_id == 7 for reply in received)

    # A reply that names no item gets the list of items and their own addresses.
    unclear = reply_message(str(delivered["Reply-To"]), "Re: digest", "Thanks for the update!")
    submit(servers, BOB, unclear)
    wait_until(lambda: sent_notices(room, transport), servers, "no digest_ambiguous error email")
    [notice] = sent_notices(room, transport)
    assert notice["X-Postroom-Notice"] == "digest_ambiguous"
    body = notice.get_content()
    assert all(item.reply_address in body for item in digest.items)
    assert len(received) == 3
