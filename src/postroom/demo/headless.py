"""``postroom demo --headless``: the whole loop played by a script, then a table of the steps.

Every step goes through the real parts on loopback: ``room.send`` and the worker deliver to the
local mail catcher over SMTP; opens, clicks and the unsubscribe go over HTTP to the tracking
endpoints of the web app; replies and bounces come back through the inbound pipeline; the Sent
folder is reconciled over IMAP in a private Dovecot (when Dovecot is installed).
"""

from __future__ import annotations

import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from postroom.catcher import actions
from postroom.catcher.mail import gmail_reply, parse, reply_target, tracked_urls
from postroom.compose.email import Email, Recipient, ReplyTo
from postroom.demo.sent import file_like_gmail, reconcile_demo
from postroom.demo.site import Site
from postroom.store import catcher as caught_store
from postroom.store.models import EventRow

Caught = caught_store.CaughtMessage


class StepFailed(Exception):
    """A step did not end as it should; the message says what was seen."""


@dataclass
class Step:
    name: str
    status: str = "done"
    detail: str = ""


class Play:
    """The steps played so far; a step that raises is recorded as failed, and play goes on."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.steps: list[Step] = []
        self.out = out

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        step = Step(name)
        self.steps.append(step)
        self.out(f"- {name} ...")
        try:
            yield step
        except StepFailed as exc:
            step.status, step.detail = "FAILED", str(exc)
        except Exception as exc:  # a demo bug: say where, keep playing
            step.status = "FAILED"
            step.detail = f"{type(exc).__name__}: {exc} " + "".join(
                traceback.format_exception(exc)[-2:-1]
            ).strip().replace("\n", " ")
        self.out(f"  {step.status}: {step.detail}")

    def skip(self, name: str, why: str) -> None:
        self.steps.append(Step(name, "skipped", why))
        self.out(f"- {name}: skipped ({why})")

    def table(self) -> str:
        width = max(len(s.name) for s in self.steps)
        lines = [f"{'step':<{width}}  {'result':<7}  what happened", "-" * (width + 60)]
        for s in self.steps:
            lines.append(f"{s.name:<{width}}  {s.status:<7}  {s.detail}")
        return "\n".join(lines)

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.status == "FAILED"]


def check(ok: bool, seen: str) -> None:
    if not ok:
        raise StepFailed(seen)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``probe`` until it returns something true (the event sink flushes in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"{what}: not seen within {timeout:g} s")
        time.sleep(0.05)


class Loop:
    """The script, with the helpers its steps share."""

    def __init__(self, site: Site, play: Play) -> None:
        self.site = site
        self.room = site.room
        self.forum = site.forum
        self.play = play

    # -- helpers ------------------------------------------------------------------------------

    def deliver(self) -> None:
        """What ``postroom worker`` does: deliver every due copy and run every due job."""
        self.room.worker(concurrency=1).drain(timeout=60)

    def inbox(self, address: str) -> list[caught_store.CaughtMessage]:
        with self.room.database.transaction() as tx:
            page = caught_store.caught_page(tx, recipient=address, start=None, limit=200)
        return list(page.items)

    def latest(self, address: str, subject_has: str = "") -> caught_store.CaughtMessage:
        found = [m for m in self.inbox(address) if subject_has in (m.subject or "")]
        if not found:
            raise StepFailed(f"no message for {address} with {subject_has!r} in the catcher")
        newest = max(found, key=lambda m: m.id)
        return actions.caught(self.room, newest.id)

    def events(self, type: str, **where: Any) -> list[EventRow]:
        with self.room.database.transaction() as tx:
            query = select(EventRow).where(EventRow.type == type)
            for column, value in where.items():
                query = query.where(getattr(EventRow, column) == value)
            rows = list(tx.scalars(query))
            tx.expunge_all()
        return rows

    def reply_bytes(
        self, copy: Caught, text: str, *, to: str | None = None, auto: bool = False
    ) -> bytes:
        """A reply to ``copy`` as its recipient writes it in Gmail (a fresh Message-ID)."""
        assert copy.raw is not None
        reply = gmail_reply(
            parse(copy.raw), sender=copy.recipient, text=text, now=self.room.clock(),
            domain=copy.recipient.rpartition("@")[2],
        )  # fmt: skip
        if to is not None:
            reply.replace_header("To", to)
        if auto:
            reply["Auto-Submitted"] = "auto-replied"
            reply.replace_header("Subject", "Out of office: " + str(reply["Subject"]))
        return reply.as_bytes()

    # -- the script ---------------------------------------------------------------------------

    def run(self) -> None:
        forum, play = self.forum, self.play
        ada = forum.join("Ada Lovelace", "ada@example.net")
        bob = forum.join("Bob", "bob@example.net")
        cy = forum.join("Cy", "cy@example.net")
        dee = forum.join("Dee", "dee@example.net", mail="digest")
        gone = forum.join("Gone", "gone@example.net")
        meetup = forum.store.add_topic("Tuesday meetup")
        for member in (ada, bob, cy, dee, gone):
            forum.subscribe(member.id, meetup.id)

        copies: dict[str, caught_store.CaughtMessage] = {}
        with play.step("send one email to To, Cc and Bcc") as step:
            result = self.room.send(
                Email(
                    account="catcher",
                    to=[Recipient(ada.address, ada.name, user=ada.id)],
                    cc=[Recipient(bob.address, bob.name, user=bob.id)],
                    bcc=[Recipient(cy.address, cy.name, user=cy.id)],
                    subject="Tuesday meetup: the programme",
                    html=(
                        "<p>Hello! The programme for Tuesday is "
                        '<a href="https://forum.example.org/t/meetup">on the forum</a>.</p>'
                        "<p>Reply to this email to post in the topic.</p>"
                    ),
                    reply=ReplyTo("forum", data={"topic": meetup.id}),
                    bulk=True,
                )
            )
            self.deliver()
            for who in (ada, bob, cy):
                copies[who.address] = self.latest(who.address, "programme")
            if self.site.imap is not None:
                file_like_gmail(self.site, [c.raw for c in copies.values() if c.raw])
            heads = []
            for copy in copies.values():
                assert copy.raw is not None
                message = parse(copy.raw)
                heads.append(tuple(str(message[h]) for h in ("From", "To", "Cc", "Subject")))
                header = copy.raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
                check(cy.address not in header, f"the Bcc address shows in {copy.recipient}'s copy")
            check(len(set(heads)) == 1, f"visible headers differ between copies: {heads}")
            step.detail = (
                f"email #{result.email_id}: 3 copies caught, same From/To/Cc/Subject, "
                "no copy names the Bcc recipient"
            )

        with play.step("Apple Mail prefetches it (a machine's open)") as step:
            actions.open_message(self.room, copies[bob.address].id, client="apple_prefetch")
            [event] = wait_for(
                "the open event", lambda: self.events("opened", recipient=bob.address)
            )
            check(event.machine is True, f"the prefetch was judged a person's: {event.data}")
            check(_label(event) == "apple_privacy", f"not taken for Apple's: {event.data}")
            step.detail = f"Bob's prefetch recorded as a machine's ({_label(event)})"

        with play.step("a person opens it") as step:
            # A person reads the mail a while after it arrived: hits within the machine window
            # (seconds after delivery, when scanners fetch) are a machine's. The demo's window
            # is 2 s (tracking.machine_window_seconds; 15 by default).
            time.sleep(max(0.0, self.room.settings.tracking.machine_window.total_seconds() + 0.5))
            actions.open_message(self.room, copies[ada.address].id, client="person")
            [event] = wait_for(
                "the open event", lambda: self.events("opened", recipient=ada.address)
            )
            check(event.machine is False, f"the open was judged a machine's: {event.data}")
            step.detail = f"Ada's open recorded as a person's ({_label(event)})"

        with play.step("a person clicks the link") as step:
            clicked = actions.click_link(self.room, copies[ada.address].id, 0)
            check(
                clicked.details.get("location") == "https://forum.example.org/t/meetup",
                f"the click went to {clicked.details.get('location')}",
            )
            wait_for("the click event", lambda: self.events("clicked", recipient=ada.address))
            step.detail = "redirected to exactly the recorded URL; clicked event recorded"

        with play.step("one-click unsubscribe (RFC 8058)") as step:
            raw = copies[cy.address].raw
            assert raw is not None
            url = tracked_urls(parse(raw), self.room.settings.tracking.base_url).unsubscribe
            check(url is not None, "the copy has no unsubscribe URL")
            assert url is not None
            request = urllib.request.Request(
                url, data=b"List-Unsubscribe=One-Click", method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as answer:
                status = answer.status
            check(status < 300, f"the unsubscribe POST answered {status}")
            check(self.room.is_suppressed(address=cy.address), "Cy's address is not suppressed")
            step.detail = f"POST answered {status}; Cy's address is suppressed, no login needed"

        with play.step("a reply to a post becomes a post") as step:
            forum.post(meetup.id, ada.id, "I'll bring the projector. Who brings snacks?")
            self.deliver()
            notification = self.latest(bob.address, "[Forum]")
            replied = actions.reply_message(self.room, notification.id, "I will bring snacks!")
            check(replied.details["outcome"] == "dispatched", replied.summary)
            last = forum.store.posts(meetup.id)[-1]
            check(last.member_id == bob.id and last.via == "email", f"last post: {last}")
            step.detail = f"Bob's reply (Gmail quoting) posted: {last.text!r}"

        with play.step("the same reply delivered twice is handled once") as step:
            assert notification.raw is not None
            target = reply_target(parse(notification.raw))
            again = self.reply_bytes(notification, "Snacks again, in case.")
            first = self.room.receive(again, recipients=(target,), sender=bob.address)
            second = self.room.receive(again, recipients=(target,), sender=bob.address)
            check(
                (first.outcome, second.outcome) == ("dispatched", "duplicate"),
                f"outcomes {first.outcome}, {second.outcome}",
            )
            step.detail = "second delivery recognised by its Message-ID: duplicate, no post"

        with play.step("a forged reply address is refused, nobody is answered") as step:
            local, _, domain = target.partition("@")
            forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
            fake = self.reply_bytes(notification, "Buy now!", to=forged)
            answer = self.room.receive(fake, recipients=(forged,), sender="spammer@example.com")
            check(answer.outcome == "invalid_address", f"outcome {answer.outcome}")
            check(not self.inbox("spammer@example.com"), "the forger got an answer")
            step.detail = "one character changed: invalid_address, no error email (no backscatter)"

        with play.step("an auto-reply is recorded, not posted, not answered") as step:
            before = len(forum.store.posts(meetup.id))
            away = self.reply_bytes(notification, "I am away until Monday.", auto=True)
            answer = self.room.receive(away, recipients=(target,), sender=bob.address)
            check(answer.outcome == "auto_reply_recorded", f"outcome {answer.outcome}")
            check(len(forum.store.posts(meetup.id)) == before, "the auto-reply became a post")
            step.detail = "Auto-Submitted: auto-replied (RFC 3834): auto_reply_recorded"

        with play.step("a reply to one digest item lands on that item") as step:
            talks = forum.start_topic("Talk schedule", ada.id, "Talks start at 7 pm sharp.")
            forum.subscribe(dee.id, talks.id)
            forum.post(talks.id, ada.id, "Slides will be online afterwards.")
            pending = forum.store.unsent_for_digest(dee.id)
            number = 1 + next(n for n, p in enumerate(pending) if p.topic_id == talks.id)
            check(forum.send_digest(dee.id) is not None, "no digest to send")
            self.deliver()
            digest = self.latest(dee.address, "digest")
            items = forum.store.unsent_for_digest(dee.id)
            check(not items, "the digest left posts unsent")
            replied = actions.reply_message(
                self.room, digest.id, f"#{number} Count me in for 7 pm."
            )
            check(replied.details["outcome"] == "dispatched", replied.summary)
            posted = [p for p in forum.store.posts(talks.id) if p.member_id == dee.id]
            check(bool(posted) and posted[-1].via == "digest", f"Dee's posts: {posted}")
            step.detail = (
                f"Dee answered item #{number} of {len(pending)} in her digest: posted in "
                f"\u201c{talks.title}\u201d"
            )

        with play.step("a reply after the address expired gets an error email") as step:
            late_copy = self.latest(ada.address, "[Forum]")
            offset = self.site.clock.offset
            self.site.clock.offset = offset + timedelta(days=400)
            try:
                replied = actions.reply_message(self.room, late_copy.id, "Sorry I'm late!")
                self.deliver()  # the worker sends the error email through the catcher
            finally:
                self.site.clock.offset = offset
            check(replied.details["outcome"] == "session_expired", replied.summary)
            notice = self.latest(ada.address, "")
            check(notice.id > late_copy.id, "no error email arrived")
            step.detail = f"outcome expired; Ada got \u201c{notice.subject}\u201d"

        with play.step("a bounce counts against the right recipient") as step:
            forum.post(meetup.id, ada.id, "See you all on Tuesday!")
            self.deliver()
            lost = self.latest(gone.address, "[Forum]")
            bounced = actions.bounce_message(self.room, lost.id, hard=True)
            check(bounced.details["outcome"] == "bounce_recorded", bounced.summary)
            events = wait_for("the bounce event", lambda: self.events("bounced"))
            check(
                any(e.recipient == gone.address for e in events),
                f"bounced events name {[e.recipient for e in events]}",
            )
            step.detail = f"hard bounce recorded for {gone.address} ({bounced.summary})"

        self.sent_folder(result.email_id)

    def sent_folder(self, email_id: int) -> None:
        name = "the Sent folder holds one clean copy"
        imap = self.site.imap
        if imap is None:
            self.play.skip(name, f"no private Dovecot here: {self.site.imap_unavailable}")
            return
        with self.play.step(name) as step:
            step.detail = reconcile_demo(self, email_id, filed=3)


def _label(event: EventRow) -> str:
    from postroom.store.dashboard import event_label

    return event_label(event) or ("machine" if event.machine else "human")


def run_headless(workdir: Path, *, out: Callable[[str], None] = print) -> int:
    """Play the loop in ``workdir`` (recreated); 0 when every step is done or skipped."""
    from postroom.demo.live import started

    with started(workdir, out=out) as site:
        play = Play(out)
        Loop(site, play).run()
    out("")
    out(play.table())
    out("")
    if play.failed:
        out(f"demo: {len(play.failed)} step(s) failed")
        return 1
    done = sum(1 for s in play.steps if s.status == "done")
    out(f"demo: {done} of {len(play.steps)} steps done")
    return 0


__all__ = ["EmailMessage", "run_headless"]
