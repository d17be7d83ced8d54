"""Receiving commands: addresses, sessions, ``inbound`` (the MTA pipe), ``receive``, ``replay``,
``prune``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from postroom.addresses import FormatV1
from postroom.cli.base import (
    EX_UNAVAILABLE,
    EX_USAGE,
    State,
    check_range,
    errors,
    fail,
    main,
    room_of,
)
from postroom.errors import StoreUnavailable

# --- addresses and sessions --------------------------------------------------------------------

USER_ID_LIMIT = 1 << FormatV1.USER_BITS  # what a reply address carries
DELIVERY_ID_LIMIT = 1 << FormatV1.DELIVERY_BITS  # what a bounce address carries
MAX_PRUNE_DAYS = 36500  # a century: more is no age


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
    state: State,
    module: int | None,
    handler: str | None,
    user: int | None,
    session_key: str | None,
    delivery: int | None,
) -> None:
    """Print a signed address (for operators and tests; sessions are not created)."""
    from postroom.addresses import SESSION_KEY_BYTES
    from postroom.handlers import module_id_for

    if delivery is not None:
        check_range("--bounce", delivery, 0, DELIVERY_ID_LIMIT - 1)
    else:
        if user is None or session_key is None or (module is None and handler is None):
            fail("give --user, --session-key and --module or --handler (or --bounce ID)", EX_USAGE)
        check_range("--user", user, 0, USER_ID_LIMIT - 1)
        if module is not None:
            check_range("--module", module, 0, 0xFFFF)
        try:
            key = bytes.fromhex(session_key)
        except ValueError:
            fail(f"--session-key must be {2 * SESSION_KEY_BYTES} hex digits", EX_USAGE)
        if len(key) != SESSION_KEY_BYTES:
            fail(
                f"--session-key must be {2 * SESSION_KEY_BYTES} hex digits, not {len(session_key)}",
                EX_USAGE,
            )
    with errors():
        room = room_of(state)
        if delivery is not None:
            click.echo(room.codec.encode_bounce(delivery_id=delivery))
            return
        module_id = module if module is not None else module_id_for(str(handler))
        click.echo(room.codec.encode_reply(module=module_id, user=user, session_key=key))


@address.command("decode")
@click.argument("value")
@click.pass_obj
def address_decode(state: State, value: str) -> None:
    """Verify an address and print what it carries as JSON (exit 65 when it does not verify)."""
    with errors():
        token = room_of(state).codec.decode(value)
        click.echo(json.dumps({"type": type(token).__name__, **token.as_dict()}))


@main.group()
def session() -> None:
    """Email sessions."""


@session.command("create")
@click.argument("handler")
@click.option("--user", type=int, required=True)
@click.option("--data", default="null", help="Session data as JSON.")
@click.option("--uses", type=int, help="Replies this address accepts (default: the handler's).")
@click.option("--address", "to", help="The address the reply address is sent to (reports count).")
@click.pass_obj
def session_create(
    state: State, handler: str, user: int, data: str, uses: int | None, to: str | None
) -> None:
    """Create a session for HANDLER and print its reply address."""
    from postroom.app import MAX_DATA_DEPTH, json_depth

    check_range("--user", user, 0, USER_ID_LIMIT - 1)
    if uses is not None:
        check_range("--uses", uses, 1, 2**31 - 1)
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        fail(f"--data is not JSON: {exc}", EX_USAGE)
    except RecursionError:
        fail(f"--data nests deeper than {MAX_DATA_DEPTH} levels; flatten it", EX_USAGE)
    if json_depth(payload) > MAX_DATA_DEPTH:
        fail(f"--data nests deeper than {MAX_DATA_DEPTH} levels; flatten it", EX_USAGE)
    with errors():
        room = room_of(state, need_app=True)
        try:
            issued = room.create_session(handler, user, payload, uses=uses, address=to)
        except KeyError as exc:
            fail(str(exc.args[0]), EX_USAGE)
        click.echo(issued.address)


@main.command()
@click.option("--older-than-days", type=float, help="Default: sessions.prune_after_days.")
@click.pass_obj
def prune(state: State, older_than_days: float | None) -> None:
    """Delete email sessions that expired long enough ago, and old copies' Message-IDs."""
    import math
    from datetime import timedelta

    if older_than_days is not None and not (
        math.isfinite(older_than_days) and 0 <= older_than_days <= MAX_PRUNE_DAYS
    ):
        fail(f"--older-than-days must be a number from 0 to {MAX_PRUNE_DAYS}", EX_USAGE)
    with errors():
        room = room_of(state)
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
def inbound(state: State, recipients: tuple[str, ...], sender: str | None, as_json: bool) -> None:
    """Handle one message from standard input (for an MTA pipe).

    Exit codes (sysexits): 0 handled or deliberately ignored (mail to inbound.report_addresses
    included), 67 not one of our addresses, 65 not an email message, 75 temporary failure:
    the MTA keeps the mail and retries. Every recipient is handled; the most severe code wins.
    """
    from postroom.cli.pipe import PipeArguments, handle

    code = handle(
        PipeArguments(recipients, sender, as_json),
        config=state.config,
        app=state.app,
        stdin=sys.stdin.buffer,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    sys.exit(code)


@main.command()
@click.option("--lmtp", "lmtp", metavar="HOST:PORT", help="Listen for LMTP (RFC 2033).")
@click.option("--smtp", "smtp", metavar="HOST:PORT", help="Listen for SMTP (RFC 5321).")
@click.option(
    "--policy",
    "policy",
    metavar="HOST:PORT",
    help="Serve Postfix's access policy protocol: forged reply addresses are refused at RCPT.",
)
@click.pass_obj
def receive(state: State, lmtp: str | None, smtp: str | None, policy: str | None) -> None:
    """Listen for mail from an MTA; unknown or forged addresses are refused at RCPT (550 5.1.1).

    The addresses of inbound.report_addresses are accepted too (bounces that quote a copy's
    Message-ID count; other mail to them is dropped). --policy answers Postfix's
    check_policy_service for the reply domain, for a Postfix that pipes mail to
    `postroom inbound` (it needs no handlers and no database)."""
    from postroom.receivers import ListenError, parse_hostport, serve

    if lmtp and smtp:
        fail("give one of --lmtp HOST:PORT or --smtp HOST:PORT, not both", EX_USAGE)
    if not (lmtp or smtp or policy):
        fail("give --lmtp HOST:PORT, --smtp HOST:PORT or --policy HOST:PORT", EX_USAGE)
    listeners = []
    for protocol, value in (("lmtp", lmtp), ("smtp", smtp), ("policy", policy)):
        if value:
            try:
                host, port = parse_hostport(value)
            except ValueError as exc:
                fail(f"--{protocol}: {exc}", EX_USAGE)
            listeners.append((protocol, host, port))
    with errors():
        room = room_of(state, need_app=bool(lmtp or smtp))
        room.codec  # noqa: B018 - fail now on missing keys, not at the first message
        if lmtp or smtp:
            _check_database(room)
        try:
            serve(room, listeners)
        except ListenError as exc:
            fail(str(exc), EX_UNAVAILABLE)


def _check_database(room: Any) -> None:
    """Refuse to start a listener that could only answer 451: the database must answer and
    hold the newest schema."""
    from postroom.store.migrate import check_schema

    try:
        check_schema(room.database)
    except StoreUnavailable as exc:
        raise StoreUnavailable(
            f"{exc}; the listener does not start without its database: start the database "
            "or fix database.url"
        ) from None


@main.command()
@click.argument("inbound_id", type=int)
@click.option("--dry-run", is_flag=True, help="Show the decisions; write and send nothing.")
@click.option("--force", is_flag=True, help="Dispatch again even if it was handled.")
@click.pass_obj
def replay(state: State, inbound_id: int, dry_run: bool, force: bool) -> None:
    """Run a stored inbound message through the pipeline again."""
    with errors():
        result = room_of(state).replay(inbound_id, dry_run=dry_run, force=force)
        for step in result.steps:
            click.echo(f"  - {step}")
        click.echo(f"outcome: {result.outcome}")
