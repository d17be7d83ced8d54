"""Throughput of the bounce classifier against flufl.bounce over the same corpus, in one run.

    uv run python bench/classify.py [--rounds N]

Reads every ``.eml`` of the bounce corpus (``../shared/corpora/bounces`` relative to the repo, or
``$POSTROOM_CORPORA/bounces``) into memory once, then times each tool over all of them, best of
N rounds (the two tools taking turns), and prints messages per second for both and their
ratio. A 15 MB message is timed too.
"""

from __future__ import annotations

import argparse
import email
import os
import time
from collections.abc import Callable
from pathlib import Path

from flufl.bounce import scan_message

from postroom.understand.bounces import classify_message

CORPORA = Path(
    os.environ.get("POSTROOM_CORPORA")
    or Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
)


def rates(
    messages: list[bytes], runs: list[Callable[[bytes], object]], rounds: int
) -> tuple[list[float], list[float]]:
    """Best-of-``rounds`` messages per second of each of ``runs`` over ``messages``: by the
    wall clock, and by the process's CPU time (which other programs on a shared machine
    disturb far less).

    The tools take turns round by round, so a slow phase of a shared machine falls on both
    rather than on whichever happened to run then.
    """
    wall = [float("inf")] * len(runs)
    cpu = [float("inf")] * len(runs)
    for r in range(rounds):
        # Which tool goes first alternates, so neither always meets the machine's same phase.
        order = list(enumerate(runs))
        for i, run in order if r % 2 == 0 else reversed(order):
            start, start_cpu = time.perf_counter(), time.process_time()
            for data in messages:
                run(data)
            wall[i] = min(wall[i], time.perf_counter() - start)
            cpu[i] = min(cpu[i], time.process_time() - start_cpu)
    return [len(messages) / b for b in wall], [len(messages) / b for b in cpu]


def flufl(data: bytes) -> object:
    """flufl.bounce's documented entry point, parsing included as postroom's time includes it."""
    try:
        return scan_message(email.message_from_bytes(data))
    except Exception:
        return None


def large_message() -> bytes:
    """A 15 MB bounce: a DSN returning a message with a big base64 attachment."""
    blob = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw" * 19 + b"\n"
    body = blob * (15 * 1024 * 1024 // len(blob))
    return (
        b"From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nDelivery failed.\n"
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        b"--B\nContent-Type: message/rfc822\n\n"
        b'Subject: big\nContent-Type: multipart/mixed; boundary="C"\n\n'
        b"--C\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        + body
        + b"--C--\n--B--\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    messages = [p.read_bytes() for p in sorted((CORPORA / "bounces").rglob("*.eml"))]
    (ours, theirs), (ours_cpu, theirs_cpu) = rates(messages, [classify_message, flufl], args.rounds)
    print(f"messages        {len(messages)}")
    print(f"postroom        {ours:10,.0f} msg/s   ({ours_cpu:,.0f} msg/s of CPU time)")
    print(f"flufl.bounce    {theirs:10,.0f} msg/s   ({theirs_cpu:,.0f} msg/s of CPU time)")
    print(f"ratio           {ours / theirs:10.2f}x   ({ours_cpu / theirs_cpu:.2f}x by CPU time)")
    big = large_message()
    start = time.perf_counter()
    verdict = classify_message(big)
    print(f"15 MB message   {time.perf_counter() - start:10.3f} s ({verdict.kind.value})")


if __name__ == "__main__":
    main()
