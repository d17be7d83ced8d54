"""The inbound path's statements (store.inbound, on the database driver alone) name exactly the
columns of the tables the models and migrations define, so they follow the schema."""

from __future__ import annotations

from postroom.store import inbound
from postroom.store.models import EventRow, InboundMessageRow, MessageIdRow, SessionRow


def columns(model: type) -> tuple[str, ...]:
    return tuple(c.name for c in model.__table__.columns)  # type: ignore[attr-defined]


def test_the_column_lists_are_the_tables() -> None:
    assert tuple(c for c in columns(InboundMessageRow) if c != "id") == inbound.INBOUND_COLUMNS
    assert tuple(c for c in columns(EventRow) if c != "id") == inbound.EVENT_COLUMNS
    assert set(inbound.SESSION_COLUMNS) == set(columns(SessionRow))
    assert columns(MessageIdRow) == inbound.MESSAGE_ID_COLUMNS
