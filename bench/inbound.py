"""Throughput of the whole inbound pipeline over every ``.eml`` of the corpora, on SQLite.

    uv run python bench/inbound.py [--rounds N]

Each message gets a fresh session and is delivered to that session's reply address (as an MTA
would with the envelope recipient), then runs parse -> verify -> claim -> classify -> extract ->
dispatch or bounce bookkeeping -> record, committing to a SQLite file like production. The peer
measured in the same run is the floor every Python mail tool pays: the standard library parsing
the same bytes with ``email.policy.default`` and nothing else. Target: >= 1,000 messages/s.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from postroom.app import Postroom
from postroom.inbound.types import Reply
from postroom.mailer import MemoryTransport
from postroom.settings import ErrorMailSettings, Settings
from postroom.store import open_database
from postroom.store.migrate import upgrade

CORPORA = Path(
    os.environ.get("POSTROOM_CORPORA")
    or Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
)
TARGET = 1000.0


def corpus() -> list[bytes]:
    files = sorted(CORPORA.glob("**/*.eml"))
    if not files:
        sys.exit(f"no .eml files under {CORPORA} (set POSTROOM_CORPORA)")
    return [path.read_bytes() for path in files]


def run_pipeline(messages: list[bytes], workdir: Path) -> tuple[float, Counter[str]]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    database = open_database(url)
    upgrade(database)
    settings = Settings(
        database_url=url,
        reply_domain="reply.example.test",
        address_keys={1: secrets.token_bytes(32)},
        error_mail=ErrorMailSettings(transport="none", throttle_count=10**9),
    )
    room = Postroom(settings, transport=MemoryTransport(), database=database)
    handled: list[Reply] = []
    room.handler("forum")(handled.append)
    addresses = [room.create_session("forum", n).address for n in range(len(messages))]
    outcomes: Counter[str] = Counter()
    start = time.perf_counter()
    for n, (raw, address) in enumerate(zip(messages, addresses, strict=True)):
        outcomes[str(room.receive(raw, recipients=[address], sender="").outcome)] += 1
        if n % 100 == 0:
            print(f"\r  pipeline {n}/{len(messages)}", end="", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    print("\r" + " " * 40 + "\r", end="", file=sys.stderr)
    room.close()
    return len(messages) / elapsed, outcomes


def run_stdlib_parse(messages: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        message.get_body(preferencelist=("plain", "html"))
    return len(messages) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds (default 3)")
    args = parser.parse_args()
    messages = corpus()
    print(f"{len(messages)} messages from {CORPORA.resolve()}")
    best, outcomes = 0.0, Counter[str]()
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as workdir:
            rate, outcomes = run_pipeline(messages, Path(workdir))
            best = max(best, rate)
    parse = max(run_stdlib_parse(messages) for _ in range(args.rounds))
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    print(f"postroom whole pipeline (SQLite):    {best:8.0f} msg/s")
    print(f"stdlib email parse + get_body only:  {parse:8.0f} msg/s")
    print(f"ratio pipeline / parse-only:         {best / parse:8.2f}")
    verdict = "meets" if best >= TARGET else "MISSES"
    print(f"target >= {TARGET:.0f} msg/s: {verdict}")
    return 0 if best >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
