"""The operator commands: init, db upgrade, address encode/decode, session create, prune, replay."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.cli import main
from support.cli import Deployment
from support.messages import reply


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_init_writes_a_private_config_and_refuses_to_overwrite_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "postroom.toml"
    first = runner.invoke(main, ["init", "--path", str(target), "--domain", "reply.example.org"])
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text()
    assert 'domain = "reply.example.org"' in text and "keys = {" in text
    again = runner.invoke(main, ["init", "--path", str(target)])
    assert again.exit_code == 64 and "--force" in again.output
    forced = runner.invoke(main, ["init", "--path", str(target), "--force"])
    assert forced.exit_code == 0 and target.read_text() != text  # fresh secrets


def test_a_missing_signing_key_exits_78_with_the_fix(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "postroom.toml"
    config.write_text('[database]\nurl = "sqlite:///x.db"\n')
    result = runner.invoke(main, ["--config", str(config), "address", "decode", "x@y.example"])
    assert result.exit_code == 78
    assert "postroom init" in result.output


@pytest.fixture
def deployment(tmp_path: Path, sqlite_url: str) -> Deployment:
    deployment = Deployment(tmp_path, sqlite_url)
    assert deployment.run("db", "upgrade").returncode == 0
    return deployment


def invoke(runner: CliRunner, deployment: Deployment, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        main,
        ["--config", str(deployment.config), *args],
        env=deployment.env(),
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def test_address_encode_then_decode(runner: CliRunner, deployment: Deployment) -> None:
    code, address = invoke(
        runner,
        deployment,
        "address",
        "encode",
        "--handler",
        "forum",
        "--user",
        "42",
        "--session-key",
        "00112233445566ff",
    )
    assert code == 0
    code, out = invoke(runner, deployment, "address", "decode", address.strip().upper())
    assert code == 0
    decoded = json.loads(out)
    assert decoded["type"] == "ReplyToken" and decoded["user"] == 42
    assert decoded["session_key"] == "00112233445566ff"
    code, bounce = invoke(runner, deployment, "address", "encode", "--bounce", "77")
    assert (
        code == 0
        and json.loads(invoke(runner, deployment, "address", "decode", bounce.strip())[1])[
            "delivery_id"
        ]
        == 77
    )


def test_a_changed_address_does_not_decode(runner: CliRunner, deployment: Deployment) -> None:
    _, address = invoke(
        runner,
        deployment,
        "address",
        "encode",
        "--module",
        "0",
        "--user",
        "1",
        "--session-key",
        "0000000000000001",
    )
    address = address.strip()
    forged = address[:10] + ("a" if address[10] != "a" else "b") + address[11:]
    code, out = invoke(runner, deployment, "address", "decode", forged)
    assert code == 65 and "Address" in out


def test_session_create_prune_and_replay(runner: CliRunner, deployment: Deployment) -> None:
    code, address = invoke(
        runner,
        deployment,
        "session",
        "create",
        "forum",
        "--user",
        "5",
        "--data",
        '{"title": "Replay me"}',
    )
    assert code == 0
    code, out = invoke(runner, deployment, "session", "create", "nope", "--user", "5")
    assert code == 64 and "no handler named 'nope'" in out

    done = deployment.run("inbound", "--recipient", address.strip(), stdin=reply(address.strip()))
    assert done.returncode == 0
    inbound_id = done.stdout.decode().split("#")[1].rstrip(")\n")
    code, out = invoke(runner, deployment, "replay", inbound_id)
    assert code == 70 and "--force" in out
    code, out = invoke(runner, deployment, "replay", inbound_id, "--dry-run")
    assert code == 0 and "would call handler 'forum'" in out
    assert deployment.posts_text() == ["Sounds good, see you there."]

    code, out = invoke(runner, deployment, "prune", "--older-than-days", "0")
    assert code == 0 and out.startswith("pruned 0")
