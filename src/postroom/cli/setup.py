"""Set-up commands: ``postroom init`` and ``postroom db``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from postroom.cli.base import (
    EX_CANTCREAT,
    EX_USAGE,
    State,
    errors,
    fail,
    main,
)

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
        fail(
            f"{target} exists; pass --force to overwrite it (its keys sign live addresses!)",
            EX_USAGE,
        )
    if not target.absolute().parent.is_dir():
        fail(
            f"the folder {target.absolute().parent} does not exist; create it first, or give "
            "--path in a folder that does",
            EX_CANTCREAT,
        )
    text = render_config(secret=secrets.token_bytes(32), database_url=database_url, domain=domain)
    try:
        # Created private: the file holds the keys that sign every reply address.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        target.chmod(0o600)
    except OSError as exc:
        fail(f"cannot write {target} ({exc.strerror}); choose another --path", EX_CANTCREAT)
    click.echo(f"wrote {target}; next: postroom db upgrade")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(state: State) -> None:
    """Apply all migrations."""
    from postroom.settings import load_settings
    from postroom.store import open_database
    from postroom.store.migrate import current_revision, upgrade

    with errors():
        database = open_database(load_settings(state.config).database_url)
        before = current_revision(database)
        upgrade(database)
        click.echo(f"database at {current_revision(database)} (was {before or 'empty'})")


@db.command("current")
@click.pass_obj
def db_current(state: State) -> None:
    """Show the schema revision."""
    from postroom.settings import load_settings
    from postroom.store import open_database
    from postroom.store.migrate import current_revision, head_revision

    with errors():
        database = open_database(load_settings(state.config).database_url, create=False)
        click.echo(f"{current_revision(database) or 'empty'} (newest: {head_revision()})")
