"""Replies written by real terminal mail clients, delivered by a real Postfix to postroom's
LMTP listener; each test asserts the exact text the application's handler receives.

mutt, NeoMutt and alpine (Debian's packages) reply to a notification postroom could have sent
(with and without the "reply above this line" marker, plain text or with an HTML alternative),
in several locales and attribution templates, flowed and not, written above, below or between
the quoted lines (see tests/support/mailclients.py for how the person's typing is driven).
The clients, Postfix and the listener are real; nothing is faked.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.cli import Deployment
from support.mailclients import (
    Client,
    ClientSettings,
    Placement,
    ReplyPlan,
    build_notification,
    reply_with,
)
from support.mailservers import MailServers, free_port, start_mail_servers

ADA = "ada@example.test"
LONG = (
    "I can bring the projector and the long cable, and if nobody else has one I will also "
    "bring the spare adapter for the older laptops that only have a VGA port."
)


@dataclass
class Stack:
    deployment: Deployment
    servers: MailServers
    root: Path
    # One forum session for every run: the handler takes any number of replies to it, and
    # each notification carries a Message-ID of its own.
    address: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("realclients")
    (root / "app").mkdir()
    deployment = Deployment(root / "app", f"sqlite:///{root / 'postroom.db'}")
    assert deployment.run("db", "upgrade").returncode == 0
    port = free_port()
    # The listener and the session start while Postfix and Dovecot do: three slow starts
    # overlap instead of following each other.
    listener = subprocess.Popen(
        [sys.executable, "-m", "postroom.cli", "receive", "--lmtp", f"127.0.0.1:{port}"],
        env=deployment.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    create = ("session", "create", "forum", "--user", "7", "--data", '{"title": "Meetup"}')
    creating = subprocess.Popen(
        [sys.executable, "-m", "postroom.cli", *create],
        env=deployment.env(),
        cwd=deployment.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        servers = start_mail_servers(
            root / "mail",
            users=(("ada@example.test", "secret-ada"),),
            lmtp_routes={"reply.example.test": ("127.0.0.1", port)},
        )
    except BaseException:
        listener.kill()
        creating.kill()
        listener.communicate(timeout=10)
        creating.communicate(timeout=10)
        raise
    try:
        out, err = creating.communicate(timeout=60)
        assert creating.returncode == 0, err.decode()
        assert listener.stdout is not None
        line = listener.stdout.readline().decode()
        assert "listening for LMTP" in line, line
        yield Stack(deployment, servers, root, out.decode().strip())
    finally:
        servers.stop()
        listener.terminate()
        listener.communicate(timeout=10)


def reply_text(
    stack: Stack,
    name: str,
    client: Client,
    plan: ReplyPlan,
    settings: ClientSettings | None = None,
    *,
    marker: bool = True,
    html: bool = False,
    lines: tuple[str, ...] = ("Bob posted in Meetup:", "Who can bring a projector?"),
) -> str:
    """Run one client reply end to end; the text the forum handler posted."""
    before = len(stack.deployment.posts_text())
    notification = build_notification(stack.address, to=ADA, marker=marker, html=html, lines=lines)
    reply_with(
        client,
        stack.root / "runs" / name,
        notification,
        plan,
        smtp_port=stack.servers.smtp_port,
        settings=settings,
    )
    # Postfix hands the reply on within milliseconds: look often at first, then less often.
    deadline = time.monotonic() + 30
    pause = 0.005
    while time.monotonic() < deadline:
        posts = stack.deployment.posts_text()
        if len(posts) > before:
            return posts[-1]
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    raise AssertionError(f"no post after 30 s; Postfix log:\n{stack.servers.postfix_log()[-3000:]}")


TWO_QUESTIONS = ("Bob asked in Meetup:", "Who can bring a projector?", "Who brings the cables?")
INTERLEAVED = ReplyPlan(
    Placement.INTERLEAVED, answers=(("projector", "I can."), ("cables", "Ann has them."))
)
# The policy of docs/replies.md: quotes between the person's answers are kept as their context,
# and so is the first quote block (the question the first answer answers).
INTERLEAVED_TEXT = (
    "> Bob asked in Meetup:\n> Who can bring a projector?\n\nI can.\n\n"
    "> Who brings the cables?\n\nAnn has them."
)


# --- mutt --------------------------------------------------------------------------------


def test_mutt_top_post_to_a_marked_notification(stack: Stack) -> None:
    plan = ReplyPlan(Placement.TOP, "I can bring it.")
    assert reply_text(stack, "mutt-top", Client.MUTT, plan) == "I can bring it."


def test_mutt_bottom_post_under_the_quoted_marker(stack: Stack) -> None:
    plan = ReplyPlan(Placement.BOTTOM, "I can bring it.\n\nSee you there.")
    text = reply_text(stack, "mutt-bottom", Client.MUTT, plan)
    assert text == "I can bring it.\n\nSee you there."


def test_mutt_interleaved_without_marker(stack: Stack) -> None:
    text = reply_text(
        stack, "mutt-inter", Client.MUTT, INTERLEAVED, marker=False, lines=TWO_QUESTIONS
    )
    assert text == INTERLEAVED_TEXT


def test_mutt_flowed_paragraph_is_joined(stack: Stack) -> None:
    settings = ClientSettings(flowed=True)
    text = reply_text(stack, "mutt-flowed", Client.MUTT, ReplyPlan(Placement.TOP, LONG), settings)
    assert text == LONG


def test_mutt_german_attribution_bottom_post(stack: Stack) -> None:
    settings = ClientSettings(
        lang="de_DE.UTF-8",
        attribution="Am %d schrieb %n:",
        attribution_locale="de_DE.UTF-8",
        date_format="%a, %d. %b %Y um %H:%M",
    )
    plan = ReplyPlan(Placement.BOTTOM, "Ich bringe ihn mit. Grüße aus Köln!")
    text = reply_text(stack, "mutt-de", Client.MUTT, plan, settings, marker=False)
    assert text == "Ich bringe ihn mit. Grüße aus Köln!"


def test_mutt_undated_name_wrote_attribution(stack: Stack) -> None:
    settings = ClientSettings(attribution="%n wrote:")
    plan = ReplyPlan(Placement.BOTTOM, "Count me in.")
    text = reply_text(stack, "mutt-nwrote", Client.MUTT, plan, settings, marker=False)
    assert text == "Count me in."


def test_mutt_classic_star_attribution(stack: Stack) -> None:
    settings = ClientSettings(attribution="* %n <%a> [%{%Y-%m-%d %H:%M}]:")
    plan = ReplyPlan(Placement.BOTTOM, "I will be there at nine.")
    text = reply_text(stack, "mutt-star", Client.MUTT, plan, settings, marker=False)
    assert text == "I will be there at nine."


def test_mutt_signature_is_not_part_of_the_text(stack: Stack) -> None:
    settings = ClientSettings(signature="Ada Lovelace\nAnalytical Engines Ltd")
    plan = ReplyPlan(Placement.TOP, "Yes, I will bring it.")
    text = reply_text(stack, "mutt-sig", Client.MUTT, plan, settings)
    assert text == "Yes, I will bring it."


def test_mutt_french_attribution_to_an_html_notification(stack: Stack) -> None:
    settings = ClientSettings(
        lang="fr_FR.UTF-8",
        attribution="Le %d, %n a écrit :",
        attribution_locale="fr_FR.UTF-8",
        date_format="%A %d %B %Y à %H:%M",
    )
    plan = ReplyPlan(Placement.BOTTOM, "Je l'apporte, à mercredi !")
    text = reply_text(stack, "mutt-fr", Client.MUTT, plan, settings, html=True)
    assert text == "Je l'apporte, à mercredi !"


# --- NeoMutt -----------------------------------------------------------------------------


def test_neomutt_top_post_to_an_html_notification(stack: Stack) -> None:
    plan = ReplyPlan(Placement.TOP, "Happy to bring it.")
    text = reply_text(stack, "neomutt-top", Client.NEOMUTT, plan, html=True)
    assert text == "Happy to bring it."


def test_neomutt_polish_flowed_bottom_post(stack: Stack) -> None:
    settings = ClientSettings(
        lang="pl_PL.UTF-8",
        flowed=True,
        attribution="Dnia %d, %n napisał(a):",
        attribution_locale="pl_PL.UTF-8",
        date_format="%d %b %Y o %H:%M",
    )
    polish = (
        "Przyniosę rzutnik i długi kabel, a jeśli nikt inny nie ma przejściówki, to ją też "
        "zabiorę dla starszych laptopów."
    )
    plan = ReplyPlan(Placement.BOTTOM, polish)
    assert reply_text(stack, "neomutt-pl", Client.NEOMUTT, plan, settings) == polish


def test_neomutt_interleaved_with_marker(stack: Stack) -> None:
    text = reply_text(stack, "neomutt-inter", Client.NEOMUTT, INTERLEAVED, lines=TWO_QUESTIONS)
    assert text == INTERLEAVED_TEXT


# --- alpine ------------------------------------------------------------------------------


def test_alpine_default_leadin_flowed_top_post(stack: Stack) -> None:
    # Alpine sends format=flowed by default; pico wraps the typed paragraph near column 74.
    settings = ClientSettings(flowed=True)
    text = reply_text(stack, "alpine-top", Client.ALPINE, ReplyPlan(Placement.TOP, LONG), settings)
    assert text == LONG


def test_alpine_german_leadin_without_year_bottom_post(stack: Stack) -> None:
    settings = ClientSettings(lang="de_DE.UTF-8", attribution="Am _DATE_ schrieb _FROM_:")
    plan = ReplyPlan(Placement.BOTTOM, "Ich bringe ihn mit.")
    text = reply_text(stack, "alpine-de", Client.ALPINE, plan, settings, marker=False)
    assert text == "Ich bringe ihn mit."


def test_alpine_french_leadin_bottom_post_under_marker(stack: Stack) -> None:
    settings = ClientSettings(
        lang="fr_FR.UTF-8", flowed=True, attribution="Le _DATE_, _FROM_ a écrit :"
    )
    plan = ReplyPlan(Placement.BOTTOM, "Je l'apporte.")
    text = reply_text(stack, "alpine-fr", Client.ALPINE, plan, settings)
    assert text == "Je l'apporte."


def test_alpine_interleaved(stack: Stack) -> None:
    text = reply_text(
        stack, "alpine-inter", Client.ALPINE, INTERLEAVED, marker=False, lines=TWO_QUESTIONS
    )
    assert text == INTERLEAVED_TEXT


def test_alpine_polish_top_post_with_signature(stack: Stack) -> None:
    settings = ClientSettings(
        lang="pl_PL.UTF-8",
        attribution="Dnia _DATE_, _FROM_ napisał(a):",
        signature="-- \nAda Lovelace",
    )
    plan = ReplyPlan(Placement.TOP, "Przyniosę rzutnik.")
    text = reply_text(stack, "alpine-pl", Client.ALPINE, plan, settings, html=True)
    assert text == "Przyniosę rzutnik."
