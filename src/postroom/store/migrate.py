"""Schema migrations through Alembic, driven from code (``postroom db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from postroom.errors import StoreError
from postroom.store.db import Database, translate_errors

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revision(database: Database) -> str | None:
    with translate_errors(), database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (all migrations by default)."""
    config = _config()
    with translate_errors(), database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(database: Database, revision: str) -> None:
    config = _config()
    with translate_errors(), database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def check_schema(database: Database) -> None:
    """Fail with the fix when the database is not at the newest revision."""
    current = current_revision(database)
    head = head_revision()
    if current != head:
        raise StoreError(
            f"database schema is at revision {current or 'none'}, postroom needs {head}: "
            "run `postroom db upgrade`"
        )
