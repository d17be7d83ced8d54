"""`postroom send`, `postroom worker` and `postroom accounts test` as an operator runs them:
real processes, a scripted SMTP server standing for the account's provider."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import Deployment
from support.smtpserver import ScriptedSmtpServer


@pytest.fixture
def server() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer(users={"news@example.test": "pw"}) as scripted:
        yield scripted


@pytest.fixture
def deployment(tmp_path: Path, server: ScriptedSmtpServer) -> Deployment:
    deployment = Deployment(tmp_path, f"sqlite:///{tmp_path / 'postroom.db'}")
    assert deployment.run("db", "upgrade").returncode == 0
    env_password = {"PW": "pw"}
    added = deployment.run(
        "accounts", "add", "news", "--from", "news@example.test", "--smtp",
        f"{server.host}:{server.port}", "--security", "none", "--auth", "plain",
        "--password-env", "PW", env=env_password,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr.decode()
    return deployment


def test_accounts_test_says_what_the_server_offers(
    deployment: Deployment, server: ScriptedSmtpServer
) -> None:
    result = deployment.run("accounts", "test", "news")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "logged in" in out and "PIPELINING" in out and "SMTPUTF8" in out
    server.users["news@example.test"] = "changed"
    refused = deployment.run("accounts", "test", "news")
    assert refused.returncode == 69
    assert "FAILED" in refused.stdout.decode() and "password" in refused.stdout.decode()
    assert "Traceback" not in refused.stderr.decode()


def test_send_waits_for_the_worker_and_says_who_failed(
    deployment: Deployment, server: ScriptedSmtpServer, tmp_path: Path
) -> None:
    server.on("RCPT", "550 5.1.1 <gone@example.test>: user unknown", match="gone@example.test")
    body = tmp_path / "body.txt"
    body.write_text("Hello from the command line.\n")
    worker = subprocess.Popen(
        [sys.executable, "-m", "postroom.cli", "worker", "--poll", "0.1"],
        env=deployment.env(),
        cwd=deployment.root,
        stderr=subprocess.PIPE,
    )
    try:
        ok = deployment.run(
            "send", "--account", "news", "--to", "ada@example.test", "--subject", "Hi",
            "--text", str(body), "--wait", "--timeout", "60",
        )  # fmt: skip
        assert ok.returncode == 0, ok.stderr.decode()
        assert "1 sent" in ok.stderr.decode()
        failed = deployment.run(
            "send", "--account", "news", "--to", "ada@example.test,gone@example.test",
            "--subject", "Hi again", "--text", str(body), "--wait", "--timeout", "60",
        )  # fmt: skip
        assert failed.returncode == 65
        err = failed.stderr.decode()
        assert "failed gone@example.test: 550 5.1.1" in err and "1 sent" in err
        skipped = deployment.run(
            "send", "--account", "news", "--to", "gone@example.test", "--subject", "Again",
            "--text", str(body),
        )  # fmt: skip
        assert skipped.returncode == 65  # the address is suppressed now
        assert "skipped gone@example.test (to): suppressed: gone" in skipped.stderr.decode()
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr.decode()
    assert "worker stopped: 3 copies attempted" in stderr.decode()
    assert len(server.messages) == 2


def test_send_refuses_bad_input_with_the_field_named(
    deployment: Deployment, tmp_path: Path
) -> None:
    body = tmp_path / "b.txt"
    body.write_text("x")
    bad = deployment.run("send", "--account", "news", "--to", "not-an-address", "--text", str(body))
    assert bad.returncode == 70 and "to[0]" in bad.stderr.decode()
    unknown = deployment.run(
        "send", "--account", "nope", "--to", "a@example.test", "--text", str(body)
    )
    assert unknown.returncode == 70 and "accounts add nope" in unknown.stderr.decode()
    nothing = deployment.run("send", "--account", "news", "--to", "a@example.test")
    assert nothing.returncode == 64 and "--text" in nothing.stderr.decode()
