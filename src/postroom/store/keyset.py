"""Keyset pagination: a page ends with a cursor naming its last row, and the next page starts
right after it (``WHERE (time, id) < (:time, :id)``), so every page costs one index range
scan however deep it is, and rows written meanwhile neither shift nor repeat the pages.

A cursor is opaque to clients: base64url (RFC 4648 section 5) of ``<list>.<micros>.<id>``
(or ``<list>.<id>`` for lists ordered by id alone). The list name inside makes a cursor of
one list refused by another with a clear message instead of a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEXT = re.compile(r"^([a-z_]{1,20})\.(?:(-?\d{1,19})\.)?(\d{1,19})$")


@dataclass(frozen=True, slots=True)
class Key:
    """Where a page ended: the last row's time (for time-ordered lists) and id."""

    id: int
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, newest first, and the cursor of the next page (None: the end)."""

    items: tuple[T, ...]
    next: Key | None


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def encode_cursor(listing: str, key: Key) -> str:
    text = f"{listing}.{key.id}" if key.time is None else f"{listing}.{_micros(key.time)}.{key.id}"
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(listing: str, cursor: str, *, timed: bool) -> Key:
    """The key in ``cursor``; ValueError says why it is not a cursor of ``listing``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("the cursor is not one this API wrote") from None
    match = _TEXT.match(raw)
    if match is None:
        raise ValueError("the cursor is not one this API wrote")
    name, micros, ident = match.groups()
    if name != listing:
        raise ValueError(f"the cursor belongs to the {name} list, not to {listing}")
    if timed != (micros is not None):
        raise ValueError("the cursor is not one this API wrote")
    try:
        time = _EPOCH + timedelta(microseconds=int(micros)) if micros is not None else None
    except OverflowError:
        raise ValueError("the cursor is not one this API wrote") from None
    return Key(int(ident), time)


def after(key: Key, id_column: Any, time_column: Any = None) -> ColumnElement[bool]:
    """Rows that come after ``key`` in newest-first order. Written as ``time <= t AND (time <
    t OR id < i)``: the first term is a plain range bound both SQLite and PostgreSQL use on
    the ``(time, id)`` index; the second drops the rows of the same instant already shown."""
    if key.time is None or time_column is None:
        return id_column < key.id  # type: ignore[no-any-return]
    return and_(time_column <= key.time, or_(time_column < key.time, id_column < key.id))


def page_of(rows: Sequence[T], limit: int, key_of: Any) -> Page[T]:
    """A page from ``limit + 1`` fetched rows: the extra one only says there is more."""
    items = tuple(rows[:limit])
    more = len(rows) > limit
    return Page(items, key_of(items[-1]) if more and items else None)
