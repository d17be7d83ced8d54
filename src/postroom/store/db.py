"""Engine set-up and the mapping of driver errors onto postroom's exception tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from postroom.errors import ConfigError, StoreError, StoreUnavailable
from postroom.store.db_files import prepare_sqlite_file
from postroom.store.driver import Driver, sqlite_pragmas


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    sqlite_pragmas(dbapi_connection)


@dataclass(frozen=True)
class Database:
    """An engine plus its session factory. Use :meth:`transaction` for a unit of work."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success, rolled back on error; driver errors translated."""
        with translate_errors(), self.sessions.begin() as session:
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A Core connection in a transaction: the light path for statements run per message."""
        with translate_errors(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def unit(self) -> Iterator[Driver]:
        """:meth:`connect`, as the database driver's connection (see ``store.inbound``)."""
        with self.connect() as connection:
            yield Driver(connection.connection.driver_connection, self.dialect)

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors into :class:`StoreUnavailable` (retry later) or :class:`StoreError`."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {_first_line(exc)}") from exc
    except DatabaseError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"database connection lost: {_first_line(exc)}") from exc
        if type(exc) is DatabaseError:
            # Not a constraint or data error of one statement: the database itself cannot be
            # read ("file is not a database", a corrupt file).
            raise StoreError(
                f"the database cannot be read ({_first_line(exc)}); check database.url "
                "names a postroom database"
            ) from exc
        raise
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"database connection lost: {_first_line(exc)}") from exc
        raise


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def open_database(url: str, *, echo: bool = False, create: bool = True) -> Database:
    """Create the engine for ``url`` (``sqlite:///file.db`` or ``postgresql+psycopg://...``).

    ``create``: a SQLite file that does not exist yet is created (else a clear error)."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(
            "database.url", f"{url!r} is not a database URL", "use sqlite:///postroom.db"
        ) from None
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            prepare_sqlite_file(parsed.database, create=create)
        kwargs["connect_args"] = {"timeout": 10}
    elif parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() in ("", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    else:
        raise ConfigError(
            "database.url",
            f"backend {parsed.get_backend_name()!r} is not supported",
            "use sqlite:///... or postgresql+psycopg://...",
        )
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:  # a missing driver, bad options: say so at start
        raise ConfigError("database.url", f"cannot create an engine ({exc})", "check it") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


__all__ = ["Database", "StoreError", "StoreUnavailable", "open_database", "translate_errors"]
