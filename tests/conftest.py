"""Shared fixtures: databases on both backends, a configured Postroom, the real mail servers."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from postroom.app import Postroom
from postroom.inbound.types import Reply
from postroom.mailer import MemoryTransport
from postroom.settings import ErrorMailSettings, Settings
from postroom.store import Database, open_database
from postroom.store.migrate import upgrade
from support.postgres import fresh_database

pytest_plugins = ["support.mailservers", "support.mailboxes"]

# In CI the property tests run the same examples every time, so a red run is reproducible and
# never a coin toss; on a developer's machine they explore new inputs on each run.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL on each backend (store tests run on SQLite and PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'postroom.db'}"
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'postroom.db'}"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url)
    upgrade(db)
    yield db
    db.dispose()


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def make_settings(database_url: str, **changes: object) -> Settings:
    settings = Settings(
        database_url=database_url,
        reply_domain="reply.example.test",
        address_keys={1: secrets.token_bytes(32)},
        signing_key_id=1,
        error_mail=ErrorMailSettings(sender="postroom@reply.example.test", transport="none"),
    )
    return settings.clone(**changes) if changes else settings


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def received() -> list[Reply]:
    """What the ``forum`` handler of the ``room`` fixture was called with."""
    return []


@pytest.fixture
def room(
    database: Database,
    database_url: str,
    clock: Clock,
    transport: MemoryTransport,
    received: list[Reply],
) -> Postroom:
    """A Postroom on each backend whose ``forum`` handler records into ``received``."""
    postroom = Postroom(
        make_settings(database_url), transport=transport, database=database, clock=clock
    )
    postroom.handler("forum")(received.append)
    return postroom
