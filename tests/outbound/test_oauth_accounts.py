"""An XOAUTH2 account as ``postroom accounts add`` stores it is refreshed, and stored back.

The account's token URL is the test's token endpoint on loopback (tests/support/oauth.py).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from postroom.accounts.service import get_account, read_secrets, write_secrets
from postroom.cli import main
from postroom.outbound.oauth import (
    OAuthCredentials,
    UrllibTokenTransport,
    needs_refresh,
    refresh_credentials,
)
from postroom.settings import load_settings, render_config
from postroom.store import open_database
from support.oauth import TokenServer


def test_an_added_account_gets_its_first_access_token_and_keeps_it(tmp_path: Path) -> None:
    config = tmp_path / "postroom.toml"
    config.write_text(
        render_config(secret=secrets.token_bytes(32), database_url=f"sqlite:///{tmp_path / 'p.db'}")
    )
    runner = CliRunner()
    with TokenServer() as tokens:
        grant = tokens.authorise("sales@example.test")
        assert runner.invoke(main, ["--config", str(config), "db", "upgrade"]).exit_code == 0
        added = runner.invoke(
            main,
            ["--config", str(config), "accounts", "add", "sales",
             "--from", "sales@example.test", "--smtp", "127.0.0.1:587", "--auth", "xoauth2",
             "--oauth-token-url", tokens.token_url, "--oauth-client-id", tokens.client_id,
             "--oauth-client-secret-env", "CS", "--oauth-refresh-token-env", "RT",
             "--oauth-scope", grant.scope],
            env={"CS": tokens.client_secret, "RT": grant.refresh_token},
        )  # fmt: skip
        assert added.exit_code == 0, added.output

        settings = load_settings(config)
        database = open_database(settings.database_url)
        try:
            account = get_account(database, "sales")
            stored = read_secrets(database, settings, account)
            assert stored.oauth is not None
            creds = OAuthCredentials.from_json(stored.oauth)
            now = datetime.now(UTC)
            assert creds.access_token == "" and needs_refresh(creds, now)

            refreshed = refresh_credentials(creds, UrllibTokenTransport(timeout=5), now)
            assert tokens.refreshes == 1 and not needs_refresh(refreshed, now)
            write_secrets(
                database, settings, account, replace(stored, oauth=refreshed.to_json()), now=now
            )
            again = read_secrets(database, settings, account)
            assert again.oauth is not None
            assert OAuthCredentials.from_json(again.oauth) == refreshed
        finally:
            database.dispose()
