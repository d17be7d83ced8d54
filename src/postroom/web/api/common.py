"""What several routes share: the page parameters, the event's JSON, cursors, and id checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from postroom.errors import InvalidRequest
from postroom.store.keyset import Key, decode_cursor, encode_cursor
from postroom.web.api.routing import Call

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
USER_ID = "An application's user id (0 to 2^48 - 1)."


class Model(BaseModel):
    """Inputs refuse fields they do not know (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageQuery(Model):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    cursor: str | None = Field(None, description="The next_cursor of the previous page (opaque).")


class TimeWindow(PageQuery):
    since: AwareDatetime | None = Field(
        None, description="Only items at or after this time (RFC 3339, with its offset)."
    )
    until: AwareDatetime | None = Field(None, description="Only items before this time.")


def start_of(call: Call, listing: str, *, timed: bool) -> Key | None:
    """The key the requested page starts after (None: the first page)."""
    cursor = call.query.cursor
    if cursor is None:
        return None
    try:
        return decode_cursor(listing, cursor, timed=timed)
    except ValueError as exc:
        raise InvalidRequest(
            f"cursor: {exc}; pass the next_cursor of the previous page unchanged, or none "
            "for the first page",
            field="cursor",
            errors=({"field": "cursor", "in": "query", "detail": str(exc)},),
        ) from None


def cursor_of(listing: str, key: Key | None) -> str | None:
    return encode_cursor(listing, key) if key is not None else None


def page_body(call: Call, listing: str, items: list[Any], key: Key | None) -> dict[str, Any]:
    cursor = cursor_of(listing, key)
    return {"items": items, "next_cursor": cursor, "next": call.next_link(cursor)}


class EventOut(Output):
    """One event (DESIGN.md's taxonomy). ``machine`` tells an open or click by a program
    (a mail server's prefetch, a link scanner) from a person's; null when not judged."""

    id: int
    type: str = Field(
        description="queued, sent, deferred, failed, bounced, opened, clicked, "
        "unsubscribed, complained, replied, auto_replied, inbound_rejected or "
        "webhook_disabled"
    )
    occurred_at: datetime
    email_id: int | None
    delivery_id: int | None
    recipient: str | None
    user_id: int | None
    module: int | None
    inbound_id: int | None
    machine: bool | None
    data: dict[str, Any]


class Pages(Output):
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )
    next: str | None = Field(description="The next page's URL (path and query).")
