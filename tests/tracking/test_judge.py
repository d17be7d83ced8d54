# ruff: noqa: E501
"""The human/machine rules on request shapes of each proxy and scanner named in the docs
(User-Agents and addresses as their publishers document them), and of ordinary clients."""

from __future__ import annotations

import pytest

from postroom.tracking.judge import Judge, Label, load_lists, parse_lists

JUDGE = Judge(load_lists())
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"

CASES = [
    # (what, click, method, ip, agent, seconds after delivery, links in burst, label, machine)
    (
        "Gmail proxy, an hour later",
        False,
        "GET",
        "66.249.84.10",
        GMAIL,
        3600,
        1,
        Label.GMAIL_PROXY,
        False,
    ),
    ("Gmail proxy, at once", False, "GET", "66.249.84.10", GMAIL, 2, 1, Label.GMAIL_PROXY, False),
    (
        "Apple MPP prefetch",
        False,
        "GET",
        "17.58.101.7",
        "Mozilla/5.0",
        4,
        1,
        Label.APPLE_PRIVACY,
        True,
    ),
    (
        "Apple MPP, later",
        False,
        "GET",
        "17.123.4.5",
        "Mozilla/5.0",
        7200,
        1,
        Label.APPLE_PRIVACY,
        True,
    ),
    ("Yahoo proxy at display", False, "GET", "98.136.1.1", YAHOO, 900, 1, Label.OTHER_PROXY, False),
    ("Yahoo proxy prefetch", False, "GET", "98.136.1.1", YAHOO, 3, 1, Label.OTHER_PROXY, True),
    ("Defender Safe Links", True, "GET", "40.94.31.2", FIREFOX, 5, 1, Label.SCANNER, True),
    (
        "BingPreview",
        True,
        "GET",
        "203.0.113.9",
        "Mozilla/5.0 (compatible; BingPreview/1.0b)",
        600,
        1,
        Label.SCANNER,
        True,
    ),
    ("Proofpoint", True, "GET", "148.163.150.20", FIREFOX, 9, 1, Label.SCANNER, True),
    ("Mimecast", True, "GET", "205.139.110.61", FIREFOX, 11, 1, Label.SCANNER, True),
    ("Barracuda", True, "GET", "64.235.150.3", FIREFOX, 6, 1, Label.SCANNER, True),
    ("a HEAD link check", True, "HEAD", "198.51.100.4", FIREFOX, 4000, 1, Label.SCANNER, True),
    ("every link at once", True, "GET", "198.51.100.4", FIREFOX, 4000, 3, Label.SCANNER, True),
    ("seconds after delivery", True, "GET", "198.51.100.4", FIREFOX, 3, 1, Label.SCANNER, True),
    ("no User-Agent", False, "GET", "198.51.100.4", "", 4000, 1, Label.SCANNER, True),
    ("Firefox click", True, "GET", "198.51.100.4", FIREFOX, 4000, 1, Label.HUMAN, False),
    (
        "Thunderbird open",
        False,
        "GET",
        "2001:db8::5",
        "Thunderbird/128.5.0",
        90,
        1,
        Label.HUMAN,
        False,
    ),
    (
        "Outlook desktop open",
        False,
        "GET",
        "192.0.2.44",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
        120,
        1,
        Label.HUMAN,
        False,
    ),
    (
        "iPhone Safari click",
        True,
        "GET",
        "192.0.2.45",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        300,
        1,
        Label.HUMAN,
        False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rules(case: tuple) -> None:  # type: ignore[type-arg]
    _, click, method, ip, agent, since, burst, label, machine = case
    verdict = JUDGE.judge(
        click=click, method=method, ip=ip, agent=agent, since_delivery=since, links_in_burst=burst
    )
    assert (verdict.label, verdict.machine) == (label, machine), verdict.reason


def test_every_built_in_rule_cites_a_source() -> None:
    assert all(rule.source and rule.name for rule in JUDGE.lists.rules)


def test_operator_lists_and_window() -> None:
    lists = parse_lists(
        '[[rule]]\nlabel = "scanner"\nname = "our gateway"\nnetwork = "10.9.0.0/16"\n'
        'source = "our own network plan"\n',
        "ops.toml",
    )
    judge = Judge(lists, window=JUDGE.window * 0)
    assert (
        judge.judge(click=True, method="GET", ip="10.9.3.3", agent=FIREFOX, since_delivery=1).label
        is Label.SCANNER
    )
    assert (
        judge.judge(click=True, method="GET", ip="17.1.1.1", agent=FIREFOX, since_delivery=1).label
        is Label.HUMAN
    )
