"""``postroom accounts``: add, list, test, remove sending accounts; rotate their keys.

Secrets never travel on the command line (they would show in ``ps`` and shell history): a
password comes from an environment variable (``--password-env``), standard input
(``--password-stdin``) or a hidden prompt.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from postroom.cli.base import EX_USAGE, State, errors, fail, main, room_of


@main.group()
def accounts() -> None:
    """Sending accounts (the sender's own SMTP and IMAP settings)."""


def _hostport(value: str | None, option: str, default_port: int) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"{option} {value!r} is not HOST:PORT (e.g. smtp.example.org:587)", EX_USAGE)
    return host.strip("[]"), int(port)


def _secret(env: str | None, stdin: bool, what: str, *, prompt: bool) -> str | None:
    if env is not None:
        value = os.environ.get(env)
        if not value:
            fail(f"the environment variable {env} (for the {what}) is not set", EX_USAGE)
        return value
    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            fail(f"no {what} on standard input", EX_USAGE)
        return value
    if prompt and sys.stdin.isatty():
        return str(click.prompt(what.capitalize(), hide_input=True))
    return None


@accounts.command("add")
@click.argument("name")
@click.option("--from", "from_address", required=True, help="The From address of its mail.")
@click.option("--from-name", help="Display name for From.")
@click.option(
    "--preset",
    type=click.Choice(["gmail", "google-workspace", "microsoft365", "catcher"]),
    help="A provider's documented settings and limits (each can be overridden).",
)
@click.option("--smtp", "smtp", metavar="HOST:PORT", help="Submission server (port 587 default).")
@click.option(
    "--security",
    type=click.Choice(["starttls", "tls", "none"]),
    help="starttls (default), tls (implicit, port 465) or none (loopback relays).",
)
@click.option(
    "--auth",
    "auth",
    type=click.Choice(["plain", "login", "xoauth2", "none"]),
    help="SMTP AUTH mechanism (default plain; none for a relay without login).",
)
@click.option("--username", help="Login name (default: the From address).")
@click.option("--password-env", metavar="VAR", help="Read the password from this variable.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--oauth-token-url", help="XOAUTH2: the provider's token endpoint.")
@click.option("--oauth-client-id", help="XOAUTH2: the OAuth client id.")
@click.option("--oauth-client-secret-env", metavar="VAR", help="XOAUTH2: client secret variable.")
@click.option("--oauth-refresh-token-env", metavar="VAR", help="XOAUTH2: refresh token variable.")
@click.option("--oauth-scope", help="XOAUTH2: the scope to ask for when refreshing.")
@click.option("--imap", "imap", metavar="HOST:PORT", help="IMAP server (Sent folder, inbox).")
@click.option("--imap-security", type=click.Choice(["tls", "starttls", "none"]))
@click.option(
    "--envelope",
    type=click.Choice(["verp", "account"]),
    help="verp: a signed bounce address per copy; account: the From address "
    "(Gmail and Microsoft 365 rewrite it anyway).",
)
@click.option("--per-minute", type=click.IntRange(1), help="At most this many messages a minute.")
@click.option("--per-day", type=click.IntRange(1), help="At most this many messages in 24 hours.")
@click.option("--recipients-per-day", type=click.IntRange(1), help="Recipients in 24 hours.")
@click.option("--connections", type=click.IntRange(1, 100), help="Simultaneous connections.")
@click.option("--dkim-selector", help="DKIM: sign every copy with this selector (RFC 6376).")
@click.option(
    "--dkim-key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="DKIM: the private key, PEM (RSA 2048 or Ed25519, RFC 8463).",
)
@click.option("--dkim-domain", help="DKIM: the signing domain (default: the From domain).")
@click.pass_obj
def accounts_add(
    state: State,
    name: str,
    from_address: str,
    from_name: str | None,
    preset: str | None,
    smtp: str | None,
    security: str | None,
    auth: str | None,
    username: str | None,
    password_env: str | None,
    password_stdin: bool,
    oauth_token_url: str | None,
    oauth_client_id: str | None,
    oauth_client_secret_env: str | None,
    oauth_refresh_token_env: str | None,
    oauth_scope: str | None,
    imap: str | None,
    imap_security: str | None,
    envelope: str | None,
    per_minute: int | None,
    per_day: int | None,
    recipients_per_day: int | None,
    connections: int | None,
    dkim_selector: str | None,
    dkim_key_file: str | None,
    dkim_domain: str | None,
) -> None:
    """Add account NAME."""
    from postroom.accounts import AccountSecrets, AccountSpec, Auth, Envelope, Limits, Security
    from postroom.accounts.presets import PRESETS
    from postroom.accounts.service import add_account

    chosen = PRESETS[preset] if preset else None
    server = _hostport(smtp, "--smtp", 587)
    if server is None:
        if chosen is None:
            fail("give --smtp HOST:PORT or a --preset", EX_USAGE)
        server = (chosen.smtp_host, chosen.smtp_port)
    mechanism = Auth(auth or (chosen.smtp_auth if chosen else "plain"))
    mailbox = _hostport(imap, "--imap", 993)
    if mailbox is None and chosen is not None and chosen.imap_host:
        mailbox = (chosen.imap_host, chosen.imap_port or 993)
    base = chosen.limits if chosen else Limits()
    limits = Limits(
        per_minute=per_minute or base.per_minute,
        per_day=per_day or base.per_day,
        recipients_per_day=recipients_per_day or base.recipients_per_day,
        connections=connections or base.connections,
    )
    password: str | None = None
    oauth: dict[str, object] | None = None
    if mechanism in (Auth.PLAIN, Auth.LOGIN):
        password = _secret(password_env, password_stdin, "password", prompt=True)
    elif mechanism is Auth.XOAUTH2:
        oauth = _oauth_options(
            oauth_token_url,
            oauth_client_id,
            oauth_client_secret_env,
            oauth_refresh_token_env,
            oauth_scope,
        )
    login = username or from_address
    spec = AccountSpec(
        name=name,
        from_address=from_address,
        from_name=from_name,
        smtp_host=server[0],
        smtp_port=server[1],
        smtp_security=Security(security or (chosen.smtp_security if chosen else "starttls")),
        smtp_auth=mechanism,
        smtp_username=None if mechanism is Auth.NONE else login,
        imap_host=mailbox[0] if mailbox else None,
        imap_port=mailbox[1] if mailbox else None,
        imap_security=Security(imap_security or "tls") if mailbox else None,
        imap_username=login if mailbox else None,
        envelope=Envelope(envelope or (chosen.envelope if chosen else "account")),
        limits=limits,
    )
    dkim_pem: str | None = None
    dkim: dict[str, str] | None = None
    if bool(dkim_selector) != bool(dkim_key_file):
        fail("DKIM needs both --dkim-selector and --dkim-key-file", EX_USAGE)
    record = None
    if dkim_selector and dkim_key_file:
        from postroom.compose.dkim import DkimKey

        dkim_pem = Path(dkim_key_file).read_text(encoding="ascii", errors="replace")
        dkim = {"selector": dkim_selector, "domain": dkim_domain or from_address.rpartition("@")[2]}
        with errors():
            key = DkimKey(dkim["domain"], dkim["selector"], dkim_pem)  # checked now, not later
            record = f"{key.record_name} TXT {key.dns_record()}"
    with errors():
        room = room_of(state)
        secrets = AccountSecrets(
            password=password,
            oauth=oauth,
            imap_password=password,
            dkim_private_key=dkim_pem,
            dkim=dkim,
        )
        account = add_account(room.database, room.settings, spec, secrets, now=room.clock())
    click.echo(f"added account {account.name} (#{account.id}); next: postroom accounts test {name}")
    if record:
        click.echo(f"publish this DNS record for DKIM: {record}")


