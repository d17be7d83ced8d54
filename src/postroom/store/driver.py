"""The database driver alone (``sqlite3`` or ``psycopg``), for the statements every received
message runs, with no SQLAlchemy in between.

Two reasons, both measured: SQLAlchemy's Core execution costs about 100 microseconds a
statement, several times what SQLite itself needs; and importing SQLAlchemy costs a process
about 0.6 s of CPU, which ``postroom inbound`` (a new process per message from an MTA pipe)
cannot afford. :class:`Driver` runs SQL written with ``:name`` parameters on a DB-API
connection, either one opened here (:func:`connect`) or the one beneath a SQLAlchemy
connection (``store.repos``), converting values the way the column types do (UTC datetimes
as SQLAlchemy stores them on SQLite, JSON text, mail text) and mapping driver errors onto
postroom's exception tree.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from postroom.errors import ConfigError, StoreError, StoreUnavailable
from postroom.store.text import storable_json, storable_text

_NAMED = re.compile(r":(\w+)")


def sqlite_pragmas(connection: Any) -> None:
    """Settings of every SQLite connection postroom opens (through SQLAlchemy or not)."""
    cursor = connection.cursor()
    # WAL lets readers work beside one writer; busy_timeout waits for the lock instead of
    # failing at once when two processes write (the MTA may run many `postroom inbound`).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Checkpoint every ~40 MB of WAL instead of 4 MB: every received message is a commit of a
    # few pages, and frequent checkpoints (each with an fsync) cost ~10 % of the inbound path.
    # journal_size_limit truncates the WAL file again after a checkpoint.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA journal_size_limit=67108864")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@lru_cache(maxsize=64)
def sqlite_timestamp(value: datetime) -> str:
    """SQLAlchemy's SQLite storage form, "YYYY-MM-DD HH:MM:SS.ffffff" in UTC (one message
    reuses the same instant for several columns, hence the small cache)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def read_time(value: Any) -> datetime:
    """A stored datetime as an aware UTC datetime (SQLite hands back text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


class Driver:
    """SQL on one DB-API connection inside its current transaction."""

    __slots__ = ("dbapi", "dialect", "raw")

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect
        self.dbapi = _dbapi(dialect)

    def _sql(self, sql: str) -> str:
        # sqlite3 takes :name as written; psycopg takes %(name)s (DB-API "pyformat").
        return sql if self.dialect == "sqlite" else _pyformat(sql)

    def params(
        self,
        values: Mapping[str, Any],
        *,
        times: tuple[str, ...] = (),
        json_: tuple[str, ...] = (),
        texts: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """``values`` converted for the driver: datetimes, JSON and mail text columns."""
        out = dict(values)
        for name in texts:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = storable_text(value)
        for name in json_:
            value = out.get(name)
            if value is not None:
                out[name] = storable_json(value)
        for name in times:
            value = out.get(name)
            if value is None:
                continue
            if self.dialect == "sqlite":
                out[name] = sqlite_timestamp(value)
            elif value.tzinfo is None:
                raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return out

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run one statement; returns its cursor's rows when it has any (a list), else the
        number of rows it changed."""
        cursor = self.raw.cursor()
        try:
            cursor.execute(self._sql(sql), dict(params or {}))
            if cursor.description:
                return cursor.fetchall()
            return cursor.rowcount
        except (self.dbapi.OperationalError, self.dbapi.InterfaceError) as exc:
            raise StoreUnavailable(f"database unavailable: {_first_line(exc)}") from exc
        except self.dbapi.Error as exc:
            raise StoreError(f"database error: {_first_line(exc)}") from exc
        finally:
            cursor.close()

    def first(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first row of a query (or of ``RETURNING``), or None."""
        rows = self.execute(sql, params)
        return rows[0] if isinstance(rows, list) and rows else None

    def json_value(self, value: Any) -> Any:
        """A JSON column's value as Python data (SQLite hands back the text)."""
        return json.loads(value) if isinstance(value, str | bytes) else value

    def binary(self, value: Any) -> bytes:
        return bytes(value) if value is not None else b""


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def _dbapi(dialect: str) -> Any:
    if dialect == "sqlite":
        import sqlite3

        return sqlite3
    import psycopg

    return psycopg


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def dialect_of(url: str) -> str:
    scheme = url.partition(":")[0].partition("+")[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise ConfigError(
        "database.url",
        f"backend {scheme!r} is not supported",
        "use sqlite:///... or postgresql+psycopg://...",
    )


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///path`` URL (":memory:" for an in-memory database)."""
    rest = url.partition(":///")[2] or ":memory:"
    return rest.partition("?")[0] or ":memory:"


class Connector:
    """Units of work on one connection, opened on first use and kept until :meth:`close`:
    what ``postroom inbound`` needs for its one message (one thread only)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._raw: Any = None
        self._dialect = dialect_of(url)

    @contextmanager
    def unit(self) -> Iterator[Driver]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        if self._raw is None:
            self._raw = open_connection(self.url)
        driver = Driver(self._raw, self._dialect)
        try:
            yield driver
            try:
                self._raw.commit()
            except driver.dbapi.Error as exc:
                raise StoreUnavailable(f"database unavailable: {_first_line(exc)}") from exc
        except BaseException:
            # The connection may be gone already; the error that got us here is the one to
            # tell, and the next unit starts on a fresh connection.
            with contextlib.suppress(Exception):
                self._raw.rollback()
            self.close()
            raise

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            with contextlib.suppress(Exception):
                raw.close()


def open_connection(url: str) -> Any:
    """A DB-API connection for ``url``, set up as SQLAlchemy's engine sets up its own."""
    dialect = dialect_of(url)
    if dialect == "sqlite":
        import sqlite3

        from postroom.store.db_files import prepare_sqlite_file

        path = sqlite_path(url)
        if path != ":memory:":
            prepare_sqlite_file(path)
        try:
            raw: Any = sqlite3.connect(path, timeout=10)
            sqlite_pragmas(raw)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database unavailable: {_first_line(exc)}") from exc
    else:
        import psycopg

        # psycopg reads the same URI without SQLAlchemy's "+driver" part.
        conninfo = "postgresql://" + url.partition("://")[2]
        try:
            raw = psycopg.connect(conninfo, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise ConfigError("database.url", f"cannot connect ({exc})", "check it") from exc
    return raw
