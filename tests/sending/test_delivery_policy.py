"""What the worker does with each kind of SMTP answer, against a scripted SMTP server, with a
settable clock (no test sleeps to wait for a retry): 421 and 451 retried with growing backoff
until 250; 550 user unknown fails and suppresses; a suppressed address is skipped and said;
a daily-limit answer pauses the account and fails nobody; a copy never delivered fails at the
maximum age."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.service import add_account, get_account
from postroom.app import Postroom
from postroom.compose import Email
from postroom.outbound import Timeouts
from postroom.settings import SendingSettings
from postroom.store import Database
from postroom.store.models import SuppressionRow
from support.sending import settings_with_keys
from support.smtpserver import ScriptedSmtpServer

MIN = timedelta(seconds=300)


class Clock:
    def __init__(self, room_clock: object) -> None:
        from datetime import UTC, datetime

        self.now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def server() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as scripted:
        yield scripted


@pytest.fixture
def clock() -> Clock:
    return Clock(None)


@pytest.fixture
def room(
    database: Database, database_url: str, clock: Clock, server: ScriptedSmtpServer
) -> Postroom:
    room = Postroom(settings_with_keys(database_url), database=database, clock=clock)
    add_account(
        database,
        room.settings,
        AccountSpec(
            "main",
            "news@example.test",
            server.host,
            smtp_port=server.port,
            smtp_security=Security.NONE,
            smtp_auth=Auth.NONE,
        ),
        AccountSecrets(),
        now=clock(),
    )
    return room


def _drain(room: Postroom) -> int:
    worker = room.worker(concurrency=1, rng=random.Random(7), timeouts=Timeouts.uniform(5))
    return worker.drain().copies


def _send(room: Postroom, *to: str) -> int:
    return room.send(Email(account="main", to=list(to), subject="s", text="hello")).email_id


def test_421_then_451_then_250_retries_with_growing_backoff(
    room: Postroom, server: ScriptedSmtpServer, clock: Clock
) -> None:
    server.on(
        "RCPT",
        "421 4.3.2 Service not available, closing transmission channel",
        "451 4.3.0 Mailbox busy",
        match="ada@example.test",
    )
    email = _send(room, "ada@example.test")
    start = clock.now
    assert _drain(room) == 1
    [copy] = room.email(email).copies
    assert copy.status == "deferred" and copy.last_code == 421, copy
    first_wait = copy.next_attempt_at - start  # type: ignore[operator]
    assert MIN / 2 <= first_wait <= MIN, copy  # equal jitter over the minimum backoff
    assert _drain(room) == 0  # not due yet: the worker waits, nothing sleeps

    clock.now = copy.next_attempt_at  # type: ignore[assignment]
    assert _drain(room) == 1
    [copy] = room.email(email).copies
    assert copy.status == "deferred" and copy.last_code == 451 and copy.attempts == 2
    second_wait = copy.next_attempt_at - clock.now  # type: ignore[operator]
    assert MIN <= second_wait <= 2 * MIN  # doubled

    clock.now = copy.next_attempt_at  # type: ignore[assignment]
    assert _drain(room) == 1
    [copy] = room.email(email).copies
    assert copy.status == "sent" and copy.attempts == 3 and copy.last_code == 250
    assert copy.events == ("queued", "deferred", "deferred", "sent")
    assert [m.rcpts for m in server.messages] == [("ada@example.test",)]


def test_550_fails_suppresses_and_the_next_send_skips_the_address(
    room: Postroom, server: ScriptedSmtpServer
) -> None:
    server.on(
        "RCPT",
        "550 5.1.1 <gone@example.test>: Recipient address rejected: "
        "User unknown in virtual mailbox table",
        match="gone@example.test",
    )
    email = _send(room, "gone@example.test", "ok@example.test")
    assert _drain(room) == 2
    states = {c.address: c for c in room.email(email).copies}
    assert states["gone@example.test"].status == "failed"
    assert states["gone@example.test"].last_code == 550
    assert states["ok@example.test"].status == "sent"
    with room.database.transaction() as tx:
        [row] = tx.query(SuppressionRow).all()
        assert row.address == "gone@example.test" and row.reason == "gone"

    again = room.send(
        Email(account="main", to=["Gone@example.test", "ok@example.test"], subject="s", text="t")
    )
    assert [(s.address, s.reason) for s in again.skipped] == [
        ("Gone@example.test", "suppressed: gone")
    ]
    assert [c.address for c in again.deliveries] == ["ok@example.test"]


def test_a_daily_limit_answer_pauses_the_account_and_fails_nobody(
    room: Postroom, server: ScriptedSmtpServer, clock: Clock
) -> None:
    server.on(
        "MAIL",
        "250 2.1.0 OK",
        "550 5.4.5 Daily user sending limit exceeded. "
        "For more information on Gmail sending limits go to https://support.google.com",
    )
    email = _send(room, *(f"r{n}@example.test" for n in range(5)))
    _drain(room)
    states = room.email(email).copies
    assert [c.status for c in states] == ["sent", "deferred", "queued", "queued", "queued"]
    assert all(c.status != "failed" for c in states)
    account = get_account(room.database, "main")
    assert account.paused(clock.now) and "5.4.5" in (account.pause_reason or "")
    # Gmail's limits apply over a rolling 24 hours: the pause lasts until then.
    assert account.paused_until is not None
    assert timedelta(hours=23) <= account.paused_until - clock.now <= timedelta(hours=25)
    assert _drain(room) == 0
    clock.now = account.paused_until
    assert _drain(room) == 4
    assert room.email(email).counts() == {"sent": 5}


def test_a_copy_never_delivered_fails_at_the_maximum_age(
    room: Postroom, server: ScriptedSmtpServer, clock: Clock
) -> None:
    server.on("RCPT", *["451 4.3.0 Try later"] * 40, match="slow@example.test")
    sending = SendingSettings(min_backoff=timedelta(hours=2), max_backoff=timedelta(hours=12))
    room.configure(room.settings.clone(sending=sending), database=room.database)
    email = _send(room, "slow@example.test")
    deadline = clock.now + room.settings.sending.max_age
    for _ in range(40):
        _drain(room)
        [copy] = room.email(email).copies
        if copy.status != "deferred":
            break
        assert copy.next_attempt_at is not None and copy.next_attempt_at <= deadline
        clock.now = copy.next_attempt_at
    assert copy.status == "failed" and copy.last_code == 451
    assert clock.now == deadline  # the last attempt came at the copy's maximum age
    assert room.email(email).copies[0].events[-1] == "failed"


def test_a_server_that_cannot_be_reached_defers_and_nobody_fails(
    room: Postroom, server: ScriptedSmtpServer, clock: Clock
) -> None:
    email = _send(room, "a@example.test", "b@example.test")
    server.stop()
    assert _drain(room) == 0
    counts = room.email(email).counts()
    assert counts.get("deferred", 0) >= 1 and set(counts) <= {"deferred", "queued"}
    account = get_account(room.database, "main")
    assert not account.paused(clock.now)  # the server, not the account, is at fault


def test_an_account_with_a_dkim_key_signs_every_copy_after_the_splice(
    database: Database,
    database_url: str,
    clock: Clock,
    server: ScriptedSmtpServer,
    tmp_path: Path,
) -> None:
    import dkim
    from click.testing import CliRunner
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from postroom.cli import main
    from postroom.settings import load_settings, render_config

    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    import secrets

    config = tmp_path / "postroom.toml"
    config.write_text(render_config(secret=secrets.token_bytes(32), database_url=database_url))
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    added = runner.invoke(
        main,
        ["--config", str(config), "accounts", "add", "news", "--from", "news@example.test",
         "--smtp", f"{server.host}:{server.port}", "--security", "none", "--auth", "none",
         "--dkim-selector", "s2026", "--dkim-key-file", str(key_file)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    record = added.output.split("publish this DNS record for DKIM: ", 1)[1].strip()
    name, _, value = record.partition(" TXT ")
    assert name == "s2026._domainkey.example.test"

    room = Postroom(load_settings(config), clock=clock)
    room.send(
        Email(
            account="news",
            to=["a@example.test", "b@example.test"],
            subject="Signed",
            html='<p>Hi <a href="https://example.test/x">x</a></p>',
            bulk=True,
        )
    )
    room.worker(concurrency=1, timeouts=Timeouts.uniform(5)).drain()
    messages = server.wait_for_messages(2)

    def dns(qname: bytes, timeout: int = 5) -> bytes:
        # Stands for the TXT lookup of <selector>._domainkey.<domain>.
        return value.encode() if qname.rstrip(b".") == name.encode() else b""

    for received in messages:
        assert received.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(received.data, dnsfunc=dns)
        signed = received.data.split(b"\r\n\r\n", 1)[0]
        assert b"list-unsubscribe" in signed.lower().split(b"h=", 1)[1].split(b";", 1)[0]
    room.close()
