"""``postroom tokens`` and ``postroom users`` as an operator runs them: the token printed
once and working at once, stored only as its hash; passwords hashed with Argon2id, refused
when short, verified at login."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from postroom.access.users import verify_login
from postroom.app import Postroom
from postroom.cli import main
from postroom.settings import load_settings
from postroom.store import open_database
from postroom.store.models import ApiTokenRow, OperatorUserRow
from support.cli import Deployment
from web.conftest import web_app

PASSWORD = "correct horse battery staple"


@pytest.fixture
def deployment(tmp_path: Path, sqlite_url: str) -> Deployment:
    deployment = Deployment(tmp_path, sqlite_url)
    assert deployment.run("db", "upgrade").returncode == 0
    return deployment


def run(deployment: Deployment, *args: str, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["--config", str(deployment.config), *args], env=deployment.env(), input=stdin
    )
    return result.exit_code, result.stdout, result.stderr


def test_a_token_is_printed_once_stored_hashed_and_revocable(deployment: Deployment) -> None:
    code, out, err = run(deployment, "tokens", "create", "forum-app", "--scope", "send read")
    assert code == 0, err
    token = out.strip()
    assert token.startswith("postroom_") and "\n" not in token
    assert "shown this once" in err
    code, out, _ = run(deployment, "tokens", "list")
    assert "forum-app" in out and "read send" in out and "active" in out
    assert token not in out and token.split("_")[2] not in out

    settings = load_settings(str(deployment.config))
    database = open_database(settings.database_url)
    with database.transaction() as tx:
        row = tx.scalars(select(ApiTokenRow)).one()
        assert token.encode() not in row.secret_hash and len(row.secret_hash) == 32
    room = Postroom(settings, database=database)
    with TestClient(web_app(room)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/events", headers=headers).status_code == 200
        assert run(deployment, "tokens", "revoke", "forum-app") == (
            0,
            "token forum-app revoked\n",
            "",
        )
        assert client.get("/api/events", headers=headers).status_code == 401
    database.dispose()

    code, _, err = run(deployment, "tokens", "create", "x", "--scope", "root")
    assert code == 65 and "unknown scope 'root'" in err and "admin" in err
    code, _, err = run(deployment, "tokens", "revoke", "nosuch")
    assert code == 65 and "tokens list" in err
    code, out, _ = run(
        deployment,
        "tokens",
        "create",
        "mta",
        "--scope",
        "inbound",
        "--json",
        "--expires-days",
        "30",
    )
    assert code == 0 and '"scopes": ["inbound"]' in out and '"expires_at": "' in out


def test_users_are_added_with_argon2id_and_verified(deployment: Deployment) -> None:
    code, out, err = run(
        deployment, "users", "add", "Ada", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert (code, out) == (0, "added user ada\n"), err
    code, _, err = run(deployment, "users", "add", "bob", "--password-stdin", stdin="short\n")
    assert code == 65 and "at least 15" in err
    code, _, err = run(deployment, "users", "add", "ada", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 65 and "exists already" in err
    code, _, err = run(deployment, "users", "add", "cy")  # no terminal to prompt on
    assert code == 64 and "--password-stdin" in err

    settings = load_settings(str(deployment.config))
    database = open_database(settings.database_url)
    with database.transaction() as tx:
        stored = tx.scalars(select(OperatorUserRow.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    now = Postroom(settings).clock()
    assert verify_login(database, "ADA", PASSWORD, now=now) is not None
    assert verify_login(database, "ada", PASSWORD + "x", now=now) is None
    assert verify_login(database, "nobody", PASSWORD, now=now) is None

    os.environ["NEW_PASSWORD"] = "a quite different passphrase"
    try:
        code, out, _ = run(deployment, "users", "password", "ada", "--password-env", "NEW_PASSWORD")
    finally:
        del os.environ["NEW_PASSWORD"]
    assert code == 0 and "changed" in out
    assert verify_login(database, "ada", PASSWORD, now=now) is None
    assert verify_login(database, "ada", "a quite different passphrase", now=now) is not None
    code, out, _ = run(deployment, "users", "list")
    assert out.startswith("ada: added") and "last login" in out
    assert run(deployment, "users", "remove", "ada")[0] == 0
    assert run(deployment, "users", "list")[1].startswith("no users")
    database.dispose()
