"""A message delivered twice at the same moment, to two processes, dispatches once (PostgreSQL).

Each round starts two fresh processes that wait on one barrier and then run the same message
through the pipeline against the same database; the unique dedupe key lets exactly one win.
The other sees a finished duplicate, or, while the winner is still at it, is told to retry.
"""

from __future__ import annotations

import multiprocessing
import secrets
from pathlib import Path

from postroom.errors import MessageInProgress
from postroom.examples.forum import build
from postroom.settings import ErrorMailSettings, Settings
from postroom.store import open_database
from postroom.store.migrate import upgrade
from support.messages import reply
from support.postgres import fresh_database

ROUNDS = 8


def _receive(
    settings: Settings, posts: str, raw: bytes, address: str, barrier: object, outcomes: object
) -> None:
    room, _ = build(Path(posts))
    room.configure(settings)
    room.codec  # noqa: B018 - build the codec before the race, not during it
    barrier.wait()  # type: ignore[attr-defined]
    try:
        outcome = str(room.receive(raw, recipients=[address]).outcome)
    except MessageInProgress:
        outcome = "retry later"  # what the MTA is told while the other process is at it
    outcomes.put(outcome)  # type: ignore[attr-defined]
    room.close()


def test_two_processes_receiving_one_message_dispatch_it_once(tmp_path: Path) -> None:
    with fresh_database() as url:
        upgrade(open_database(url))
        settings = Settings(
            database_url=url,
            reply_domain="reply.example.test",
            address_keys={1: secrets.token_bytes(32)},
            error_mail=ErrorMailSettings(transport="none"),
        )
        posts = tmp_path / "posts.jsonl"
        room, board = build(posts)
        room.configure(settings)
        context = multiprocessing.get_context("spawn")
        outcomes = context.Queue()
        for n in range(ROUNDS):
            address = room.create_session("forum", 42, {"round": n}).address
            raw = reply(address, f"Reply number {n}.\n", message_id=f"<race{n}@example.net>")
            barrier = context.Barrier(2)
            procs = [
                context.Process(
                    target=_receive, args=(settings, str(posts), raw, address, barrier, outcomes)
                )
                for _ in range(2)
            ]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(60)
                assert proc.exitcode == 0
        results = [outcomes.get(timeout=10) for _ in range(2 * ROUNDS)]
        room.close()
    assert results.count("dispatched") == ROUNDS
    assert set(results) - {"dispatched"} <= {"duplicate", "retry later"}
    assert sorted(p.text for p in board.posts()) == [f"Reply number {n}." for n in range(ROUNDS)]
