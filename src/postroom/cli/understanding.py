"""Mail understanding commands: ``classify`` and ``extract`` (JSON lines, DESIGN.md contracts)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from postroom.cli.base import (
    EX_DATAERR,
    EX_OK,
    main,
)

# --- understanding -----------------------------------------------------------------------------


def _json_lines(paths: tuple[str, ...], understand: Callable[[bytes], Any]) -> NoReturn:
    """One JSON object per path, in order; an unreadable path gets an ``error`` line and the
    command exits 65 at the end (the other paths are still answered). MIME nested past
    postroom's limit is read as far as the limit, as the inbound pipeline does."""
    from postroom.inbound.parse import readable_mime

    failed = False
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            click.echo(json.dumps({"path": path, "error": str(exc)}))
            failed = True
            continue
        try:
            result = understand(readable_mime(data)[0]).to_json()
        except RecursionError:
            click.echo(json.dumps({"path": path, "error": "nested too deeply to read"}))
            failed = True
            continue
        click.echo(json.dumps({"path": path, **result}, ensure_ascii=False))
    sys.exit(EX_DATAERR if failed else EX_OK)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
def classify(paths: tuple[str, ...]) -> None:
    """Classify messages (bounce, auto_reply, complaint, delivered, read_receipt, normal): one
    JSON line each."""
    from postroom.understand.bounces import classify_message

    _json_lines(paths, classify_message)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
def extract(paths: tuple[str, ...]) -> None:
    """Extract the new text of replies (.eml, or a bare text or HTML body): one JSON line each."""
    from postroom.understand.replies import extract_bytes

    _json_lines(paths, extract_bytes)
