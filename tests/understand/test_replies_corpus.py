"""The extractor over the whole public replies corpus, scored with the corpus's own rules.

Targets: >= 90 % exact over all sources, >= 80 % for every source. The comparison follows
../shared/corpora/README.md: ``lines`` strips trailing spaces per line, collapses runs of blank
lines and strips leading and trailing blank lines; ``nows`` removes all whitespace. talon's
cases keep the signature in the reply, every other source expects it removed.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from postroom.understand.replies import (
    ExtractedReply,
    extract_bytes,
    extract_html,
    extract_text,
)

OVERALL_TARGET = 0.90
PER_SOURCE_TARGET = 0.80


def corpora_root() -> Path:
    override = os.environ.get("POSTROOM_CORPORA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def load_cases() -> list[dict[str, str]]:
    manifest = corpora_root() / "replies" / "manifest.jsonl"
    assert manifest.is_file(), f"replies corpus not found at {manifest} (set POSTROOM_CORPORA)"
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def normalise_lines(text: str) -> str:
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.rstrip()
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


def normalise_nows(text: str) -> str:
    return re.sub(r"\s+", "", text)


def run_case(case: dict[str, str]) -> ExtractedReply:
    data = (corpora_root() / "replies" / case["input"]).read_bytes()
    if case["kind"] == "text":
        return extract_text(data.decode("utf-8", "replace"))
    if case["kind"] == "html":
        return extract_html(data.decode("utf-8", "replace"))
    return extract_bytes(data)


def is_exact(case: dict[str, str], result: ExtractedReply) -> bool:
    expected = (corpora_root() / "replies" / case["expected"]).read_text(errors="replace")
    got = result.reply if case["source"] == "talon" else result.text
    normalise = normalise_lines if case["compare"] == "lines" else normalise_nows
    return normalise(got) == normalise(expected)


def test_comparison_rules_follow_the_readme() -> None:
    assert normalise_lines("\n\na  \n\n\n\nb\t\n\n") == "a\n\nb"
    assert normalise_nows(" a\n b\tc ") == "abc"
    assert normalise_lines("a\nb") != normalise_lines("a\n\nb")


def test_corpus_targets_per_source_and_overall() -> None:
    total: Counter[str] = Counter()
    exact: Counter[str] = Counter()
    failures: list[str] = []
    for case in load_cases():
        total[case["source"]] += 1
        if is_exact(case, run_case(case)):
            exact[case["source"]] += 1
        else:
            failures.append(case["id"])
    assert len(total) >= 7, f"expected all seven sources, got {sorted(total)}"
    overall = sum(exact.values()) / sum(total.values())
    per_source = {source: exact[source] / total[source] for source in total}
    assert overall >= OVERALL_TARGET, (overall, failures)
    below = {s: round(r, 3) for s, r in per_source.items() if r < PER_SOURCE_TARGET}
    assert not below, (below, failures)


@pytest.mark.parametrize("source", ["talon", "discourse", "crisp", "quotequail"])
def test_every_source_has_cases_of_each_kind_it_claims(source: str) -> None:
    kinds = {case["kind"] for case in load_cases() if case["source"] == source}
    assert kinds, f"no cases for {source}"
    for case in (c for c in load_cases() if c["source"] == source):
        result = run_case(case)
        assert isinstance(result.reply, str) and isinstance(result.quoted, str)
        if result.signature is not None:
            assert result.reply.endswith(result.signature)
