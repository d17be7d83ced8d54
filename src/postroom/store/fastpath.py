"""Driver-level SQL for the statements every received message runs.

SQLAlchemy's Core execution costs about 100 microseconds a statement here, several times what
SQLite itself needs, and the inbound path runs three per message (claim, event, bounce score).
These statements are generated once from the table metadata (so they follow the schema) as
portable SQL that SQLite (3.35+) and PostgreSQL both accept, and run with ``exec_driver_sql``;
values are converted the way the column types would (UTC datetimes, JSON). Everything else
goes through SQLAlchemy as usual.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.engine import Connection

from postroom.errors import StoreError, StoreUnavailable
from postroom.store.models import MailJSON, MailString, MailText, UTCDateTime
from postroom.store.text import storable_json, storable_text

_NAMED = re.compile(r":(\w+)")
_CACHE: dict[tuple[str, str], str] = {}


def _driver_sql(conn: Connection, name: str, sql: str) -> str:
    """``sql`` written with ``:name`` parameters, in the driver's own parameter style."""
    key = (conn.dialect.name, name)
    text = _CACHE.get(key)
    if text is None:
        # sqlite3 takes :name as written; psycopg takes %(name)s (DB-API "pyformat").
        text = sql if conn.dialect.name == "sqlite" else _NAMED.sub(r"%(\1)s", sql)
        _CACHE[key] = text
    return text


@dataclass(frozen=True, slots=True)
class _Kinds:
    """Which parameters of a table's statements need converting (computed once per table)."""

    json: tuple[str, ...]
    times: tuple[str, ...]
    texts: tuple[str, ...]


_KINDS: dict[str, _Kinds] = {}


def _kinds(table: Table) -> _Kinds:
    kinds = _KINDS.get(table.name)
    if kinds is None:
        kinds = _KINDS[table.name] = _Kinds(
            json=tuple(c.name for c in table.columns if isinstance(c.type, JSON | MailJSON)),
            times=tuple(c.name for c in table.columns if isinstance(c.type, UTCDateTime)),
            texts=tuple(c.name for c in table.columns if isinstance(c.type, MailText | MailString)),
        )
    return kinds


@lru_cache(maxsize=64)
def _sqlite_timestamp(value: datetime) -> str:
    """SQLAlchemy's SQLite storage form, "YYYY-MM-DD HH:MM:SS.ffffff" in UTC (one message
    reuses the same instant for several columns, hence the small cache)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _convert(
    conn: Connection, table: Table, values: Mapping[str, Any], extra_times: tuple[str, ...]
) -> dict[str, Any]:
    out = dict(values)
    kinds = _kinds(table)
    for name in kinds.texts:
        value = out.get(name)
        if isinstance(value, str):
            out[name] = storable_text(value)
    for name in kinds.json:
        value = out.get(name)
        if value is not None:
            out[name] = storable_json(value)
    if conn.dialect.name == "sqlite":
        for name in kinds.times + extra_times:
            value = out.get(name)
            if value is not None:
                out[name] = _sqlite_timestamp(value)
    else:
        for name in kinds.times + extra_times:
            value = out.get(name)
            if value is not None and value.tzinfo is None:
                raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
    return out


def execute(
    conn: Connection,
    name: str,
    sql: str,
    table: Table,
    values: Mapping[str, Any],
    *,
    extra_times: tuple[str, ...] = (),
) -> Any:
    """Run the statement ``name`` (SQL with ``:param`` names) with converted ``values``, on
    the driver's cursor inside ``conn``'s transaction; returns the first row or None.
    ``extra_times`` names datetime parameters that are not columns (comparison bounds)."""
    text = _driver_sql(conn, name, sql)
    params = _convert(conn, table, values, extra_times)
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(text, params)
        return cursor.fetchone() if cursor.description else None
    except (dbapi.OperationalError, dbapi.InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
    except dbapi.Error as exc:
        raise StoreError(f"{name} failed: {exc}") from exc
    finally:
        cursor.close()


def insert_sql(
    table: Table,
    *,
    conflict: str | None = None,
    returning: str | None = None,
    update: str | None = None,
) -> str:
    """``INSERT`` of every column but ``id``, with an optional ON CONFLICT clause."""
    names = [c.name for c in table.columns if c.name != "id"]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"VALUES ({', '.join(':' + n for n in names)})"
    )
    if conflict is not None:
        sql += f" ON CONFLICT ({conflict}) " + (
            f"DO UPDATE SET {update}" if update else "DO NOTHING"
        )
    if returning is not None:
        sql += f" RETURNING {returning}"
    return sql
