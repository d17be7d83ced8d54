"""The SQLite database file: its folder must exist, and it is created private."""

from __future__ import annotations

import os
from pathlib import Path

from postroom.errors import ConfigError


def prepare_sqlite_file(path: str, *, create: bool = True) -> None:
    """Check the folder of a SQLite database exists (never create one: a typo would silently
    start an empty database) and create the file private (mode 0600: it holds raw mail;
    SQLite gives its -wal and -shm files the same mode)."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(
            "database.url",
            f"the folder {target.parent} of the SQLite database does not exist",
            "create it, or correct the path",
        )
    if target.exists():
        return
    if not create:
        raise ConfigError(
            "database.url",
            f"there is no database at {target}",
            "run `postroom db upgrade` to create it, or correct the path",
        )
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(
            "database.url", f"cannot create {target} ({exc.strerror})", "check the folder"
        ) from None
