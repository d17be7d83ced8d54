"""The ``postroom`` command group and what its commands share: the exit codes (sysexits(3)),
the mapping of postroom's errors onto them, and the configured application."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from postroom.errors import (
    AddressError,
    ConfigError,
    PostroomError,
    StoreError,
    StoreUnavailable,
)

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER, EX_UNAVAILABLE = 0, 64, 65, 67, 69
EX_SOFTWARE, EX_CANTCREAT, EX_TEMPFAIL, EX_CONFIG = 70, 73, 75, 78


@dataclass
class State:
    config: str | None
    app: str | None


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"postroom: {message}", err=True)
    sys.exit(code)


def check_range(option: str, value: int, low: int, high: int) -> None:
    """Exit 64 naming ``option`` unless ``low <= value <= high``."""
    if not low <= value <= high:
        fail(f"{option} must be from {low} to {high}, not {value}", EX_USAGE)


@contextmanager
def errors() -> Iterator[None]:
    """Turn postroom's exception tree into one clear line and an exit code."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc), EX_CONFIG)
    except StoreUnavailable as exc:
        fail(f"{exc} (try again when the database is back)", EX_TEMPFAIL)
    except StoreError as exc:
        fail(str(exc), EX_SOFTWARE)
    except AddressError as exc:
        fail(f"{type(exc).__name__}: {exc}", EX_DATAERR)
    except PostroomError as exc:
        fail(str(exc), EX_SOFTWARE)


def room_of(state: State, *, need_app: bool = False) -> Any:
    """The application's Postroom object (from --app or [app] import), configured;
    ``need_app``: refuse to go on when no handler is registered (names the fix)."""
    from postroom.cli.pipe import load_room

    return load_room(state.config, state.app, need_handlers=need_app)


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
    ctx.obj = State(config=config, app=app)
