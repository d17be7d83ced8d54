"""``postroom demo``: the headless loop exits 0 with every step done, and the live demo serves
its dashboard and stops cleanly on Ctrl-C. Both run the installed command as a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

STEPS = (
    "send one email to To, Cc and Bcc",
    "Apple Mail prefetches it (a machine's open)",
    "a person opens it",
    "a person clicks the link",
    "one-click unsubscribe (RFC 8058)",
    "a reply to a post becomes a post",
    "a reply to one digest item lands on that item",
    "a reply after the address expired gets an error email",
    "a bounce counts against the right recipient",
    "the Sent folder holds one clean copy",
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    return env


@pytest.mark.timeout(300)
def test_headless_demo_plays_every_step(tmp_path: Path) -> None:
    run = subprocess.run(
        # A relative --dir, as `make demo`'s default demo-out/ is.
        [sys.executable, "-m", "postroom.cli", "demo", "--headless", "--dir", "d"],
        capture_output=True,
        text=True,
        timeout=280,
        env=_env(),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    table = run.stdout.split("what happened", 1)[1]
    for step in STEPS:
        # make test installs Dovecot and runs as root: the Sent folder step is played too.
        assert re.search(rf"^{re.escape(step)}\s+done\s", table, re.M), (step, table)
    assert "FAILED" not in table and "skipped" not in table


@pytest.mark.timeout(180)
def test_live_demo_serves_the_dashboard_until_ctrl_c(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "postroom.cli", "demo", "--dir", str(tmp_path / "d"),
         "--port", "0", "--catcher-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )  # fmt: skip
    assert demo.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        url = login = None
        while time.monotonic() < deadline and login is None:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if found := re.search(r"Open (http://\S+?)/ and log in as demo / (\S+)", line):
                url, login = found.group(1), found.group(2)
        assert url is not None, "".join(lines)
        with urllib.request.urlopen(f"{url}/login", timeout=10) as page:
            assert page.status == 200 and b"password" in page.read().lower()
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as health:
            assert health.status == 200
    finally:
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, "".join(lines) + rest
    assert "demo stopped." in rest