def _oauth_options(
    token_url: str | None,
    client_id: str | None,
    client_secret_env: str | None,
    refresh_token_env: str | None,
    scope: str | None,
) -> dict[str, object]:
    missing = [
        flag
        for flag, value in (
            ("--oauth-token-url", token_url),
            ("--oauth-client-id", client_id),
            ("--oauth-refresh-token-env", refresh_token_env),
        )
        if not value
    ]
    if missing or token_url is None or client_id is None or refresh_token_env is None:
        fail(f"XOAUTH2 needs {', '.join(missing)}", EX_USAGE)
    refresh = _secret(refresh_token_env, False, "refresh token", prompt=False)
    client_secret = (
        _secret(client_secret_env, False, "client secret", prompt=False)
        if client_secret_env
        else ""
    )
    return {
        "access_token": "",
        "expires_at": None,
        "refresh_token": refresh,
        "refresh_expires_at": None,
        "token_url": token_url,
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": scope or "",
    }


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per account.")
@click.pass_obj
def accounts_list(state: State, as_json: bool) -> None:
    """List accounts (never their secrets)."""
    from postroom.accounts.service import list_accounts

    with errors():
        room = room_of(state)
        found = list_accounts(room.database)
        now = room.clock()
    if as_json:
        for account in found:
            click.echo(json.dumps(account.to_json()))
        return
    if not found:
        click.echo("no accounts; add one with `postroom accounts add NAME --from ... --smtp ...`")
    for a in found:
        limits = a.limits
        parts = [f"{limits.connections} connections"]
        if limits.per_minute:
            parts.append(f"{limits.per_minute}/min")
        if limits.per_day:
            parts.append(f"{limits.per_day}/day")
        state_text = (
            f"paused until {a.paused_until:%Y-%m-%d %H:%M} UTC ({a.pause_reason})"
            if a.paused(now) and a.paused_until
            else "active"
        )
        click.echo(
            f"{a.name}: {a.from_address} via {a.smtp_host}:{a.smtp_port} "
            f"({a.smtp_security}, auth {a.smtp_auth}); envelope {a.envelope}; "
            f"{', '.join(parts)}; {state_text}"
        )


