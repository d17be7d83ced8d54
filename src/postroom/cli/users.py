"""``postroom users``: the people who may log in to the dashboard (add, list, remove,
password). Passwords never travel on the command line (``ps`` and shell history would show
them): they come from a hidden prompt (asked twice), standard input (``--password-stdin``)
or an environment variable (``--password-env``)."""

from __future__ import annotations

import json
import os
import sys

import click

from postroom.cli.base import EX_USAGE, State, fail, main, room_of
from postroom.cli.tokens import access_errors


def _password(env: str | None, stdin: bool) -> str:
    if env is not None:
        value = os.environ.get(env)
        if not value:
            fail(f"the environment variable {env} (for the password) is not set", EX_USAGE)
        return value
    if stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            fail("no password on standard input", EX_USAGE)
        return value
    if not sys.stdin.isatty():
        fail("give the password with --password-stdin or --password-env VAR", EX_USAGE)
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


_PASSWORD_OPTIONS = [
    click.option("--password-env", metavar="VAR", help="Read the password from this variable."),
    click.option("--password-stdin", is_flag=True, help="Read the password from standard input."),
]


@main.group()
def users() -> None:
    """Dashboard users (passwords hashed with Argon2id)."""


@users.command("add")
@click.argument("username")
@_PASSWORD_OPTIONS[0]
@_PASSWORD_OPTIONS[1]
@click.pass_obj
def users_add(state: State, username: str, password_env: str | None, password_stdin: bool) -> None:
    """Add dashboard user USERNAME (a password of at least 15 characters)."""
    from postroom.access.users import add_user

    password = _password(password_env, password_stdin)
    with access_errors():
        room = room_of(state)
        user = add_user(room.database, username, password, now=room.clock())
    click.echo(f"added user {user.username}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user.")
@click.pass_obj
def users_list(state: State, as_json: bool) -> None:
    """List dashboard users."""
    from postroom.access.users import list_users

    with access_errors():
        room = room_of(state)
        found = list_users(room.database)
    if as_json:
        for user in found:
            click.echo(json.dumps(user.to_json()))
        return
    if not found:
        click.echo("no users; add one with `postroom users add NAME`")
    for user in found:
        login = (
            f"last login {user.last_login_at:%Y-%m-%d %H:%M}"
            if user.last_login_at
            else ("never logged in")
        )
        click.echo(f"{user.username}: added {user.created_at:%Y-%m-%d}; {login}")


@users.command("remove")
@click.argument("username")
@click.pass_obj
def users_remove(state: State, username: str) -> None:
    """Remove dashboard user USERNAME."""
    from postroom.access.users import remove_user

    with access_errors():
        room = room_of(state)
        user = remove_user(room.database, username)
    click.echo(f"removed user {user.username}")


@users.command("password")
@click.argument("username")
@_PASSWORD_OPTIONS[0]
@_PASSWORD_OPTIONS[1]
@click.pass_obj
def users_password(
    state: State, username: str, password_env: str | None, password_stdin: bool
) -> None:
    """Set a new password for USERNAME."""
    from postroom.access.users import set_password

    password = _password(password_env, password_stdin)
    with access_errors():
        room = room_of(state)
        user = set_password(room.database, username, password, now=room.clock())
    click.echo(f"password of {user.username} changed")
