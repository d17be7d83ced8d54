"""Account operations behind ``postroom accounts`` and the library API: add, list, remove,
read secrets, rotate the encryption keys, pause and resume. Secrets go in encrypted and come
out only for a connection; they are never returned by listing functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from postroom.accounts.model import Account, AccountSpec, Auth, Security
from postroom.accounts.vault import AccountSecrets, SecretBox
from postroom.errors import AccountError, ConfigError, SecretError
from postroom.settings import Settings
from postroom.store import Database
from postroom.store import accounts as store

if TYPE_CHECKING:
    from postroom.app import Postroom

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(settings.account_keys, settings.account_key_id)


def check_spec(spec: AccountSpec, secrets: AccountSecrets) -> None:
    """Refuse an account that could never send, with the field and the fix."""
    if not _NAME.match(spec.name):
        raise AccountError(
            f"account name {spec.name!r}: use lower-case letters, digits, '.', '_' or '-'"
        )
    local, at, domain = spec.from_address.rpartition("@")
    if not at or not local or "." not in domain or any(c in spec.from_address for c in " \r\n<>"):
        raise AccountError(f"--from {spec.from_address!r} is not a mail address (local@domain)")
    if not 0 < spec.smtp_port < 65536:
        raise AccountError(f"SMTP port {spec.smtp_port} is not 1..65535")
    if spec.smtp_auth in (Auth.PLAIN, Auth.LOGIN) and not secrets.password:
        raise AccountError(
            f"account {spec.name!r} logs in with {spec.smtp_auth.value.upper()} but has no "
            "password: give --password (or --password-env NAME), or --auth none for a relay "
            "that needs no login"
        )
    if spec.smtp_auth is Auth.XOAUTH2 and not secrets.oauth:
        raise AccountError(
            f"account {spec.name!r} logs in with XOAUTH2 but has no OAuth credentials: give "
            "--oauth-token-url, --oauth-client-id, --oauth-client-secret and "
            "--oauth-refresh-token"
        )
    if spec.smtp_auth is not Auth.NONE and not spec.smtp_username:
        raise AccountError(f"account {spec.name!r}: give --username for {spec.smtp_auth}")
    if (
        spec.smtp_security is Security.NONE
        and spec.smtp_auth is not Auth.NONE
        and spec.smtp_host not in ("127.0.0.1", "::1", "localhost")
    ):
        raise AccountError(
            f"account {spec.name!r} would send its password in clear text to {spec.smtp_host}: "
            "use --security starttls or tls"
        )


def add_account(
    database: Database,
    settings: Settings,
    spec: AccountSpec,
    secrets: AccountSecrets,
    *,
    now: datetime,
) -> Account:
    check_spec(spec, secrets)
    blob = secret_box(settings).encrypt(secrets) if secrets else None
    with database.transaction() as tx:
        return store.insert_account(tx, spec, secret=blob, now=now)


def get_account(database: Database, name: str) -> Account:
    with database.transaction() as tx:
        account = store.get_account(tx, name=name)
    if account is None:
        raise AccountError(
            f"no account named {name!r}: `postroom accounts list` shows the accounts there are"
        )
    return account


def list_accounts(database: Database) -> list[Account]:
    with database.transaction() as tx:
        return store.list_accounts(tx)


def remove_account(database: Database, name: str, *, force: bool = False) -> int:
    """Remove an account; refused while copies wait for it unless ``force`` (they then fail
    when a worker next looks at them: there is no account to send them through)."""
    account = get_account(database, name)
    with database.transaction() as tx:
        pending = store.pending_copies(tx, account.id)
        if pending and not force:
            raise AccountError(
                f"account {name!r} still has {pending} copies waiting to be sent: wait for the "
                "worker, or pass --force to remove it anyway"
            )
        store.delete_account(tx, account.id)
    return pending


def read_secrets(database: Database, settings: Settings, account: Account) -> AccountSecrets:
    with database.transaction() as tx:
        blob = store.get_secret(tx, account.id)
    if blob is None:
        return AccountSecrets()
    return secret_box(settings).decrypt(blob)


def write_secrets(
    database: Database,
    settings: Settings,
    account: Account,
    secrets: AccountSecrets,
    *,
    now: datetime,
) -> None:
    blob = secret_box(settings).encrypt(secrets)
    with database.transaction() as tx:
        store.update_account(tx, account.id, now=now, secret=blob)


def rotate_keys(database: Database, settings: Settings, *, now: datetime) -> int:
    """Re-encrypt every stored secret under ``accounts.encryption_key``; returns how many."""
    box = secret_box(settings)
    with database.transaction() as tx:
        rows = store.all_secrets(tx)
        for account_id, blob in rows:
            store.update_account(tx, account_id, now=now, secret=box.rotate(blob))
    return len(rows)


def require_keys(settings: Settings) -> None:
    if settings.account_key_id not in settings.account_keys:
        raise ConfigError(
            "accounts.keys",
            f"no key with id {settings.account_key_id} is configured to encrypt account secrets",
            "run `postroom init` for a config with fresh keys, or add [accounts] keys = "
            '{ "1" = "<base64 of 32 random bytes>" }',
        )


@dataclass(frozen=True, slots=True)
class AccountCheck:
    ok: bool
    lines: tuple[str, ...]


def check_account(
    room: Postroom, account: Account, *, ca_file: str | None = None, timeout: float = 30
) -> AccountCheck:
    """Connect to the account's server, log in (refreshing an OAuth token first when needed),
    and report what it offers: PIPELINING, SIZE, SMTPUTF8, 8BITMIME, STARTTLS, AUTH. A failure
    names the fix. The result is kept on the account (``accounts list`` shows it) and what the
    server offers is learned for ``room.send``'s checks."""
    from postroom.errors import OAuthError, OutboundError
    from postroom.jobs.delivering import Deliverer
    from postroom.outbound import Timeouts
    from postroom.store.accounts import merge_state

    now = room.clock()
    lines = [
        f"{account.name}: {account.smtp_host}:{account.smtp_port} ({account.smtp_security}, "
        f"auth {account.smtp_auth})"
    ]
    deliverer = Deliverer(
        room, worker="accounts-test", timeouts=Timeouts.uniform(timeout), ca_file=ca_file
    )
    result: dict[str, object] = {"at": now.isoformat()}
    try:
        secrets = read_secrets(room.database, room.settings, account)
        if account.smtp_auth is Auth.XOAUTH2:
            connection = deliverer.open_oauth(account, secrets)
        else:
            connection = deliverer.connector(account, secrets)
    except (OutboundError, OAuthError, ConfigError) as exc:
        lines.append(f"FAILED: {exc}")
        result.update(ok=False, error=str(exc))
        ok = False
    else:
        with connection:
            caps = connection.capabilities
            lines.append(
                f"connected{' with TLS' if connection.tls else ''}; logged in"
                if account.smtp_auth is not Auth.NONE
                else "connected"
            )
            lines.append(f"offers: {caps.describe()}")
            missing = [
                n
                for n, has in (("PIPELINING", caps.pipelining), ("SMTPUTF8", caps.smtputf8))
                if not has
            ]
            if missing:
                lines.append(
                    f"note: no {' or '.join(missing)} (postroom works without; "
                    "PIPELINING saves a round trip per copy)"
                )
            deliverer.learn(account, connection)
        result.update(ok=True, offers=caps.describe())
        ok = True
    if account.imap_host:
        ok = _check_mailbox(room, account, lines, result, timeout=timeout, ca_file=ca_file) and ok
    with room.database.transaction() as tx:
        store.update_account(tx, account.id, now=now, last_test=result)
        if ok:
            merge_state(tx, account.id, {"tested_at": now.isoformat()}, now=now)
    return AccountCheck(ok, tuple(lines))