@accounts.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="Remove it even while copies wait for it.")
@click.pass_obj
def accounts_remove(state: State, name: str, force: bool) -> None:
    """Remove account NAME."""
    from postroom.accounts.service import remove_account

    with errors():
        room = room_of(state)
        pending = remove_account(room.database, name, force=force)
    note = f" ({pending} waiting copies will fail)" if pending else ""
    click.echo(f"removed account {name}{note}")


@accounts.command("rotate-keys")
@click.pass_obj
def accounts_rotate(state: State) -> None:
    """Re-encrypt every account secret under [accounts] encryption_key."""
    from postroom.accounts.service import rotate_keys

    with errors():
        room = room_of(state)
        count = rotate_keys(room.database, room.settings, now=room.clock())
    click.echo(f"re-encrypted {count} account secrets; the other keys may now be removed")


@accounts.command("resume")
@click.argument("name")
@click.pass_obj
def accounts_resume(state: State, name: str) -> None:
    """Lift a pause (after a provider's limit answer, or a login failure that is fixed)."""
    from postroom.accounts.service import get_account
    from postroom.store.accounts import update_account

    with errors():
        room = room_of(state)
        account = get_account(room.database, name)
        with room.database.transaction() as tx:
            update_account(tx, account.id, now=room.clock(), paused_until=None, pause_reason=None)
    click.echo(f"account {name} resumed")


@accounts.command("test")
@click.argument("name")
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this CA file too (a private CA).",
)
@click.option("--timeout", type=click.FloatRange(1, 300), default=30, show_default=True)
@click.pass_obj
def accounts_test(state: State, name: str, ca_file: str | None, timeout: float) -> None:
    """Connect, log in, and say what the server offers (exit 69 when it fails, with the fix)."""
    from postroom.accounts.service import check_account, get_account

    with errors():
        room = room_of(state)
        account = get_account(room.database, name)
        report = check_account(room, account, ca_file=ca_file, timeout=timeout)
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        sys.exit(69)  # EX_UNAVAILABLE
