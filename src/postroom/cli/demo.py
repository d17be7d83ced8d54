"""``postroom demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from postroom.cli.base import (
    errors,
    main,
)


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

    with errors():
        sys.exit(run_demo(Path(workdir)))
