"""A whole forum on postroom's public API: what an application writes to send and receive.

- Members join with a mail preference: ``each`` (one email per post), ``digest`` (a daily
  digest) or ``off``.
- Every new post is one logical email to the topic's subscribers: each gets a copy of their own
  (Bcc, so nobody sees the others' addresses) with a signed reply address of their own.
- A reply by email becomes a post in that topic, and is announced to the others in turn.
- A digest lists the posts a member has not seen; each item has its own reply address, and a
  reply to the digest itself lands on the item the person wrote under or named (``#2``).
- postroom counts bounces and suppresses an address that keeps bouncing; the forum turns that
  member's mail off when postroom says so (:meth:`Forum.sync_bounces`), and says why.

    forum = Forum(room, Path("forum.db"), account="news")
    ada = forum.join("Ada", "ada@example.net")
    topic = forum.start_topic("Welcome", ada.id, "Say hello!")
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from postroom import (
    DigestEntry,
    Email,
    Postroom,
    PostroomError,
    Recipient,
    Reject,
    Reply,
    ReplyAddress,
    ReplyTo,
    SendResult,
)
from postroom.examples.forum.store import ForumPost, ForumStore, Member, Topic

log = logging.getLogger("postroom.examples.forum")

HOW_TO_REPLY = "Reply to this email to post your answer in the topic (write above the quoted text)."
HOW_TO_REPLY_DIGEST = (
    "To answer one item, reply to the link under it, or reply to this email and write under "
    "that item (or name it, like #2)."
)


class Forum:
    """Members, topics and posts, with postroom doing the mail. ``handler`` names the
    postroom handler the forum registers on ``room`` for replies."""

    def __init__(self, room: Postroom, path: Path, *, account: str, handler: str = "forum") -> None:
        self.room = room
        self.account = account
        self.handler = handler
        self.store = ForumStore(path)
        room.handler(handler)(self.on_reply)

    # -- what members do on the web -----------------------------------------------------------

    def join(self, name: str, address: str, *, mail: str = "each") -> Member:
        return self.store.add_member(name, address, mail)

    def start_topic(self, title: str, author: int, text: str) -> Topic:
        topic = self.store.add_topic(title)
        self.store.subscribe(author, topic.id)
        self.post(topic.id, author, text)
        return topic

    def subscribe(self, member: int, topic: int) -> None:
        self.store.subscribe(member, topic)

    def post(
        self, topic: int, author: int, text: str, *, via: str = "web", inbound_id: int | None = None
    ) -> ForumPost:
        """Add a post and email it to the topic's other subscribers who want each post."""
        post = self.store.add_post(topic, author, text, via, inbound_id)
        self.store.subscribe(author, topic)
        try:
            self.announce(post)
        except PostroomError as exc:  # kept; announce_pending() sends it once mail works again
            log.warning("post %d kept, not emailed yet: %s", post.id, exc)
        return post

    # -- mail out ------------------------------------------------------------------------------

    def announce(self, post: ForumPost) -> SendResult | None:
        """One email for ``post``: a copy per subscriber (Bcc), each with its own reply address."""
        topic = self.store.topic(post.topic_id)
        author = self.store.member(post.member_id)
        readers = [
            m for m in self.store.subscribers(topic.id) if m.id != author.id and m.mail == "each"
        ]
        if not readers:
            self.store.set_post_email(post.id, 0)
            return None
        result = self.room.send(
            Email(
                account=self.account,
                bcc=[Recipient(m.address, name=m.name, user=m.id) for m in readers],
                subject=f"[Forum] {topic.title}",
                text=f"{author.name} wrote in \u201c{topic.title}\u201d:\n\n{post.text}\n\n"
                f"-- \n{HOW_TO_REPLY}\n",
                reply=ReplyTo(self.handler, data={"topic": topic.id, "post": post.id}),
                notification=True,
            )
        )
        self.store.set_post_email(post.id, result.email_id)
        self._turn_off_suppressed(result)
        return result

    def announce_pending(self) -> int:
        """Email the posts that could not be emailed when they were written; returns how many."""
        sent = 0
        for post in self.store.unannounced():
            self.announce(post)
            sent += 1
        return sent

    def send_digest(self, member: int) -> SendResult | None:
        """The member's digest of posts not seen yet (None when there is nothing new)."""
        who = self.store.member(member)
        posts = self.store.unsent_for_digest(member)
        if not posts or who.mail == "off":
            return None
        titles = {p.topic_id: self.store.topic(p.topic_id).title for p in posts}
        entries = [
            DigestEntry(
                title=f"{self.store.member(p.member_id).name} in \u201c{titles[p.topic_id]}\u201d",
                body=p.text,
                data={"topic": p.topic_id, "post": p.id},
            )
            for p in posts
        ]
        digest = self.room.create_digest(
            self.handler,
            member,
            entries,
            subject="Your forum digest",
            intro=f"{len(posts)} new posts. {HOW_TO_REPLY_DIGEST}",
            address=who.address,
        )
        result = self.room.send(
            Email(
                account=self.account,
                to=[Recipient(who.address, name=who.name, user=who.id)],
                subject="Your forum digest",
                text=digest.parts.text,
                html=digest.parts.html,
                reply=ReplyAddress(digest.address),
                notification=True,
            )
        )
        self.store.mark_digested(member, posts[-1].id)
        self._turn_off_suppressed(result)
        return result

    # -- mail in -------------------------------------------------------------------------------

    def on_reply(self, reply: Reply) -> None:
        """postroom's handler: a verified reply becomes a post in the topic it answers."""
        data: dict[str, Any] = reply.session_data or {}
        topic_id = data.get("topic")
        if not isinstance(topic_id, int):
            raise Reject("unknown_topic", "This email does not belong to a forum topic.")
        topic = self.store.topic(topic_id)
        if topic.closed:
            raise Reject("closed_topic", f"The topic \u201c{topic.title}\u201d is closed.")
        via = "digest" if reply.digest_item is not None else "email"
        self.post(topic.id, reply.user_id, reply.text, via=via, inbound_id=reply.inbound_id)

    # -- bounces -------------------------------------------------------------------------------

    def sync_bounces(self) -> list[Member]:
        """Turn mail off for members postroom has suppressed (bounces, complaints,
        unsubscribes); returns them."""
        turned_off = []
        for member in self.store.members():
            if member.mail == "off":
                continue
            if self.room.is_suppressed(user=member.id) or self.room.is_suppressed(
                address=member.address
            ):
                self.store.set_mail(member.id, "off", "postroom suppressed the address")
                turned_off.append(self.store.member(member.id))
        return turned_off

    def _turn_off_suppressed(self, result: SendResult) -> None:
        by_address = {m.address.lower(): m for m in self.store.members()}
        for skipped in result.skipped:
            member = by_address.get(skipped.address.lower())
            if member is not None and skipped.reason.startswith("suppressed"):
                self.store.set_mail(member.id, "off", skipped.reason)


def digest_members(forum: Forum) -> Sequence[Member]:
    """The members who asked for a digest."""
    return [m for m in forum.store.members() if m.mail == "digest"]
