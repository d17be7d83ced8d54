"""The bounce classifier over the whole public corpus, held to the issue's aggregate targets.

Run as a script (``uv run python tests/understand/test_bounces_corpus.py``) to print the
per-measure figures overall and per source.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from postroom.understand.bounces import Classification, MessageKind, classify_message

CORPORA = Path(
    os.environ.get("POSTROOM_CORPORA")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora"
)
BOUNCES = CORPORA / "bounces"
REPLIES = CORPORA / "replies"
KINDS = {"feedback": "complaint", "autoreply": "auto_reply"}

pytestmark = pytest.mark.skipif(
    not (BOUNCES / "manifest.jsonl").exists(), reason="bounce corpus not present"
)


@dataclass
class Tally:
    """Hits and trials per measure, plus the confusion counts for detection."""

    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    trials: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, measure: str, ok: bool, label: str) -> None:
        self.trials[measure] += 1
        self.hits[measure] += ok
        if not ok:
            self.misses.append(f"{measure}: {label}")

    def rate(self, measure: str) -> float:
        return self.hits[measure] / self.trials[measure] if self.trials[measure] else 1.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def load_manifest() -> list[dict[str, object]]:
    with (BOUNCES / "manifest.jsonl").open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def human_replies() -> list[Path]:
    """The whole-message human replies: mail that must never be called a bounce."""
    with (REPLIES / "manifest.jsonl").open() as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    return [REPLIES / str(c["input"]) for c in cases if c["kind"] == "eml"]


def score_case(case: dict[str, object], got: Classification, tally: Tally) -> None:
    """Score one manifest case on every measure it has an answer for."""
    cid = str(case["id"])
    expected_bounce = bool(case["is_bounce"])
    if got.is_bounce and expected_bounce:
        tally.tp += 1
    elif got.is_bounce:
        tally.fp += 1
        tally.misses.append(f"detection: {cid} false positive ({got.kind})")
    elif expected_bounce:
        tally.fn += 1
        tally.misses.append(f"detection: {cid} missed ({got.kind})")
    kind = KINDS.get(str(case["kind"]), str(case["kind"]))
    tally.add("kind", got.kind.value == kind, f"{cid} {got.kind.value} != {kind}")
    rows = [r for r in case["recipients"] if isinstance(r, dict)]  # type: ignore[attr-defined]
    expected = {str(r["address"]).lower() for r in rows if r.get("address")}
    by_address = {r.address.lower(): r for r in got.recipients}
    if expected:
        tally.add(
            "address",
            set(by_address) == expected,
            f"{cid} {sorted(by_address)} != {sorted(expected)}",
        )
    for row in rows:
        address = str(row.get("address") or "").lower()
        mine = (
            by_address.get(address) if address else (got.recipients[0] if got.recipients else None)
        )
        label = f"{cid} {address}"
        if row.get("status") and not row.get("status_synthetic"):
            tally.add(
                "status",
                mine is not None and mine.status == row["status"],
                f"{label} {mine and mine.status} != {row['status']}",
            )
        if row.get("reason"):
            tally.add(
                "reason",
                mine is not None and mine.reason == row["reason"],
                f"{label} {mine and mine.reason} != {row['reason']} [{mine and mine.status}]",
            )
        if row.get("hard") is not None:
            tally.add(
                "hard",
                mine is not None and mine.hard == row["hard"],
                f"{label} {mine and mine.hard} != {row['hard']}",
            )


def run_corpus() -> tuple[Tally, dict[str, Tally], list[str]]:
    """Classify every corpus message; return overall and per-source tallies and human FPs."""
    overall, per_source = Tally(), defaultdict(Tally)
    for case in load_manifest():
        got = classify_message((BOUNCES / str(case["path"])).read_bytes())
        score_case(case, got, overall)
        score_case(case, got, per_source[str(case["source"])])
    human_bounces = []
    for path in human_replies():
        got = classify_message(path.read_bytes())
        if got.is_bounce:
            overall.fp += 1
            human_bounces.append(path.name)
        elif got.kind is not MessageKind.NORMAL:
            human_bounces.append(f"{path.name} ({got.kind})")
    return overall, dict(per_source), human_bounces


@pytest.fixture(scope="module")
def corpus() -> tuple[Tally, dict[str, Tally], list[str]]:
    return run_corpus()


def test_detection_f1(corpus: tuple[Tally, dict[str, Tally], list[str]]) -> None:
    assert corpus[0].f1 >= 0.995, [m for m in corpus[0].misses if m.startswith("detection")]


def test_failed_recipient_addresses(corpus: tuple[Tally, dict[str, Tally], list[str]]) -> None:
    assert corpus[0].rate("address") >= 0.98, [m for m in corpus[0].misses if m.startswith("addr")]


def test_stated_status(corpus: tuple[Tally, dict[str, Tally], list[str]]) -> None:
    assert corpus[0].rate("status") >= 0.99, [m for m in corpus[0].misses if m.startswith("status")]


def test_reason(corpus: tuple[Tally, dict[str, Tally], list[str]]) -> None:
    assert corpus[0].rate("reason") >= 0.97, [m for m in corpus[0].misses if m.startswith("reason")]


def test_hard_soft(corpus: tuple[Tally, dict[str, Tally], list[str]]) -> None:
    assert corpus[0].rate("hard") >= 0.98, [m for m in corpus[0].misses if m.startswith("hard")]


def test_human_replies_are_never_bounces(corpus: tuple[Tally, dict[str, Tally], list[str]]) -> None:
    assert [h for h in corpus[2] if "(" not in h] == []


def test_crlf_twins_read_like_their_lf_originals() -> None:
    for twin in sorted((BOUNCES / "sisimai-crlf").glob("*.eml")):
        original = BOUNCES / "sisimai" / twin.name
        if original.exists():
            assert classify_message(twin.read_bytes()) == classify_message(original.read_bytes()), (
                twin.name
            )


def main() -> None:
    overall, per_source, human = run_corpus()
    measures = ("kind", "address", "status", "reason", "hard")
    print(f"{'source':14} {'F1':>6} " + " ".join(f"{m:>14}" for m in measures))
    for name, tally in [*sorted(per_source.items()), ("ALL", overall)]:
        cells = " ".join(
            f"{tally.rate(m):6.3f} ({tally.hits[m]:3}/{tally.trials[m]:3})" for m in measures
        )
        print(f"{name:14} {tally.f1:6.3f} {cells}")
    print("human replies not NORMAL:", human)
    if "-v" in sys.argv:
        print("\n".join(overall.misses))


if __name__ == "__main__":
    main()
