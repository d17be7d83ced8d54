"""The event sink's local spool: batches of hits that could not be written because the
database was down, one file per batch, replayed in order when it is back.

A file is written under a temporary name, flushed to disk (``fsync``) and then renamed, so a
file with its final name is always whole. Its name is unique across hosts and processes; the
replay records the name in ``tracking_spool`` in the same transaction as the batch's events,
so a batch is replayed exactly once, even when the process dies between the commit and
removing the file (the next replay finds the name and only removes the file).
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

    def append(self, lines: Iterable[str]) -> str:
        """Write one batch (hit lines, each ending in a newline); returns its name."""
        self._ensure()
        self._seq += 1
        name = f"{time.time_ns():020d}-{self._host}-{os.getpid()}-{self._seq:06d}{SUFFIX}"
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
