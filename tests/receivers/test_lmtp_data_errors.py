"""Item 8: every outcome after DATA gets one LMTP reply per accepted recipient (RFC 2033
section 4.2), and a listener whose database cannot answer refuses to start."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.app import Postroom
from postroom.receivers import BackgroundListener
from support.cli import Deployment
from support.messages import reply


class RawLMTP:
    """A line-level LMTP client: smtplib reads one reply after DATA, whatever LMTP says."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline().decode()
            assert line, "the server closed the connection"
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return "\n".join(lines)

    def command(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def small(room: Postroom) -> Iterator[tuple[Postroom, BackgroundListener]]:
    room.configure(room.settings.clone(max_message_bytes=4096))
    listener = BackgroundListener(room, protocol="lmtp")
    yield room, listener
    listener.stop()


def transaction(port: int, recipients: list[str], data: bytes) -> list[str]:
    client = RawLMTP(port)
    try:
        assert client.command("LHLO client.example").startswith("250")
        assert client.command("MAIL FROM:<ada@example.net>").startswith("250")
        for rcpt in recipients:
            assert client.command(f"RCPT TO:<{rcpt}>").startswith("250")
        assert client.command("DATA").startswith("354")
        client.sock.sendall(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b".\r\n")
        return [client.reply() for _ in recipients]
    finally:
        client.close()


@pytest.mark.parametrize("problem", ["long line", "too large"])
def test_a_data_error_gets_one_reply_per_recipient(
    small: tuple[Postroom, BackgroundListener], problem: str
) -> None:
    room, listener = small
    first = room.create_session("forum", 1).address
    second = room.create_session("forum", 2).address
    body = "x" * 5000 + "\n" if problem == "long line" else ("y" * 70 + "\n") * 100
    answers = transaction(listener.port, [first, second], reply(first, body))
    assert len(answers) == 2 and answers[0] == answers[1]
    assert answers[0][0] == "5", answers


def test_a_good_message_still_gets_one_reply_per_recipient(
    small: tuple[Postroom, BackgroundListener],
) -> None:
    room, listener = small
    first = room.create_session("forum", 1).address
    second = room.create_session("forum", 2).address
    answers = transaction(listener.port, [first, second], reply(first, "Fine.\n"))
    assert answers == ["250 2.0.0 dispatched", "250 2.0.0 dispatched"]


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", 75, b"start the database"),
        ("not a url at all", 78, b"database.url"),
    ],
)
def test_a_listener_with_a_database_that_cannot_answer_refuses_to_start(
    tmp_path: Path, sqlite_url: str, url: str, code: int, says: bytes
) -> None:
    deployment = Deployment(tmp_path, sqlite_url)
    env = {**deployment.env(), "POSTROOM_DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "postroom", "receive", "--lmtp", "127.0.0.1:0"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    assert says in result.stderr and b"Traceback" not in result.stderr
