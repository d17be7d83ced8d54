"""Item 4: relative paths in the config file are relative to that file, a database folder that
does not exist is a clear error, and the SQLite file (it holds raw mail) is private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from postroom.settings import load_settings
from support.cli import Deployment
from support.messages import reply


def run_from(
    cwd: Path, deployment: Deployment, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "postroom", "--config", str(deployment.config), *args],
        input=stdin,
        capture_output=True,
        env=deployment.env(),
        cwd=cwd,
        timeout=60,
    )


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    deployment = Deployment(home, "sqlite:///postroom.db")
    text = deployment.config.read_text().replace(
        f'outbox_dir = "{home / "outbox"}"', 'outbox_dir = "outbox"'
    )
    deployment.config.write_text(text)
    assert run_from(elsewhere, deployment, "db", "upgrade").returncode == 0
    assert (home / "postroom.db").exists() and not (elsewhere / "postroom.db").exists()
    address = run_from(elsewhere, deployment, "session", "create", "forum", "--user", "4")
    assert address.returncode == 0, address.stderr.decode()
    to = address.stdout.decode().strip()
    done = run_from(elsewhere, deployment, "inbound", "--recipient", to, stdin=reply(to))
    assert done.returncode == 0, done.stderr.decode()
    current = run_from(tmp_path, deployment, "db", "current")
    assert current.returncode == 0 and not current.stdout.startswith(b"empty")
    settings = load_settings(deployment.config, environ={})
    assert settings.database_url == f"sqlite:///{home / 'postroom.db'}"
    assert settings.error_mail.outbox_dir == str(home / "outbox")


def test_paths_from_the_environment_are_relative_to_the_working_directory(
    tmp_path: Path,
) -> None:
    config = tmp_path / "conf" / "postroom.toml"
    config.parent.mkdir()
    config.write_text('[database]\nurl = "sqlite:///in-conf.db"\n')
    env = {"POSTROOM_DATABASE_URL": "sqlite:///from-env.db"}
    # As given: SQLite opens it from the working directory.
    assert load_settings(config, environ=env).database_url == "sqlite:///from-env.db"
    assert load_settings(config, environ={}).database_url.endswith("/conf/in-conf.db")


def test_a_database_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}")
    result = run_from(tmp_path, deployment, "db", "upgrade")
    assert result.returncode == 78, result.stderr
    assert b"does not exist" in result.stderr and b"Traceback" not in result.stderr
    assert not (tmp_path / "no").exists()


def test_the_sqlite_file_is_created_private(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, f"sqlite:///{tmp_path / 'mail.db'}")
    old = os.umask(0o022)
    try:
        assert run_from(tmp_path, deployment, "db", "upgrade").returncode == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "mail.db").stat().st_mode) == 0o600
