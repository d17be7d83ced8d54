"""The ``postroom`` command. Maps postroom's errors onto sysexits(3) exit codes."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click

from postroom.errors import (
    AddressError,
    ConfigError,
    MessageInProgress,
    PostroomError,
    StoreError,
    StoreUnavailable,
    UnparseableMessage,
)

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER, EX_SOFTWARE, EX_TEMPFAIL, EX_CONFIG = (
    0,
    64,
    65,
    67,
    70,
    75,
    78,
)


@dataclass
class _State:
    config: str | None
    app: str | None


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"postroom: {message}", err=True)
    sys.exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn postroom's exception tree into one clear line and an exit code."""
    try:
        yield
    except ConfigError as exc:
        _fail(str(exc), EX_CONFIG)
    except StoreUnavailable as exc:
        _fail(f"{exc} (try again when the database is back)", EX_TEMPFAIL)
    except StoreError as exc:
        _fail(str(exc), EX_SOFTWARE)
    except AddressError as exc:
        _fail(f"{type(exc).__name__}: {exc}", EX_DATAERR)
    except PostroomError as exc:
        _fail(str(exc), EX_SOFTWARE)


def _room(state: _State, *, need_app: bool = False) -> Any:
    """The application's Postroom object (from --app or [app] import), configured."""
    from postroom.app import Postroom, load_app
    from postroom.settings import load_settings

    settings = load_settings(state.config)
    spec = state.app or settings.app
    if spec:
        room = load_app(spec)
    elif need_app:
        raise ConfigError(
            "app.import",
            "no application is configured",
            "pass --app package.module:room or set [app] import in postroom.toml",
        )
    else:
        room = Postroom()
    # The command line is the edge: the settings it loaded are the ones that apply.
    return room.configure(settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    envvar="POSTROOM_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default ./postroom.toml).",
)
@click.option(
    "--app", "app", help="Your handlers, as package.module:room (overrides [app] import)."
)
@click.version_option(package_name="postroom")
@click.pass_context
def main(ctx: click.Context, config: str | None, app: str | None) -> None:
    """postroom: a self-hosted two-way email engine."""
    ctx.obj = _State(config=config, app=app)


# --- set-up ------------------------------------------------------------------------------------


