"""End to end: a real Postfix hands replies to `postroom receive --lmtp` (a real subprocess).

Ada submits her reply to Postfix's submission port as a mail client would; Postfix routes the
reply domain to postroom over LMTP; the example forum handler must get the right user, the
session data and the text she wrote (quote stripped).
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import Deployment
from support.mailservers import MailServers, free_port, start_mail_servers
from support.messages import reply


@pytest.fixture
def stack(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Deployment, MailServers]]:
    (tmp_path / "app").mkdir()
    deployment = Deployment(tmp_path / "app", sqlite_url)
    assert deployment.run("db", "upgrade").returncode == 0
    port = free_port()
    listener = subprocess.Popen(
        [sys.executable, "-m", "postroom.cli", "receive", "--lmtp", f"127.0.0.1:{port}"],
        env=deployment.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # Wait until the listener holds its port before the mail servers pick theirs, so no
    # server can take the port that was chosen for it.
    assert listener.stdout is not None
    line = listener.stdout.readline().decode()
    assert "listening for LMTP" in line, line
    servers = start_mail_servers(
        tmp_path / "mail", lmtp_routes={"reply.example.test": ("127.0.0.1", port)}
    )
    try:
        yield deployment, servers
    finally:
        servers.stop()
        listener.terminate()
        output = listener.communicate(timeout=10)[0].decode()
        if listener.returncode not in (0, -15):
            print(output)


def wait_for_posts(deployment: Deployment, count: int, servers: MailServers) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        posts = deployment.posts_text()
        if len(posts) >= count:
            return posts
        time.sleep(0.1)
    raise AssertionError(f"no post after 30 s; Postfix log:\n{servers.postfix_log()[-3000:]}")


def submit(servers: MailServers, raw: bytes, rcpts: list[str]) -> None:
    user = servers.users[0]
    with smtplib.SMTP(servers.host, servers.submission_port, timeout=30) as client:
        client.login(user.address, user.password)
        client.sendmail(user.address, rcpts, raw)


def test_postfix_hands_a_reply_to_postroom_over_lmtp(stack: tuple[Deployment, MailServers]) -> None:
    deployment, servers = stack
    address = deployment.new_address(42, '{"title": "Meetup", "topic": 7}')
    body = (
        "I can bring the projector.\n\nOn Mon, Nov 16, 2026 at 9:00 AM Forum "
        "<forum@example.org>\nwrote:\n> Who can bring a projector?\n"
    )
    submit(servers, reply(address, body, sender=servers.users[0].address), [address])
    [text] = wait_for_posts(deployment, 1, servers)
    assert text == "I can bring the projector."
    [post] = [json.loads(line) for line in deployment.posts.read_text().splitlines()]
    assert post["user_id"] == 42 and post["topic"] == "Meetup"


def test_one_message_to_two_reply_addresses_gets_one_lmtp_answer_each(
    stack: tuple[Deployment, MailServers],
) -> None:
    deployment, servers = stack
    first = deployment.new_address(1, '{"title": "One"}')
    second = deployment.new_address(2, '{"title": "Two"}')
    raw = reply(first, "Answering both.\n", sender=servers.users[0].address, headers={"Cc": second})
    submit(servers, raw, [first, second])
    posts = wait_for_posts(deployment, 2, servers)
    assert posts == ["Answering both.", "Answering both."]


def test_a_forged_address_is_refused_during_the_smtp_dialogue(
    stack: tuple[Deployment, MailServers],
) -> None:
    deployment, servers = stack
    good = deployment.new_address()
    forged = good.replace(good[10], "a" if good[10] != "a" else "b", 1)
    submit(servers, reply(forged, "spam", sender=servers.users[0].address), [forged])
    deadline = time.monotonic() + 20
    while "550 5.1.1" not in servers.postfix_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "550 5.1.1" in servers.postfix_log()
    assert deployment.posts_text() == []
