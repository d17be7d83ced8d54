"""Persistence: SQLAlchemy 2 models, Alembic migrations and repositories (SQLite and PostgreSQL)."""

from postroom.store.db import Database, open_database

__all__ = ["Database", "open_database"]