def _check_mailbox(
    room: Postroom,
    account: Account,
    lines: list[str],
    result: dict[str, object],
    *,
    timeout: float,
    ca_file: str | None,
) -> bool:
    """Log in over IMAP, learn the folders by role and what the server offers (kept on the
    account: the Sent reconciliation of every email relies on it, LIST is not repeated)."""
    from postroom.errors import MailboxError, OAuthError
    from postroom.mailbox.folders import Role
    from postroom.mailbox.jobs import discover_account
    from postroom.mailbox.login import AccountLogin

    lines.append(
        f"IMAP: {account.imap_host}:{account.imap_port} ({account.imap_security or 'tls'})"
    )
    try:
        facts = discover_account(
            room, account, AccountLogin(room, timeout=timeout, ca_file=ca_file)
        )
    except (MailboxError, OAuthError, SecretError) as exc:
        lines.append(f"IMAP FAILED: {exc}")
        result.update(imap_ok=False, imap_error=str(exc))
        return False
    caps = facts.capabilities
    offered = [n for n in ("MOVE", "UIDPLUS", "IDLE", "CONDSTORE", "SPECIAL-USE") if caps.has(n)]
    lines.append(
        "IMAP offers: "
        + (" ".join(offered) or "none of MOVE UIDPLUS IDLE CONDSTORE SPECIAL-USE")
        + (" (Gmail)" if caps.gmail else "")
    )
    for role in (Role.SENT, Role.TRASH):
        folder = facts.roles.folders.get(role)
        how = facts.roles.found_by.get(role)
        lines.append(f"{role}: {folder!r} ({how})" if folder else f"{role}: not found")
    if facts.roles.sent is None:
        lines.append("note: no Sent folder, so no Sent folder reconciliation for this account")
    result.update(imap_ok=True, sent=facts.roles.sent, trash=facts.roles.trash)
    return True
