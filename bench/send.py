"""Sending throughput on loopback, every row against the same Postfix smtp-sink in one run.

    uv run python bench/send.py [--messages N] [--rounds R] [--proxy-messages M] [--delay S]

Rows (5 KB messages, one recipient each, counted at the sink):
- smtp-source (Postfix's C load generator, connection reused: ``-d``), 1 and 4 sessions;
- a plain smtplib loop reusing its connection, 1 and 4 threads;
- postroom's connection shell (``SmtpConnection.deliver``, PIPELINING), 1 and 4 connections,
  one thread each, and again one process each (as postroom's workers run).
Then through a loopback TCP proxy (another process, asyncio) that delays every chunk by
``--delay`` (10 ms) in each direction, order kept: a network's round trip. There smtplib waits
four round trips per message and postroom one.

The machine is shared, so loopback rows run ``--rounds`` times, interleaved, and the median
of each row counts. Targets, printed with each ratio: postroom >= 0.5x smtp-source and >= 2x
smtplib at 1 and 4 connections; through the proxy >= 3x smtplib. A row is a function
``row_*(target, connections, messages) -> Row``, so further rows (postroom through its queue)
slot in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from postroom.outbound import ConnectionSettings, OutgoingCopy, Security, SmtpConnection

SIZE = 5120
SENDER = "bench@sender.test"


@dataclass(frozen=True)
class Target:
    host: str
    port: int


@dataclass(frozen=True)
class Row:
    name: str
    connections: int
    messages: int
    seconds: float
    arrived: int

    @property
    def rate(self) -> float:
        return self.arrived / self.seconds if self.seconds else 0.0


RowFunction = Callable[[Target, int, int], Row]


# --- the sink ----------------------------------------------------------------------------------


class Sink:
    """smtp-sink on a free port; its ``-c`` counters (in a file) say how many messages came."""

    def __init__(self) -> None:
        program = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        self.port = _free_port()
        self._output = Path(tempfile.mkstemp(prefix="bench-sink-", suffix=".out")[1])
        with self._output.open("wb") as out:
            self._process = subprocess.Popen(
                [program, "-c", "-u", "postfix", f"127.0.0.1:{self.port}", "1000"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_for_port(self.port)

    def count(self) -> int:
        found = re.findall(rb"mesg=(\d+)", self._output.read_bytes())
        return int(found[-1]) if found else 0

    def settle(self, expected: int, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while (seen := self.count()) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return seen

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._output.unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.02)
    sys.exit(f"nothing listens on 127.0.0.1:{port}")


# --- the round-trip proxy ----------------------------------------------------------------------


def _proxy_main(
    target_port: int, delay: float, ready: multiprocessing.connection.Connection
) -> None:
    async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    sink.close()
                    return
                sink.write(data)
                await sink.drain()

        sender = asyncio.create_task(forward())
        try:
            while data := await source.read(262144):
                queue.put_nowait((loop.time() + delay, data))
        except ConnectionError:
            pass
        queue.put_nowait((loop.time() + delay, b""))
        with contextlib.suppress(ConnectionError):
            await sender

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


class DelayProxy:
    """Forwards to ``target`` with ``delay`` seconds added to every chunk each way, in a
    process of its own (so its work does not share the clients' interpreter lock)."""

    def __init__(self, target: Target, delay: float) -> None:
        parent, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(
            target=_proxy_main, args=(target.port, delay, child), daemon=True
        )
        self._process.start()
        if not parent.poll(10):
            sys.exit("the delay proxy did not start")
        self.target = Target("127.0.0.1", parent.recv())

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(timeout=10)


# --- messages ----------------------------------------------------------------------------------


def message(n: int) -> bytes:
    """A 5 KB message whose headers name its copy."""
    head = (
        f"From: Bench <{SENDER}>\r\nTo: <r{n}@sink.test>\r\nSubject: bench copy {n}\r\n"
        f"Message-ID: <{n}.bench@sender.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"x" * 74 + b"\r\n"
    body = line * ((SIZE - len(head)) // len(line))
    return head + body


def _split(messages: int, connections: int) -> list[range]:
    share, extra = divmod(messages, connections)
    bounds, start = [], 0
    for index in range(connections):
        stop = start + share + (1 if index < extra else 0)
        bounds.append(range(start, stop))
        start = stop
    return bounds


def _threads(work: Callable[[range], None], messages: int, connections: int) -> float:
    threads = [
        threading.Thread(target=work, args=(part,)) for part in _split(messages, connections)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# --- rows --------------------------------------------------------------------------------------


def row_smtp_source(target: Target, connections: int, messages: int) -> Row:
    program = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    argv = [
        program, "-d", "-s", str(connections), "-m", str(messages), "-l", str(SIZE),
        "-f", SENDER, "-t", "r@sink.test", f"{target.host}:{target.port}",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return Row("smtp-source -d", connections, messages, time.perf_counter() - started, messages)


def row_smtplib(target: Target, connections: int, messages: int) -> Row:
    def work(part: range) -> None:
        with smtplib.SMTP(target.host, target.port) as client:
            client.ehlo()
            for n in part:
                client.sendmail(SENDER, [f"r{n}@sink.test"], message(n))

    seconds = _threads(work, messages, connections)
    return Row("smtplib loop", connections, messages, seconds, messages)


def row_postroom(target: Target, connections: int, messages: int) -> Row:
    accepted: list[int] = []
    settings = ConnectionSettings(target.host, target.port, security=Security.NONE)

    def work(part: range) -> None:
        with SmtpConnection.open(settings) as conn:
            copies = (OutgoingCopy(SENDER, f"r{n}@sink.test", message(n)) for n in part)
            accepted.append(sum(result.accepted for result in conn.deliver(copies)))

    seconds = _threads(work, messages, connections)
    return Row("postroom shell", connections, messages, seconds, sum(accepted))


def _postroom_part(target: Target, part: range) -> int:
    settings = ConnectionSettings(target.host, target.port, security=Security.NONE)
    with SmtpConnection.open(settings) as conn:
        copies = (OutgoingCopy(SENDER, f"r{n}@sink.test", message(n)) for n in part)
        return sum(result.accepted for result in conn.deliver(copies))


def row_postroom_processes(target: Target, connections: int, messages: int) -> Row:
    """One connection per process, as postroom's workers run: no shared interpreter lock."""
    with multiprocessing.Pool(connections) as pool:
        pool.map(abs, range(connections))  # the processes are up before the clock starts
        started = time.perf_counter()
        parts = [(target, part) for part in _split(messages, connections)]
        accepted = sum(pool.starmap(_postroom_part, parts))
        seconds = time.perf_counter() - started
    return Row("postroom procs", connections, messages, seconds, accepted)


# --- postroom through its queue ---------------------------------------------------------------

LINKS = "".join(
    f'<p>Item {i}: <a href="https://news.example.test/item/{i}">read more</a></p>'
    for i in range(10)
)
HTML = (
    "<html><body><h1>This week</h1>" + LINKS + "<p>" + "Lorem ipsum dolor sit amet. " * 120
    + "</p></body></html>"
)  # fmt: skip


class QueueBench:
    """A PostgreSQL database of the bench's own with a sending account aimed at the sink."""

    def __init__(self, target: Target) -> None:
        import secrets

        import psycopg

        from postroom.accounts import AccountSecrets, AccountSpec, Auth, Limits, Security
        from postroom.accounts.service import add_account
        from postroom.app import Postroom
        from postroom.settings import Settings
        from postroom.store.migrate import upgrade

        self.admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        self.name = f"postroom_bench_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.settings = Settings(
            database_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}",
            reply_domain="reply.example.test",
            address_keys={1: secrets.token_bytes(32)},
            account_keys={1: secrets.token_bytes(32)},
        )
        self.room = Postroom(self.settings)
        upgrade(self.room.database)
        add_account(
            self.room.database,
            self.settings,
            AccountSpec("sink", SENDER, target.host, smtp_port=target.port,
                        smtp_security=Security.NONE, smtp_auth=Auth.NONE,
                        limits=Limits(connections=4)),
            AccountSecrets(),
            now=self.room.clock(),
        )  # fmt: skip

    def queue(self, messages: int) -> float:
        """Queue ``messages`` copies (emails of 500 recipients each); returns seconds taken."""
        from postroom.compose import Email, Recipient

        started = time.perf_counter()
        for start in range(0, messages, 500):
            stop = min(messages, start + 500)
            self.room.send(
                Email(account="sink", subject="This week",
                      to=[Recipient(f"r{n}@sink.test", user=n) for n in range(start, stop)],
                      html=HTML)
            )  # fmt: skip
        return time.perf_counter() - started

    def drop(self) -> None:
        import psycopg

        self.room.close()
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


_BENCH: QueueBench | None = None


def _drain(settings: object) -> int:
    from postroom.app import Postroom

    room = Postroom(settings)  # type: ignore[arg-type]
    try:
        return room.worker(concurrency=1, name=f"bench-{os.getpid()}").drain(timeout=600).copies
    finally:
        room.close()


def _warm(settings: object) -> int:
    """Import and connect in each worker process before the clock starts."""
    from postroom.app import Postroom
    from postroom.jobs import delivering  # noqa: F401

    room = Postroom(settings)  # type: ignore[arg-type]
    with room.database.transaction():
        pass
    room.close()
    return os.getpid()


def row_postroom_queue(target: Target, connections: int, messages: int) -> Row:
    """Personalised copies of a 5 KB HTML email with 10 tracked links and a pixel, queued in
    PostgreSQL, sent by ``connections`` worker processes (one connection each) with all their
    bookkeeping: claims, tokens, splicing, a result and an event committed per copy."""
    global _BENCH
    if _BENCH is None or _BENCH.room.settings is None:
        _BENCH = QueueBench(target)
    bench = _BENCH
    queued = bench.queue(messages)
    with multiprocessing.get_context("spawn").Pool(connections) as pool:
        pool.map(_warm, [bench.settings] * connections)
        started = time.perf_counter()
        sent = sum(pool.map(_drain, [bench.settings] * connections))
        seconds = time.perf_counter() - started
    print(f"    (queued {messages} copies in {queued:.2f} s: {messages / queued:.0f}/s)")
    return Row("postroom queue", connections, messages, seconds, sent)


def measure(
    sink: Sink, function: RowFunction, target: Target, connections: int, messages: int
) -> Row:
    before = sink.count()
    row = function(target, connections, messages)
    arrived = sink.settle(before + messages) - before
    if arrived != messages:
        print(f"  ! {row.name}: the sink counted {arrived} of {messages}", file=sys.stderr)
    return Row(row.name, row.connections, row.messages, row.seconds, min(arrived, row.arrived))


def ratio(mine: Row, peer: Row, target: float) -> str:
    value = mine.rate / peer.rate if peer.rate else 0.0
    verdict = "met" if value >= target else "MISSED"
    return f"{value:5.2f}x {peer.name} (target >= {target:g}x: {verdict})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="per loopback row")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every row (median)")
    parser.add_argument("--proxy-messages", type=int, default=100, help="per connection, via proxy")
    parser.add_argument("--delay", type=float, default=0.010, help="seconds each way")
    args = parser.parse_args()

    sink = Sink()
    try:
        target = Target("127.0.0.1", sink.port)
        # A short warm-up so no row pays for first connections and imports.
        measure(sink, row_postroom, target, 1, 200)
        measure(sink, row_smtplib, target, 1, 200)
        print(
            f"loopback, {SIZE}-byte messages, {args.messages} per row, smtp-sink on port "
            f"{sink.port}; rounds interleaved, the median counts (the machine is shared)"
        )
        loopback: list[RowFunction] = [
            row_smtp_source,
            row_smtplib,
            row_postroom,
            row_postroom_processes,
            row_postroom_queue,
        ]
        medians = run_rows(sink, target, loopback, args.messages, args.rounds, per_connection=False)
        for connections in (1, 4):
            for name, label in (
                ("row_postroom", "threads"),
                ("row_postroom_processes", "procs"),
                ("row_postroom_queue", "queue"),
            ):
                mine = medians[(name, connections)]
                for peer, goal in (("row_smtp_source", 0.5), ("row_smtplib", 2.0)):
                    versus = ratio(mine, medians[(peer, connections)], goal)
                    print(f"  postroom {label}, {connections} conn: {versus}")

        proxy = DelayProxy(target, args.delay)
        try:
            print(f"through a proxy adding {args.delay * 1000:g} ms each way")
            global _BENCH
            if _BENCH is not None:
                _BENCH.drop()  # its account points at the sink itself, not at the proxy
                _BENCH = None
            slow = run_rows(
                sink, proxy.target, [row_smtplib, row_postroom, row_postroom_queue],
                args.proxy_messages, max(1, args.rounds // 2), per_connection=True,
            )  # fmt: skip
            for connections in (1, 4):
                peer = slow[("row_smtplib", connections)]
                for name, label in (("row_postroom", "shell"), ("row_postroom_queue", "queue")):
                    mine = slow[(name, connections)]
                    print(f"  postroom {label}, {connections} conn: {ratio(mine, peer, 3.0)}")
        finally:
            proxy.stop()
    finally:
        if _BENCH is not None:
            _BENCH.drop()
        sink.stop()


def run_rows(
    sink: Sink,
    target: Target,
    functions: list[RowFunction],
    messages: int,
    rounds: int,
    *,
    per_connection: bool,
) -> dict[tuple[str, int], Row]:
    """Every row ``rounds`` times, interleaved; prints each and returns the median rows."""
    seen: dict[tuple[str, int], list[Row]] = {}
    for _ in range(rounds):
        for connections in (1, 4):
            count = messages * connections if per_connection else messages
            for function in functions:
                row = measure(sink, function, target, connections, count)
                seen.setdefault((function.__name__, connections), []).append(row)
    medians: dict[tuple[str, int], Row] = {}
    for (name, connections), runs in seen.items():
        ordered = sorted(runs, key=lambda row: row.rate)
        median = ordered[len(ordered) // 2]
        medians[(name, connections)] = median
        rates = " ".join(f"{row.rate:.0f}" for row in runs)
        print(
            f"  {median.name:16} {connections} conn  {median.arrived:6} msgs  "
            f"median {median.rate:8.1f} msg/s   (rounds: {rates})"
        )
    return medians


if __name__ == "__main__":
    main()
