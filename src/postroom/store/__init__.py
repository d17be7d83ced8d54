"""Persistence: SQLAlchemy 2 models, Alembic migrations and repositories (SQLite and PostgreSQL).

``store.inbound`` and ``store.driver`` (the inbound path on the database driver alone) need no
SQLAlchemy; :class:`Database` and :func:`open_database` are imported on first use, so that
importing those does not load it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postroom.store.db import Database, open_database

__all__ = ["Database", "open_database"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("postroom.store.db"), name)
    raise AttributeError(f"module 'postroom.store' has no attribute {name!r}")
