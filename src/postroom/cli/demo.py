"""``postroom demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from postroom.cli.base import (
    EX_CANTCREAT,
    errors,
    fail,
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
        try:
            code = run_demo(Path(workdir))
        except OSError as exc:
            fail(
                f"cannot run the demo in {workdir} ({exc.strerror or exc}); give --dir a "
                "folder you can write to",
                EX_CANTCREAT,
            )
        sys.exit(code)
