"""The event sink's local spool: batches of hits that could not be written because the
database was down, one file per batch, replayed in order when it is back.

A file is written under a temporary name, flushed to disk (``fsync``) and then renamed, so a
file with its final name is always whole. Its name is unique across hosts and processes and
is given to the batch before its first attempt to reach the database; every write records
the name in ``tracking_spool`` in the same transaction as the batch's events, so a batch is
written exactly once: when the process dies between a replay's commit and removing the
file, and when a commit succeeded but its answer was lost with the connection (the batch
was spooled all the same), the replay finds the name and only removes the file.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path

SUFFIX = ".hits"


class Spool:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._host = socket.gethostname().replace("-", "_")[:40]
        self._seq = 0

    def _ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def new_name(self) -> str:
        """A batch name unique across hosts and processes, in order of time."""
        self._seq += 1
        return f"{time.time_ns():020d}-{self._host}-{os.getpid()}-{self._seq:06d}{SUFFIX}"

    def append(self, lines: Iterable[str], *, name: str | None = None) -> str:
        """Write one batch (hit lines, each ending in a newline) under ``name`` (default: a
        new one); returns its name."""
        self._ensure()
        name = name or self.new_name()
        temporary = self.directory / f".{name}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / name)
        return name

    def names(self) -> list[str]:
        """Batches waiting, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.name.endswith(SUFFIX))

    def read(self, name: str) -> list[str]:
        with open(self.directory / name, encoding="utf-8") as handle:
            return handle.readlines()

    def remove(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)
