"""``postroom serve`` as a user runs it after ``postroom init`` and ``postroom db upgrade``:
the dashboard, the API and the health check answer, the local mail catcher listens (the
embedded SQLite database, no sending account yet) and the ``catcher`` account points at it,
and SIGTERM stops everything with exit 0. Turned off, none runs (the
rule for real accounts is in tests/catcher/test_embedded.py)."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support.mailservers import free_port


def postroom(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "postroom.cli", "--config", "postroom.toml", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def installed(tmp_path: Path, catcher_port: int) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    subprocess.run(
        [sys.executable, "-m", "postroom.cli", "init"], cwd=tmp_path, env=env, check=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    config = tmp_path / "postroom.toml"
    text = config.read_text(encoding="utf-8").replace("port = 2525", f"port = {catcher_port}")
    config.write_text(text, encoding="utf-8")
    assert postroom(tmp_path, "db", "upgrade").returncode == 0
    return tmp_path


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return int(answer.status)


def wait_until_up(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"postroom serve did not answer {url} within {timeout:g} s")


def serving(folder: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    return subprocess.Popen(
        [sys.executable, "-m", "postroom.cli", "--config", "postroom.toml", "serve",
         "--port", str(port), "--workers", "1"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


@pytest.mark.timeout(120)
def test_serve_runs_the_dashboard_and_the_catcher(tmp_path: Path) -> None:
    catcher_port, port = free_port(), free_port()
    folder = installed(tmp_path, catcher_port)
    process = serving(folder, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        assert get(f"http://127.0.0.1:{port}/login") == 200  # the dashboard
        with smtplib.SMTP("127.0.0.1", catcher_port, timeout=5) as smtp:
            smtp.sendmail(
                "app@example.test",
                ["ada@example.net"],
                b"From: app@example.test\r\nTo: ada@example.net\r\nSubject: hi\r\n\r\nhello\r\n",
            )
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert f"mail catcher (SMTP) on 127.0.0.1:{catcher_port}" in err
    listed = postroom(folder, "accounts", "list")
    assert listed.returncode == 0, listed.stderr
    assert "catcher" in listed.stdout and str(catcher_port) in listed.stdout, listed.stdout


@pytest.mark.timeout(120)
def test_no_catcher_when_it_is_turned_off(tmp_path: Path) -> None:
    catcher_port, port = free_port(), free_port()
    folder = installed(tmp_path, catcher_port)
    config = folder / "postroom.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('enabled = "auto"', 'enabled = "off"'),
        encoding="utf-8",
    )
    process = serving(folder, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", catcher_port), 1):
            pass
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "mail catcher" not in err
