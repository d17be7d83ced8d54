"""Four `postroom worker` processes on PostgreSQL share one queue: 10,000 copies reach
Postfix's smtp-sink exactly once each; then, with workers SIGKILLed at random moments five times
and restarted, every recipient still arrives, duplicates stay within the number of kills, and
no claim is left behind.

Each transaction the sink takes is dumped to a file of its own (`smtp-sink -d`); a copy counts
as arrived when its dump holds the whole message (its last line), so a transaction cut off by a
kill is not counted. Bounded: 2 x 10,000 copies, at most a few minutes.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Limits, Security
from postroom.accounts.service import add_account
from postroom.app import Postroom
from postroom.compose import Email
from postroom.settings import load_settings, render_config
from postroom.store.migrate import upgrade
from postroom.store.models import DeliveryRow
from support.postgres import fresh_database
from support.smtpsink import SmtpSink

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

COPIES = 10_000
PER_EMAIL = 1_000
TRAILER = "END-OF-COPY"


class Workers:
    def __init__(self, config: Path, count: int) -> None:
        self.config = config
        self.logs = config.parent / "logs"
        self.logs.mkdir(exist_ok=True)
        self.started = 0
        self.procs = [self._start() for _ in range(count)]

    def _start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.logs / f"worker-{self.started}.log").open("wb")
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "postroom.cli",
                "--config",
                str(self.config),
                "worker",
                "--concurrency",
                "1",
                "--poll",
                "0.2",
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.config.parent,
        )

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.procs))
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait()
        self.procs[index] = self._start()

    def stop(self) -> list[int]:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        return [proc.wait(timeout=60) for proc in self.procs]

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.logs.iterdir())


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Postroom, Path]]:
    import secrets

    with fresh_database() as url:
        config = tmp_path / "postroom.toml"
        text = render_config(secret=secrets.token_bytes(32), database_url=url)
        # A killed worker's claims are taken over once their lease runs out: short here.
        text = text.replace("lease_seconds = 120", "lease_seconds = 5")
        config.write_text(text)
        room = Postroom().configure(load_settings(config))
        upgrade(room.database)
        yield room, config
        room.close()


def _dump_dir() -> Path:
    # smtp-sink writes as the postfix user: the directory must be open to it.
    path = Path(tempfile.mkdtemp(prefix="sink-dumps-"))
    path.chmod(0o777)
    return path


def _arrivals(dumps: Path) -> collections.Counter[str]:
    """Recipients of every complete transaction the sink dumped."""
    seen: collections.Counter[str] = collections.Counter()
    for entry in os.scandir(dumps):
        data = Path(entry.path).read_bytes()
        if TRAILER.encode() not in data:
            continue  # cut off mid-message by a kill: the server never accepted it
        for line in data.split(b"\n"):
            if line.startswith(b"X-Rcpt-Args: <"):
                seen[line[14:].split(b">", 1)[0].decode()] += 1
    return seen


def _queue(room: Postroom, tag: str) -> list[str]:
    addresses = [f"r{n}.{tag}@sink.example.test" for n in range(COPIES)]
    for start in range(0, COPIES, PER_EMAIL):
        chunk = addresses[start : start + PER_EMAIL]
        room.send(
            Email(
                account="sink",
                to=chunk[:1],
                bcc=chunk[1:],
                subject=f"load {tag}",
                text=f"A copy for the load test.\n{TRAILER}\n",
                track=False,
            )
        )
    return addresses


def _wait_for(dumps: Path, expected: set[str], timeout: float, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if expected <= set(_arrivals(dumps)):
            return
        time.sleep(0.5)
    missing = len(expected - set(_arrivals(dumps)))
    raise AssertionError(f"{missing} copies never arrived\n{workers.log_text()}")


def _statuses(room: Postroom) -> dict[str, int]:
    with room.database.transaction() as tx:
        rows = tx.execute(
            select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        ).all()
    return {status: count for status, count in rows}


def test_four_workers_share_the_queue_exactly_and_survive_kills(
    deployment: tuple[Postroom, Path],
) -> None:
    room, config = deployment
    dumps = _dump_dir()
    with SmtpSink.start("-d", f"{dumps}/%H%M%S.") as sink:
        add_account(
            room.database,
            room.settings,
            AccountSpec(
                "sink",
                "sender@example.test",
                sink.host,
                smtp_port=sink.port,
                smtp_security=Security.NONE,
                smtp_auth=Auth.NONE,
                limits=Limits(connections=4),
            ),
            AccountSecrets(),
            now=room.clock(),
        )
        first = set(_queue(room, "a"))
        started = time.monotonic()
        workers = Workers(config, 4)
        _wait_for(dumps, first, 240, workers)
        print(f"\n{COPIES} copies by 4 workers in {time.monotonic() - started:.1f} s")
        time.sleep(1.0)  # anything sent twice would show up now
        assert workers.stop() == [0, 0, 0, 0], workers.log_text()
        arrived = _arrivals(dumps)
        assert set(arrived) == first and sum(arrived.values()) == COPIES  # exactly once each
        assert sink.count() == COPIES  # the sink's own counter agrees
        assert _statuses(room) == {"sent": COPIES}

        second = set(_queue(room, "b"))
        rng = random.Random(20261203)
        workers = Workers(config, 4)
        kills = 5
        for _ in range(kills):
            time.sleep(rng.uniform(0.3, 1.5))
            workers.kill_one(rng)
        _wait_for(dumps, second, 240, workers)
        time.sleep(1.0)
        assert workers.stop() == [0, 0, 0, 0], workers.log_text()
        arrived = _arrivals(dumps)
        counts = [arrived[a] for a in second]
        assert min(counts) >= 1  # every recipient arrived
        duplicates = sum(counts) - len(second)
        assert duplicates <= kills, f"{duplicates} duplicates after {kills} kills"
        print(f"{kills} kills: {duplicates} duplicates")
        # No claim left behind: every copy ended sent, none is still held by a dead worker.
        assert _statuses(room) == {"sent": 2 * COPIES}
