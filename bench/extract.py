"""Reply extraction throughput: postroom against talon and email-reply-parser.

Runs every tool on the same cases of the public replies corpus, plain-text and HTML apart,
and prints cases per second, exact-match rates and postroom's speed ratio over each tool.
The tools are timed in interleaved turns (see ``rates``), so the ratios hold on a busy
machine. talon and email-reply-parser are bench-only dependencies. Usage:

    uv run python bench/extract.py [--seconds 3] [--turn 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import warnings
from collections.abc import Callable
from html import unescape
from pathlib import Path

from email_reply_parser import EmailReplyParser
from talon import quotations
from talon.signature.bruteforce import extract_signature

from postroom.understand.replies import extract_html, extract_text


def corpora_root() -> Path:
    override = os.environ.get("POSTROOM_CORPORA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


def load(kind: str) -> list[tuple[str, str, str, str]]:
    root = corpora_root() / "replies"
    cases = []
    for line in (root / "manifest.jsonl").read_text().splitlines():
        case = json.loads(line)
        if case["kind"] == kind:
            body = (root / case["input"]).read_text(errors="replace")
            expected = (root / case["expected"]).read_text(errors="replace")
            cases.append((case["source"], body, expected, case["compare"]))
    return cases


def same(got: str, expected: str, compare: str) -> bool:
    if compare == "nows":
        return re.sub(r"\s+", "", got) == re.sub(r"\s+", "", expected)

    def lines(text: str) -> str:
        out: list[str] = []
        for line in text.replace("\r\n", "\n").split("\n"):
            line = line.rstrip()
            if not (line == "" and out and out[-1] == ""):
                out.append(line)
        return "\n".join(out).strip("\n")

    return lines(got) == lines(expected)


def talon_text(body: str) -> tuple[str, str]:
    reply = quotations.extract_from_plain(body)
    text, _signature = extract_signature(reply)
    return reply, text


def talon_html(body: str) -> tuple[str, str]:
    try:
        reply = quotations.extract_from_html(body)
    except Exception:
        return body, body
    # talon returns HTML; its text is what the corpus compares.
    text = unescape(
        re.sub(r"<(?:style|head)\b.*?</(?:style|head)>|<[^>]*>", " ", reply, flags=re.S)
    )
    return text, text


def erp_text(body: str) -> tuple[str, str]:
    reply = EmailReplyParser.parse_reply(body)
    return reply, reply


def postroom_text(body: str) -> tuple[str, str]:
    result = extract_text(body)
    return result.reply, result.text


def postroom_html(body: str) -> tuple[str, str]:
    result = extract_html(body)
    return result.reply, result.text


Tool = Callable[[str], tuple[str, str]]


def accuracy(tool: Tool, cases: list[tuple[str, str, str, str]]) -> float:
    exact = 0
    for source, body, expected, compare in cases:
        reply, text = tool(body)
        exact += same(reply if source == "talon" else text, expected, compare)
    return exact / len(cases)


def rates(
    tools: dict[str, Tool], cases: list[tuple[str, str, str, str]], seconds: float, turn: float
) -> dict[str, float]:
    """Cases per second of each tool, timed in interleaved turns.

    The tools take turns of about ``turn`` seconds (whole passes over the cases), in an order
    that rotates, until each has had about ``seconds``: load on the shared machine that comes
    and goes falls on all tools alike instead of on the one that happened to be running, and
    a turn is long enough for a tool to run warm. The ratios between tools are what this
    bench is for.
    """
    names = list(tools)
    spent = dict.fromkeys(names, 0.0)
    passes = dict.fromkeys(names, 0)
    rounds = 0
    while min(spent.values()) < seconds:
        order = names[rounds % len(names) :] + names[: rounds % len(names)]
        for name in order:
            tool = tools[name]
            begin = time.perf_counter()
            while True:
                for _source, body, _expected, _compare in cases:
                    tool(body)
                passes[name] += 1
                elapsed = time.perf_counter() - begin
                if elapsed >= turn:
                    break
            spent[name] += elapsed
        rounds += 1
    return {name: passes[name] * len(cases) / spent[name] for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per tool")
    parser.add_argument("--turn", type=float, default=0.25, help="seconds per turn")
    args = parser.parse_args()
    # html5lib (inside talon) warns on every Office namespace; it says nothing about speed.
    warnings.simplefilter("ignore")
    suites: dict[str, tuple[list[tuple[str, str, str, str]], dict[str, Tool]]] = {
        "plain text": (
            load("text"),
            {"postroom": postroom_text, "talon": talon_text, "email-reply-parser": erp_text},
        ),
        "html": (load("html"), {"postroom": postroom_html, "talon": talon_html}),
    }
    for name, (cases, tools) in suites.items():
        print(f"{name}: {len(cases)} cases")
        measured = rates(tools, cases, args.seconds, args.turn)
        for tool_name, tool in tools.items():
            rate = measured[tool_name]
            print(f"  {tool_name:20} {rate:10,.0f} cases/s   exact {accuracy(tool, cases):6.1%}")
        for tool_name, rate in measured.items():
            if tool_name != "postroom":
                print(f"  postroom / {tool_name}: {measured['postroom'] / rate:.1f}x")


if __name__ == "__main__":
    main()
