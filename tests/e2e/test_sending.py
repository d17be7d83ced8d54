"""End to end on real servers: postroom sends one email to To, Cc and Bcc recipients through
Postfix submission (AUTH PLAIN over STARTTLS, certificate checked) into Dovecot; every copy
shows the same visible headers byte for byte, none reveals the Bcc address, each carries its
own pixel, links and reply address; and a reply to one copy comes back through Postfix and
LMTP to the right user's handler.

The account connects to 127.0.0.1 while the certificate names mail.example.test, so the test's
connector passes that name: it stands for the DNS name an operator would give as host.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Envelope, Security
from postroom.accounts.model import Account
from postroom.accounts.service import add_account
from postroom.app import Postroom
from postroom.compose import Email, Recipient, ReplyTo
from postroom.inbound.types import Reply
from postroom.jobs.delivering import connection_settings
from postroom.outbound import SmtpConnection, Timeouts
from postroom.receivers import BackgroundListener
from postroom.store import Database
from postroom.tracking.tokens import ClickToken, OpenToken, TokenCodec
from support.mailservers import MailServers, start_mail_servers
from support.sending import settings_with_keys

pytestmark = pytest.mark.mailservers

USERS = (
    ("alice@example.test", "secret-alice"),
    ("bob@example.test", "secret-bob"),
    ("carol@example.test", "secret-carol"),
    ("dave@example.test", "secret-dave"),
)
VISIBLE = ("from", "to", "cc", "date", "subject", "mime-version", "in-reply-to", "references")
HTML = (
    "<p>Hello,</p><p>the <a href='https://forum.example.test/t/5'>topic</a> has news; "
    "see <a href='https://forum.example.test/rules'>the rules</a>.</p>"
)


@pytest.fixture
def stack(
    database: Database, database_url: str, tmp_path: Path
) -> Iterator[tuple[Postroom, MailServers, list[Reply]]]:
    replies: list[Reply] = []
    room = Postroom(settings_with_keys(database_url), database=database)
    room.handler("forum")(replies.append)
    listener = BackgroundListener(room, protocol="lmtp")
    servers = start_mail_servers(
        tmp_path / "mail",
        users=USERS,
        lmtp_routes={"reply.example.test": ("127.0.0.1", listener.port)},
        submission_tls=True,
    )
    try:
        yield room, servers, replies
    finally:
        servers.stop()
        listener.stop()


def _headers(raw: bytes) -> dict[str, bytes]:
    """Each visible header field exactly as it travelled (folding included)."""
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    fields: list[bytes] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            fields.append(line)
    out: dict[str, bytes] = {}
    for field in fields:
        name = field.split(b":", 1)[0].decode("ascii", "replace").lower()
        if name in VISIBLE:
            assert name not in out, f"{name} twice"
            out[name] = field
    return out


def test_to_cc_and_bcc_each_get_their_own_copy_and_a_reply_comes_back(
    stack: tuple[Postroom, MailServers, list[Reply]],
) -> None:
    room, servers, replies = stack
    add_account(
        room.database,
        room.settings,
        AccountSpec(
            "forum",
            "alice@example.test",
            "127.0.0.1",
            smtp_port=servers.submission_port,
            smtp_security=Security.STARTTLS,
            smtp_auth=Auth.PLAIN,
            smtp_username="alice@example.test",
            from_name="The Forum",
            envelope=Envelope.VERP,
        ),
        AccountSecrets(password=servers.password("alice@example.test")),
        now=room.clock(),
    )

    def connect(account: Account, secrets: AccountSecrets) -> SmtpConnection:
        return SmtpConnection.open(
            connection_settings(
                account,
                secrets,
                timeouts=Timeouts.uniform(20),
                ca_file=str(servers.ca_file),
                tls_server_name=servers.tls_hostname,
            )
        )

    result = room.send(
        Email(
            account="forum",
            to=[Recipient("bob@example.test", "Bob", user=2)],
            cc=[Recipient("carol@example.test", "Carol Ørsted", user=3)],
            bcc=[Recipient("dave@example.test", "Dave", user=4)],
            subject="Näws from the forum",
            html=HTML,
            in_reply_to="<topic-5@forum.example.test>",
            references=["<topic-5@forum.example.test>"],
            reply=ReplyTo("forum", data={"topic": 5}),
        )
    )
    assert len(result.deliveries) == 3
    stats = room.worker(concurrency=1, connector=connect).drain()
    assert stats.copies == 3, stats.errors
    state = room.email(result.email_id)
    assert state.counts() == {"sent": 3}, [c.last_reply for c in state.copies]
    assert all(c.events == ("queued", "sent") for c in state.copies)

    copies = {
        c.address: servers.wait_for_mail(c.address, message_id=c.message_id)[0]
        for c in result.deliveries
    }
    # Submitted with AUTH over STARTTLS (RFC 3848: ESMTPSA), as alice.
    assert all(b"with ESMTPSA" in raw for raw in copies.values())
    assert "sasl_method=PLAIN, sasl_username=alice@example.test" in servers.postfix_log()
    # Visible headers: byte for byte the same in every copy.
    headers = [_headers(raw) for raw in copies.values()]
    assert set(headers[0]) == set(VISIBLE)
    assert headers[0] == headers[1] == headers[2]
    # No copy shows the Bcc address, except the trace fields of Dave's own delivery.
    for address, raw in copies.items():
        lines = raw.decode("utf-8", "replace").splitlines()
        leaks = [line for line in lines if "dave@" in line.lower()]
        if address == "dave@example.test":
            assert all(
                line.startswith(("Delivered-To:", "\tfor <dave@", "        for <dave@"))
                or "for <dave@example.test>" in line
                for line in leaks
            ), leaks
        else:
            assert leaks == [], leaks

    tokens = TokenCodec(room.codec_keyring())
    now = room.clock()
    seen_pixels, seen_clicks, seen_reply = set(), set(), set()
    for copy in result.deliveries:
        message = message_from_bytes(copies[copy.address], policy=policy.default)
        assert isinstance(message, EmailMessage)
        assert str(message["Reply-To"]) == copy.reply_address
        body = message.get_body(("html",))
        assert body is not None
        html_text = body.get_content()
        [pixel] = re.findall(r'src="[^"]*/t/o/([A-Za-z0-9_-]+)\.gif"', html_text)
        opened = tokens.decode(pixel, now=now)
        assert isinstance(opened, OpenToken) and opened.delivery_id == copy.id
        clicks = re.findall(r'href="[^"]*/t/c/([A-Za-z0-9_-]+)"', html_text)
        decoded = [tokens.decode(c, now=now) for c in clicks]
        assert [type(d) for d in decoded] == [ClickToken, ClickToken]
        assert {d.delivery_id for d in decoded} == {copy.id}  # type: ignore[union-attr]
        assert "forum.example.test/t/5" not in html_text  # every http(s) link is tracked
        seen_pixels.add(pixel)
        seen_clicks.update(clicks)
        seen_reply.add(copy.reply_address)
        # The envelope sender was this copy's own VERP address.
        return_path = str(message["Return-Path"]).strip("<>")
        assert room.codec.decode(return_path).delivery_id == copy.id  # type: ignore[union-attr]
    assert len(seen_pixels) == 3 and len(seen_clicks) == 6 and len(seen_reply) == 3

    # Carol replies to her copy; it reaches the forum handler as user 3's reply.
    carol = next(c for c in result.deliveries if c.address == "carol@example.test")
    answer = EmailMessage()
    answer["From"] = "Carol Ørsted <carol@example.test>"
    answer["To"] = str(carol.reply_address)
    answer["Subject"] = "Re: Näws from the forum"
    answer["In-Reply-To"] = f"<{carol.message_id}>"
    answer["Message-ID"] = make_msgid(domain="example.test")
    answer.set_content("Count me in.\n\nOn Thursday The Forum wrote:\n> Hello,\n")
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=30) as client:
        client.send_message(answer)
    deadline = 200
    while not replies and deadline:
        import time

        time.sleep(0.05)
        deadline -= 1
    [reply] = replies
    assert reply.user_id == 3 and reply.session_data == {"topic": 5}
    assert reply.text == "Count me in."
