"""Accounts: secrets encrypted at rest, key rotation, validation that names the fix."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from postroom.accounts import (
    AccountSecrets,
    AccountSpec,
    Auth,
    Limits,
    SecretBox,
    Security,
    service,
)
from postroom.errors import AccountError, ConfigError, SecretError
from postroom.store import Database
from postroom.store.models import AccountRow
from support.sending import settings_with_keys

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _spec(name: str = "main", **changes: object) -> AccountSpec:
    values: dict[str, object] = {
        "name": name,
        "from_address": "ada@example.test",
        "smtp_host": "smtp.example.test",
        "smtp_username": "ada@example.test",
    }
    values.update(changes)
    return AccountSpec(**values)  # type: ignore[arg-type]


def test_secrets_round_trip_and_never_show_in_repr() -> None:
    box = SecretBox({1: secrets.token_bytes(32)}, 1)
    value = AccountSecrets(password="hunter2", oauth={"refresh_token": "r-123"})
    blob = box.encrypt(value)
    assert b"hunter2" not in blob and b"r-123" not in blob
    assert box.decrypt(blob) == value
    assert "hunter2" not in repr(value) and "r-123" not in repr(value)


def test_rotation_reencrypts_under_the_new_key_and_the_old_key_can_go() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    blob = SecretBox({1: old}, 1).encrypt(AccountSecrets(password="pw"))
    both = SecretBox({1: old, 2: new}, 2)
    assert both.decrypt(blob).password == "pw"
    rotated = both.rotate(blob)
    assert SecretBox({2: new}, 2).decrypt(rotated).password == "pw"
    with pytest.raises(SecretError, match="put the old key back"):
        SecretBox({2: new}, 2).decrypt(blob)


def test_a_missing_encryption_key_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="postroom init"):
        SecretBox({1: secrets.token_bytes(32)}, 2)


def test_accounts_are_stored_with_their_secret_encrypted(database: Database) -> None:
    settings = settings_with_keys()
    spec = _spec(limits=Limits(per_minute=30, connections=3))
    account = service.add_account(
        database, settings, spec, AccountSecrets(password="s3cret"), now=NOW
    )
    assert account.has_secret and account.limits.per_minute == 30
    with database.transaction() as tx:
        row = tx.get(AccountRow, account.id)
        assert row is not None and row.secret is not None and b"s3cret" not in row.secret
    assert service.read_secrets(database, settings, account).password == "s3cret"
    assert "s3cret" not in str(account.to_json())
    with pytest.raises(AccountError, match="exists already"):
        service.add_account(database, settings, spec, AccountSecrets(password="x"), now=NOW)
    assert [a.name for a in service.list_accounts(database)] == ["main"]
    service.remove_account(database, "main")
    with pytest.raises(AccountError, match="accounts list"):
        service.get_account(database, "main")


def test_rotate_keys_rewrites_every_secret(database: Database) -> None:
    settings = settings_with_keys()
    for name in ("a", "b"):
        service.add_account(database, settings, _spec(name), AccountSecrets(password=name), now=NOW)
    newer = settings.clone(
        account_keys={**settings.account_keys, 2: secrets.token_bytes(32)}, account_key_id=2
    )
    assert service.rotate_keys(database, newer, now=NOW) == 2
    only_new = newer.clone(account_keys={2: newer.account_keys[2]})
    assert [
        service.read_secrets(database, only_new, a).password
        for a in service.list_accounts(database)
    ] == ["a", "b"]


@pytest.mark.parametrize(
    ("spec", "secret", "message"),
    [
        (_spec(name="Bad Name"), AccountSecrets(password="x"), "lower-case letters"),
        (_spec(from_address="nobody"), AccountSecrets(password="x"), "not a mail address"),
        (_spec(), AccountSecrets(), "has no password"),
        (_spec(smtp_auth=Auth.XOAUTH2), AccountSecrets(), "no OAuth credentials"),
        (_spec(smtp_username=None), AccountSecrets(password="x"), "--username"),
        (_spec(smtp_security=Security.NONE), AccountSecrets(password="x"), "clear text"),
        (_spec(smtp_port=0), AccountSecrets(password="x"), "not 1..65535"),
    ],
)
def test_accounts_that_could_never_send_are_refused(
    spec: AccountSpec, secret: AccountSecrets, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        service.check_spec(spec, secret)


def test_a_loopback_relay_may_go_without_tls_or_login() -> None:
    service.check_spec(
        _spec(smtp_host="127.0.0.1", smtp_security=Security.NONE, smtp_auth=Auth.NONE),
        AccountSecrets(),
    )


def test_remove_refuses_while_copies_wait(database: Database) -> None:
    from support.sending import queue_copies

    settings = settings_with_keys()
    account = service.add_account(
        database, settings, _spec(), AccountSecrets(password="x"), now=NOW
    )
    queue_copies(database, account.id, 2, now=NOW)
    with pytest.raises(AccountError, match="2 copies waiting"):
        service.remove_account(database, "main")
    assert service.remove_account(database, "main", force=True) == 2
