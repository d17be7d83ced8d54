"""``postroom accounts``: add, list, remove, rotate-keys, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from postroom.cli import main
from postroom.settings import render_config


def _config(tmp_path: Path) -> Path:
    import secrets

    config = tmp_path / "postroom.toml"
    config.write_text(
        render_config(secret=secrets.token_bytes(32), database_url=f"sqlite:///{tmp_path / 'p.db'}")
    )
    return config


def _run(
    runner: CliRunner,
    config: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
):  # type: ignore[no-untyped-def]
    return runner.invoke(main, ["--config", str(config), *args], env=env, input=stdin)


def test_add_list_and_remove_never_show_the_password(tmp_path: Path) -> None:
    runner = CliRunner()
    config = _config(tmp_path)
    assert _run(runner, config, "db", "upgrade").exit_code == 0
    added = _run(
        runner,
        config,
        "accounts",
        "add",
        "support",
        "--from",
        "help@example.test",
        "--smtp",
        "smtp.example.test:587",
        "--password-env",
        "PW",
        "--per-minute",
        "30",
        env={"PW": "correct horse"},
    )
    assert added.exit_code == 0, added.output
    listed = _run(runner, config, "accounts", "list")
    assert "support: help@example.test via smtp.example.test:587" in listed.output
    assert "30/min" in listed.output and "correct horse" not in listed.output
    as_json = json.loads(_run(runner, config, "accounts", "list", "--json").output)
    assert as_json["has_secret"] is True and "correct horse" not in json.dumps(as_json)
    assert b"correct horse" not in (tmp_path / "p.db").read_bytes()
    assert _run(runner, config, "accounts", "rotate-keys").exit_code == 0
    removed = _run(runner, config, "accounts", "remove", "support")
    assert removed.exit_code == 0 and "removed account support" in removed.output
    gone = _run(runner, config, "accounts", "remove", "support")
    assert gone.exit_code == 70 and "accounts list" in gone.output


def test_presets_fill_in_the_provider_and_its_limits(tmp_path: Path) -> None:
    runner = CliRunner()
    config = _config(tmp_path)
    _run(runner, config, "db", "upgrade")
    added = _run(
        runner,
        config,
        "accounts",
        "add",
        "m365",
        "--from",
        "ops@example.test",
        "--preset",
        "microsoft365",
        "--oauth-token-url",
        "https://login.example.test/token",
        "--oauth-client-id",
        "abc",
        "--oauth-refresh-token-env",
        "RT",
        env={"RT": "r1"},
    )
    assert added.exit_code == 0, added.output
    [account] = [
        json.loads(line)
        for line in _run(runner, config, "accounts", "list", "--json").output.splitlines()
    ]
    assert account["smtp"]["host"] == "smtp.office365.com" and account["smtp"]["auth"] == "xoauth2"
    assert account["limits"]["per_minute"] == 30 and account["limits"]["connections"] == 3


def test_bad_input_names_the_fix(tmp_path: Path) -> None:
    runner = CliRunner()
    config = _config(tmp_path)
    _run(runner, config, "db", "upgrade")
    no_server = _run(runner, config, "accounts", "add", "x", "--from", "a@example.test")
    assert no_server.exit_code == 64 and "--smtp" in no_server.output
    no_password = _run(
        runner,
        config,
        "accounts",
        "add",
        "x",
        "--from",
        "a@example.test",
        "--smtp",
        "smtp.example.test",
    )
    assert no_password.exit_code == 70 and "has no password" in no_password.output
    unset = _run(
        runner,
        config,
        "accounts",
        "add",
        "x",
        "--from",
        "a@example.test",
        "--smtp",
        "smtp.example.test",
        "--password-env",
        "NOPE_NOT_SET",
    )
    assert unset.exit_code == 64 and "NOPE_NOT_SET" in unset.output
    bad_port = _run(
        runner,
        config,
        "accounts",
        "add",
        "x",
        "--from",
        "a@example.test",
        "--smtp",
        "smtp.example.test:99999",
    )
    assert bad_port.exit_code == 64 and "HOST:PORT" in bad_port.output
    stdin = _run(
        runner,
        config,
        "accounts",
        "add",
        "x",
        "--from",
        "a@example.test",
        "--smtp",
        "smtp.example.test",
        "--password-stdin",
        stdin="pw\n",
    )
    assert stdin.exit_code == 0, stdin.output


def test_the_catcher_preset_sends_to_the_local_catcher(tmp_path: Path) -> None:
    runner = CliRunner()
    config = _config(tmp_path)
    assert _run(runner, config, "db", "upgrade").exit_code == 0
    added = _run(
        runner,
        config,
        "accounts",
        "add",
        "dev",
        "--from",
        "forum@example.test",
        "--preset",
        "catcher",
    )
    assert added.exit_code == 0, added.output
    [account] = [
        json.loads(line)
        for line in _run(runner, config, "accounts", "list", "--json").output.splitlines()
        if line.strip()
    ]
    assert account["smtp"] == {
        "host": "127.0.0.1",
        "port": 2525,
        "security": "none",
        "auth": "none",
        "username": None,
    }
    assert account["envelope"] == "verp" and account["has_secret"] is False
