"""The example forum, on postroom's public API: one email per post (a copy per subscriber, each
with its own reply address), replies by email becoming posts, a digest whose items are answered
one by one, and bounces turning a member's mail off. Mail goes out through the real worker to an
SMTP server on loopback; replies and bounces come back through the inbound pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.service import add_account
from postroom.app import Postroom
from postroom.examples.forum.app import HOW_TO_REPLY, Forum
from postroom.outbound.types import Timeouts
from postroom.store import Database
from support.sending import settings_with_keys
from support.smtpserver import ReceivedMessage, ScriptedSmtpServer


@pytest.fixture
def server() -> Iterator[ScriptedSmtpServer]:
    smtp = ScriptedSmtpServer().start()
    yield smtp
    smtp.stop()


@pytest.fixture
def forum(
    database: Database, database_url: str, clock: object, tmp_path: Path, server: ScriptedSmtpServer
) -> Iterator[Forum]:
    room = Postroom(settings_with_keys(database_url), database=database, clock=clock)  # type: ignore[arg-type]
    add_account(
        database,
        room.settings,
        AccountSpec(
            "news",
            "forum@example.test",
            server.host,
            smtp_port=server.port,
            smtp_security=Security.NONE,
            smtp_auth=Auth.NONE,
            from_name="The Forum",
        ),
        AccountSecrets(),
        now=room.clock(),
    )
    app = Forum(room, tmp_path / "forum.db", account="news")
    yield app
    app.store.close()


def _deliver(forum: Forum, server: ScriptedSmtpServer, total: int) -> list[ReceivedMessage]:
    forum.room.worker(concurrency=1, timeouts=Timeouts.uniform(5)).drain()
    return server.wait_for_messages(total)


def _copy_for(messages: list[ReceivedMessage], rcpt: str) -> EmailMessage:
    [found] = [m for m in messages if rcpt in m.rcpts]
    message = message_from_bytes(found.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _reply(to_copy: EmailMessage, sender: str, text: str) -> bytes:
    """A reply as a mail client writes it: the text on top, the copy quoted below."""
    body = to_copy.get_body(("plain",))
    assert body is not None
    quoted = "\n".join("> " + line for line in body.get_content().splitlines())
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(to_copy["Reply-To"])
    reply["Subject"] = "Re: " + str(to_copy["Subject"])
    reply["Message-ID"] = make_msgid(domain="example.net")
    reply["In-Reply-To"] = str(to_copy["Message-ID"])
    reply.set_content(f"{text}\n\nOn Mon, 1 Dec 2026 at 10:00, The Forum wrote:\n{quoted}\n")
    return bytes(reply)


def test_posts_go_out_replies_come_back_as_posts(forum: Forum, server: ScriptedSmtpServer) -> None:
    ada = forum.join("Ada", "ada@example.net")
    bob = forum.join("Bob", "bob@example.net")
    cy = forum.join("Cy", "cy@example.net")
    topic = forum.start_topic("Picnic", ada.id, "Who is coming on Sunday?")
    forum.subscribe(bob.id, topic.id)
    forum.subscribe(cy.id, topic.id)
    # Subscribed after the first post: nobody was mailed yet. A second post reaches both.
    forum.post(topic.id, ada.id, "Bring a blanket.")
    messages = _deliver(forum, server, 2)
    to_bob, to_cy = _copy_for(messages, "bob@example.net"), _copy_for(messages, "cy@example.net")
    assert to_bob["To"] == to_cy["To"] == "undisclosed-recipients:;"
    assert "cy@example.net" not in to_bob.as_string()  # nobody sees the other subscribers
    assert to_bob["Reply-To"] != to_cy["Reply-To"]  # a signed reply address each
    assert HOW_TO_REPLY in to_bob.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    result = forum.room.receive(_reply(to_bob, "bob@example.net", "I'll bring the lemonade."))
    assert result.outcome == "dispatched", result
    posts = forum.store.posts(topic.id)
    assert [(p.member_id, p.text, p.via) for p in posts[-1:]] == [
        (bob.id, "I'll bring the lemonade.", "email")
    ]
    # Bob's post is announced to Ada and Cy, not to Bob.
    messages = _deliver(forum, server, 4)
    assert sorted(r for m in messages[2:] for r in m.rcpts) == ["ada@example.net", "cy@example.net"]


def test_a_closed_topic_refuses_replies(forum: Forum, server: ScriptedSmtpServer) -> None:
    ada = forum.join("Ada", "ada@example.net")
    bob = forum.join("Bob", "bob@example.net")
    topic = forum.start_topic("Old news", ada.id, "First post")
    forum.subscribe(bob.id, topic.id)
    forum.post(topic.id, ada.id, "Closing soon")
    to_bob = _copy_for(_deliver(forum, server, 1), "bob@example.net")
    forum.store.close_topic(topic.id)
    result = forum.room.receive(_reply(to_bob, "bob@example.net", "Too late?"))
    assert result.outcome == "rejected"
    assert [p.text for p in forum.store.posts(topic.id)] == ["First post", "Closing soon"]


def test_a_digest_reply_lands_on_the_item_it_answers(
    forum: Forum, server: ScriptedSmtpServer
) -> None:
    ada = forum.join("Ada", "ada@example.net")
    dee = forum.join("Dee", "dee@example.net", mail="digest")
    picnic = forum.start_topic("Picnic", ada.id, "Who is coming?")
    talks = forum.start_topic("Talks", ada.id, "The talks start at 7 pm.")
    forum.subscribe(dee.id, picnic.id)
    forum.subscribe(dee.id, talks.id)
    forum.post(talks.id, ada.id, "Slides are online.")
    assert forum.send_digest(dee.id) is not None
    assert forum.send_digest(dee.id) is None  # nothing new since
    digest = _copy_for(_deliver(forum, server, 1), "dee@example.net")
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "To answer one item" in text and "[#3]" in text
    # Dee writes "#2" on top: that is the second item, the first post of "Talks".
    result = forum.room.receive(_reply(digest, "dee@example.net", "#2 I will be there at 7."))
    assert result.outcome == "dispatched", result
    [post] = [p for p in forum.store.posts(talks.id) if p.member_id == dee.id]
    assert post.via == "digest" and "I will be there at 7." in post.text


def test_bounces_turn_a_members_mail_off(forum: Forum, server: ScriptedSmtpServer) -> None:
    server.on("RCPT", "550 5.1.1 <gone@example.net>: user unknown", match="gone@example.net")
    ada = forum.join("Ada", "ada@example.net")
    gone = forum.join("Gone", "gone@example.net")
    topic = forum.start_topic("Picnic", ada.id, "Who is coming?")
    forum.subscribe(gone.id, topic.id)
    forum.post(topic.id, ada.id, "Anyone?")
    forum.room.worker(concurrency=1, timeouts=Timeouts.uniform(5)).drain()
    # The 550 at RCPT is a hard failure: postroom suppresses the address, the forum follows.
    assert [m.id for m in forum.sync_bounces()] == [gone.id]
    assert forum.store.member(gone.id).mail == "off"
    forum.post(topic.id, ada.id, "Last call")
    assert forum.store.member(ada.id).mail == "each"
