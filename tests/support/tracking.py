"""Copies to track: emails, deliveries and links inserted straight into the store (the
tracking tests need rows to point at, not the sending path, which has its own tests); and
``postroom serve`` in a subprocess with a threaded HTTP client to load it (loopback only,
bounded in count and time)."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Table, func, select

from postroom.app import Postroom
from postroom.settings import load_settings, render_config
from postroom.store import Database
from postroom.store.models import DeliveryRow, EmailRow, LinkRow

EMAILS = cast(Table, EmailRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
LINKS = cast(Table, LinkRow.__table__)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed_copies(
    database: Database,
    count: int,
    *,
    urls: Sequence[str] = (),
    sent_at: datetime | None = None,
    opens: bool = True,
    clicks: bool = True,
    user_base: int | None = 1000,
) -> tuple[int, list[int]]:
    """One email with ``count`` sent copies (and ``urls`` as its links); (email id, ids)."""
    now = sent_at or datetime(2026, 11, 1, tzinfo=UTC)
    with database.connect() as conn:
        email_id = int(
            conn.execute(
                EMAILS.insert().returning(EMAILS.c.id),
                {
                    "account_id": 1,
                    "token": f"t{datetime.now(UTC).timestamp()}-{count}",
                    "created_at": now,
                    "subject": "Hello",
                    "message_id": "<email@example.test>",
                    "recipients": count,
                    "options": {"opens": opens, "clicks": clicks},
                    "template": b"",
                },
            ).scalar_one()
        )
        if urls:
            conn.execute(
                LINKS.insert(),
                [{"email_id": email_id, "number": n, "url": u} for n, u in enumerate(urls)],
            )
        first = int(conn.execute(select(func.coalesce(func.max(DELIVERIES.c.id), 0))).scalar())
        rows = [
            {
                "id": first + n + 1,
                "email_id": email_id,
                "account_id": 1,
                "role": "to",
                "address": f"reader{first + n + 1}@example.net",
                "user_id": None if user_base is None else user_base + first + n + 1,
                "message_id": f"<copy{first + n + 1}@example.test>",
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": now,
                "created_at": now,
                "sent_at": now,
            }
            for n in range(count)
        ]
        for start in range(0, len(rows), 10_000):
            conn.execute(DELIVERIES.insert(), rows[start : start + 10_000])
    return email_id, [int(r["id"]) for r in rows]


class Serve:
    """``postroom serve`` in a subprocess of its own session (so a SIGKILL reaches its
    workers too), on a free loopback port, with a config file of the test's own."""

    def __init__(
        self, root: Path, database_url: str, *, flush_interval_ms: int = 100, workers: int = 2
    ) -> None:
        self.root = root
        self.spool = root / "spool"
        self.config = root / "postroom.toml"
        text = render_config(
            secret=secrets.token_bytes(32), database_url=database_url, domain="reply.example.test"
        )
        text = text.replace("flush_interval_ms = 100", f"flush_interval_ms = {flush_interval_ms}")
        text = text.replace('spool_dir = "spool"', f'spool_dir = "{self.spool}"')
        self.config.write_text(text, encoding="utf-8")
        self.port = free_port()
        self.workers = workers
        self.log = root / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def room(self) -> Postroom:
        return Postroom().configure(load_settings(self.config))

    def start(self) -> None:
        command = [sys.executable, "-m", "postroom.cli", "--config", str(self.config), "serve"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), "--workers", str(self.workers)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log_text = self.log.read_text()
                    raise RuntimeError(f"postroom serve did not start:\n{log_text}") from exc
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` (SIGKILL: to the whole session, workers included); its exit code."""
        assert self.process is not None
        if sig == signal.SIGKILL:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        if sig == signal.SIGKILL:
            # Workers not yet reaped by the kill of their session are gone with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return code

    def stopped_line(self) -> str:
        """The line ``postroom serve`` logs when it stops (counts of hits and events)."""
        lines = [line for line in self.log.read_text().splitlines() if "serve stopped" in line]
        assert lines, self.log.read_text()
        return lines[-1]

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@dataclass
class Load:
    """A bounded load from ``threads`` client threads, each on its own keep-alive
    connection: ``paths`` requested once each, in order of a shared counter. ``gates`` hold
    requests from a given index on until their event is set (a test's checkpoints)."""

    port: int
    paths: Sequence[str]
    threads: int = 8
    gates: Sequence[tuple[int, threading.Event]] = ()
    answers: dict[int, tuple[int, bytes, float]] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    _next: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def answered(self) -> int:
        with self._lock:
            return len(self.answers)

    def wait_answered(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.answered() < count:
            if time.monotonic() > deadline or not any(w.is_alive() for w in self._workers):
                raise AssertionError(f"{self.answered()} answered, waited for {count}")
            time.sleep(0.01)

    def join(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        assert not any(w.is_alive() for w in self._workers), "the load did not finish"

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while True:
                with self._lock:
                    index = next(self._next)
                if index >= len(self.paths):
                    return
                for start, gate in self.gates:
                    if index >= start:
                        gate.wait(60)
                try:
                    conn.request("GET", self.paths[index])
                    answer = conn.getresponse()
                    body = answer.read()
                except (OSError, http.client.HTTPException) as exc:
                    with self._lock:
                        self.failures[index] = repr(exc)
                    return  # the server is gone (a kill): this thread's load ends
                with self._lock:
                    self.answers[index] = (answer.status, body, time.monotonic())
        finally:
            conn.close()