@main.command()
@click.option("--path", default="postroom.toml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--database-url", default="sqlite:///postroom.db", show_default=True)
@click.option(
    "--domain",
    default="reply.localhost",
    show_default=True,
    help="The domain of reply addresses (its MX must reach postroom).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, database_url: str, domain: str, force: bool) -> None:
    """Write a commented config file with fresh secrets."""
    from postroom.settings import render_config

    target = Path(path)
    if target.exists() and not force:
        _fail(
            f"{target} exists; pass --force to overwrite it (its keys sign live addresses!)",
            EX_USAGE,
        )
    target.write_text(
        render_config(secret=secrets.token_bytes(32), database_url=database_url, domain=domain),
        encoding="utf-8",
    )
    target.chmod(0o600)
    click.echo(f"wrote {target}; next: postroom db upgrade")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(state: _State) -> None:
    """Apply all migrations."""
    from postroom.settings import load_settings
    from postroom.store import open_database
    from postroom.store.migrate import current_revision, upgrade

    with _errors():
        database = open_database(load_settings(state.config).database_url)
        before = current_revision(database)
        upgrade(database)
        click.echo(f"database at {current_revision(database)} (was {before or 'empty'})")


@db.command("current")
@click.pass_obj
def db_current(state: _State) -> None:
    """Show the schema revision."""
    from postroom.settings import load_settings
    from postroom.store import open_database
    from postroom.store.migrate import current_revision, head_revision

    with _errors():
        database = open_database(load_settings(state.config).database_url)
        click.echo(f"{current_revision(database) or 'empty'} (newest: {head_revision()})")


# --- addresses and sessions --------------------------------------------------------------------


@main.group()
def address() -> None:
    """Encode or decode reply and bounce addresses."""


@address.command("encode")
@click.option("--module", "module", type=int, help="Module id (0 = core).")
@click.option("--handler", "handler", help="Handler name (its module id is used).")
@click.option("--user", type=int, help="User id.")
@click.option("--session-key", help="Session key as hex (16 hex digits).")
@click.option("--bounce", "delivery", type=int, help="Make a bounce address for this delivery id.")
@click.pass_obj
def address_encode(
    state: _State,
    module: int | None,
    handler: str | None,
    user: int | None,
    session_key: str | None,
    delivery: int | None,
) -> None:
    """Print a signed address (for operators and tests; sessions are not created)."""
    from postroom.handlers import module_id_for

    with _errors():
        room = _room(state)
        if delivery is not None:
            click.echo(room.codec.encode_bounce(delivery_id=delivery))
            return
        if user is None or session_key is None or (module is None and handler is None):
            _fail("give --user, --session-key and --module or --handler (or --bounce ID)", EX_USAGE)
        module_id = module if module is not None else module_id_for(str(handler))
        try:
            key = bytes.fromhex(session_key)
        except ValueError:
            _fail("--session-key must be hex", EX_USAGE)
        click.echo(room.codec.encode_reply(module=module_id, user=user, session_key=key))


@address.command("decode")
@click.argument("value")
@click.pass_obj
def address_decode(state: _State, value: str) -> None:
    """Verify an address and print what it carries as JSON (exit 65 when it does not verify)."""
    with _errors():
        token = _room(state).codec.decode(value)
        click.echo(json.dumps({"type": type(token).__name__, **token.as_dict()}))


@main.group()
def session() -> None:
    """Email sessions."""


@session.command("create")
@click.argument("handler")
@click.option("--user", type=int, required=True)
@click.option("--data", default="null", help="Session data as JSON.")
@click.option("--uses", type=int, help="Replies this address accepts (default: the handler's).")
@click.pass_obj
def session_create(state: _State, handler: str, user: int, data: str, uses: int | None) -> None:
    """Create a session for HANDLER and print its reply address."""
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        _fail(f"--data is not JSON: {exc}", EX_USAGE)
    with _errors():
        room = _room(state, need_app=True)
        try:
            issued = room.create_session(handler, user, payload, uses=uses)
        except KeyError as exc:
            _fail(str(exc.args[0]), EX_USAGE)
        click.echo(issued.address)


@main.command()
@click.option("--older-than-days", type=float, help="Default: sessions.prune_after_days.")
@click.pass_obj
def prune(state: _State, older_than_days: float | None) -> None:
    """Delete email sessions that expired long enough ago, and old copies' Message-IDs."""
    from datetime import timedelta

    with _errors():
        room = _room(state)
        age = None if older_than_days is None else timedelta(days=older_than_days)
        pruned = room.prune(older_than=age)
        click.echo(
            f"pruned {pruned.sessions} expired sessions and "
            f"{pruned.message_ids} Message-IDs of old copies"
        )


# --- inbound -----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    envvar="RECIPIENT",
    help="Envelope recipient (Postfix pipe: ${recipient}). Repeatable.",
)
@click.option("--sender", envvar="SENDER", help="Envelope sender (Postfix pipe: ${sender}).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def inbound(state: _State, recipients: tuple[str, ...], sender: str | None, as_json: bool) -> None:
    """Handle one message from standard input (for an MTA pipe).

    Exit codes (sysexits): 0 handled or deliberately ignored (mail to inbound.report_addresses
    included), 67 not one of our addresses, 65 not an email message, 75 temporary failure:
    the MTA keeps the mail and retries.
    """
    try:
        room = _room(state)
        raw, size = _read_bounded(sys.stdin.buffer, room.settings.max_message_bytes)
        result = room.receive(raw, recipients=list(recipients), sender=sender, size=size)
    except UnparseableMessage as exc:
        _fail(str(exc), EX_DATAERR)
    except (StoreUnavailable, MessageInProgress) as exc:
        _fail(f"{exc}; the MTA will retry", EX_TEMPFAIL)
    except Exception as exc:  # anything else: keep the mail queued rather than lose it
        _fail(f"temporary failure ({type(exc).__name__}: {exc}); the MTA will retry", EX_TEMPFAIL)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        click.echo(f"{result.outcome}" + (f" (#{result.inbound_id})" if result.inbound_id else ""))
    reports = room.settings.report_addresses
    if str(result.outcome) == "not_ours" and not any(r.lower() in reports for r in recipients):
        # Mail to one of inbound.report_addresses that quotes no copy of ours is ignored (0).
        sys.exit(EX_NOUSER)


def _read_bounded(stream: BinaryIO, limit: int) -> tuple[bytes, int]:
    """At most ``limit + 1`` bytes of ``stream`` and its whole size: an oversized message is
    drained (so the MTA's pipe does not break) but never held in memory."""
    raw = stream.read(limit + 1)
    size = len(raw)
    if size > limit:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
    return raw, size


@main.command()
@click.option("--lmtp", "lmtp", metavar="HOST:PORT", help="Listen for LMTP (RFC 2033).")
@click.option("--smtp", "smtp", metavar="HOST:PORT", help="Listen for SMTP (RFC 5321).")
@click.pass_obj
def receive(state: _State, lmtp: str | None, smtp: str | None) -> None:
    """Listen for mail from an MTA; unknown or forged addresses are refused at RCPT (550 5.1.1).

    The addresses of inbound.report_addresses are accepted too (bounces that quote a copy's
    Message-ID count; other mail to them is dropped)."""
    from postroom.receivers import parse_hostport, serve

    if bool(lmtp) == bool(smtp):
        _fail("give exactly one of --lmtp HOST:PORT or --smtp HOST:PORT", EX_USAGE)
    with _errors():
        room = _room(state)
        room.codec  # noqa: B018 - fail now on missing keys, not at the first message
        protocol = "lmtp" if lmtp else "smtp"
        try:
            host, port = parse_hostport(str(lmtp or smtp))
        except ValueError as exc:
            _fail(str(exc), EX_USAGE)
        serve(room, protocol=protocol, host=host, port=port)


@main.command()
@click.argument("inbound_id", type=int)
@click.option("--dry-run", is_flag=True, help="Show the decisions; write and send nothing.")
@click.option("--force", is_flag=True, help="Dispatch again even if it was handled.")
@click.pass_obj
def replay(state: _State, inbound_id: int, dry_run: bool, force: bool) -> None:
    """Run a stored inbound message through the pipeline again."""
    with _errors():
        result = _room(state).replay(inbound_id, dry_run=dry_run, force=force)
        for step in result.steps:
            click.echo(f"  - {step}")
        click.echo(f"outcome: {result.outcome}")


# --- understanding -----------------------------------------------------------------------------


def _json_lines(paths: tuple[str, ...], understand: Callable[[bytes], Any]) -> NoReturn:
    """One JSON object per path, in order; an unreadable path gets an ``error`` line and the
    command exits 65 at the end (the other paths are still answered)."""
    failed = False
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            click.echo(json.dumps({"path": path, "error": str(exc)}))
            failed = True
            continue
        result = understand(data).to_json()
        click.echo(json.dumps({"path": path, **result}, ensure_ascii=False))
    sys.exit(EX_DATAERR if failed else EX_OK)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
def classify(paths: tuple[str, ...]) -> None:
    """Classify messages (bounce, auto_reply, complaint, delivered, normal): one JSON line each."""
    from postroom.understand.bounces import classify_message

    _json_lines(paths, classify_message)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
def extract(paths: tuple[str, ...]) -> None:
    """Extract the new text of replies (.eml, or a bare text or HTML body): one JSON line each."""
    from postroom.understand.replies import extract_bytes

    _json_lines(paths, extract_bytes)


@main.command()
@click.option(
    "--dir",
    "workdir",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo keeps its database and outbox.",
)
def demo(workdir: str) -> None:
    """Run the scripted loop end to end on this machine and print what happened."""
    from postroom.demo import run_demo

    with _errors():
        sys.exit(run_demo(Path(workdir)))


if __name__ == "__main__":  # pragma: no cover
    main()
