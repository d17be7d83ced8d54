"""The ``postroom`` command line. Maps postroom's errors onto sysexits(3) exit codes.

Each module registers its commands on :data:`postroom.cli.base.main`, the click group; this
package's ``main`` is that group with every command registered (imported on first use).
:func:`run` is the program: it hands ``postroom inbound`` (an MTA starts one per message) to
the lean :mod:`postroom.cli.pipe` before the command-line framework is imported, and every
other command to the group. Whatever escapes a command is one line on standard error, never
a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

EX_SOFTWARE = 70
_GLOBAL_OPTIONS = ("--config", "--app")


def _split_globals(argv: Sequence[str]) -> tuple[dict[str, str], list[str]] | None:
    """The group's ``--config``/``--app`` values and the rest, or None when the command line
    holds anything else before the subcommand (that is the group's to parse)."""
    values: dict[str, str] = {}
    items = list(argv)
    while items and items[0].startswith("-"):
        name, eq, value = items.pop(0).partition("=")
        if name not in _GLOBAL_OPTIONS:
            return None
        if not eq:
            if not items:
                return None
            value = items.pop(0)
        values[name] = value
    return values, items


def run(argv: Sequence[str] | None = None) -> None:
    """The ``postroom`` program."""
    args = list(sys.argv[1:] if argv is None else argv)
    split = _split_globals(args)
    if split is not None:
        values, rest = split
        if rest[:1] == ["inbound"] and not {"-h", "--help"} & set(rest[1:]):
            from postroom.cli import pipe

            config = values.get("--config") or None
            if config is None:
                import os

                config = os.environ.get("POSTROOM_CONFIG") or None
            sys.exit(pipe.main(rest[1:], config=config, app=values.get("--app")))
    try:
        from postroom.cli.commands import main as group

        group(args=args, prog_name="postroom")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("postroom: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # the last resort: a bug, said in one line
        print(
            f"postroom: unexpected error ({type(exc).__name__}: {exc}); this is a bug in "
            "postroom or in the application, please report it with the command you ran",
            file=sys.stderr,
        )
        sys.exit(EX_SOFTWARE)


def __getattr__(name: str) -> Any:
    if name == "main":
        from postroom.cli.commands import main

        return main
    raise AttributeError(f"module 'postroom.cli' has no attribute {name!r}")
