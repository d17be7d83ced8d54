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
    help="Where the demo keeps its config, database and forum (recreated at each start).",
)
@click.option(
    "--headless",
    is_flag=True,
    help="Play the whole loop by script, print a table of the steps and exit (0: all done).",
)
@click.option(
    "--port", default=8025, show_default=True, help="The web app's port (another if taken)."
)
@click.option(
    "--catcher-port",
    default=2525,
    show_default=True,
    help="The mail catcher's SMTP port (another if taken).",
)
def demo(workdir: str, headless: bool, port: int, catcher_port: int) -> None:
    """Serve the dashboard, the worker and the mail catcher with an example forum on SQLite,
    until Ctrl-C; or, with --headless, play the loop by script."""
    with errors():
        try:
            if headless:
                from postroom.demo.headless import run_headless

                code = run_headless(Path(workdir))
            else:
                from postroom.demo.live import run_live

                code = run_live(Path(workdir), web_port=port, catcher_port=catcher_port)
        except OSError as exc:
            fail(
                f"cannot run the demo in {workdir} ({exc.strerror or exc}); give --dir a "
                "folder you can write to",
                EX_CANTCREAT,
            )
        sys.exit(code)
