"""``postroom tokens``: bearer tokens for the HTTP API (create, list, revoke).

A new token is printed once, on standard output alone (so ``TOKEN=$(postroom tokens create
...)`` captures it); only its SHA-256 is stored, so a lost token cannot be shown again:
revoke it and create another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click

from postroom.cli.base import EX_DATAERR, State, errors, fail, main, room_of
from postroom.errors import AccessError


@contextmanager
def access_errors() -> Iterator[None]:
    """postroom's errors as exit codes; AccessError (a bad name, scope or password) is 65."""
    with errors():
        try:
            yield
        except AccessError as exc:
            fail(str(exc), EX_DATAERR)


@main.group()
def tokens() -> None:
    """Bearer tokens for the HTTP API (scopes: send, read, inbound, admin)."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="send, read, inbound or admin (repeat, or give several: --scope 'send read').",
)
@click.option("--expires-days", type=click.IntRange(1, 3660), help="Refused after this many days.")
@click.option("--json", "as_json", is_flag=True, help="The token and its record as JSON.")
@click.pass_obj
def tokens_create(
    state: State, name: str, scopes: tuple[str, ...], expires_days: int | None, as_json: bool
) -> None:
    """Create token NAME (say what will use it: forum-app, mta) and print it once."""
    from postroom.access.tokens import create_token, parse_scopes

    with access_errors():
        chosen = parse_scopes(scopes)
        room = room_of(state)
        now = room.clock()
        expires = now + timedelta(days=expires_days) if expires_days else None
        issued = create_token(room.database, name, chosen, now=now, expires_at=expires)
    if as_json:
        click.echo(json.dumps({"token": issued.token, **issued.info.to_json(now)}))
        return
    click.echo(issued.token)
    scope_text = " ".join(sorted(issued.info.scopes))
    until = f", until {expires:%Y-%m-%d}" if expires else ""
    click.echo(
        f"token {name} ({scope_text}{until}): shown this once; send it as "
        "'Authorization: Bearer <token>'",
        err=True,
    )


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per token.")
@click.pass_obj
def tokens_list(state: State, as_json: bool) -> None:
    """List tokens (never the tokens themselves)."""
    from postroom.access.tokens import list_tokens

    with access_errors():
        room = room_of(state)
        found = list_tokens(room.database)
        now = room.clock()
    if as_json:
        for info in found:
            click.echo(json.dumps(info.to_json(now)))
        return
    if not found:
        click.echo("no tokens; make one with `postroom tokens create NAME --scope read`")
    for info in found:
        used = f"last used {info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "unused"
        click.echo(
            f"{info.name}: {info.hint} scopes {' '.join(sorted(info.scopes))}; "
            f"{info.state(now)}; created {info.created_at:%Y-%m-%d}; {used}"
        )


@tokens.command("revoke")
@click.argument("which", metavar="NAME")
@click.pass_obj
def tokens_revoke(state: State, which: str) -> None:
    """Revoke token NAME (or its key id): refused from the next request on."""
    from postroom.access.tokens import revoke_token

    with access_errors():
        room = room_of(state)
        info = revoke_token(room.database, which, now=room.clock())
    click.echo(f"token {info.name} revoked")
