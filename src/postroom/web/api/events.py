"""``/events``: the event log, newest first, filtered by type, email, copy, recipient, user,
inbound message and time, a page at a time."""

from __future__ import annotations

from pydantic import Field

from postroom.access.tokens import Scope
from postroom.errors import NotFound
from postroom.outcomes import EventType
from postroom.store import api as store
from postroom.web.api.common import USER_ID, EventOut, Pages, TimeWindow, page_body, start_of
from postroom.web.api.routing import Answer, Call, Endpoint


class EventQuery(TimeWindow):
    type: EventType | None = Field(None, description="Only events of this type.")
    email: int | None = Field(None, ge=0, description="Only this email's events.")
    delivery: int | None = Field(None, ge=0, description="Only this copy's events.")
    recipient: str | None = Field(None, description="Only events of copies to this address.")
    user: int | None = Field(None, ge=0, lt=1 << 48, description=USER_ID)
    inbound: int | None = Field(None, ge=0, description="Only this inbound message's events.")


class EventPage(Pages):
    items: list[EventOut]


def list_events(call: Call) -> Answer:
    """Events, newest first (by time, then id), of every condition given at once. Each page
    is one index range, however deep: follow ``next`` (or pass ``next_cursor``) to go on."""
    query: EventQuery = call.query
    where = store.EventFilter(
        type=str(query.type) if query.type else None,
        email_id=query.email,
        delivery_id=query.delivery,
        recipient=query.recipient,
        user_id=query.user,
        inbound_id=query.inbound,
        since=query.since,
        until=query.until,
    )
    with call.room.database.transaction() as tx:
        page = store.event_page(
            tx, where, start=start_of(call, "events", timed=True), limit=query.limit
        )
    items = [EventOut.model_validate(e) for e in page.items]
    return Answer(EventPage(**page_body(call, "events", items, page.next)))


def get_event(call: Call) -> Answer:
    """One event."""
    event_id = call.id_param("event_id")
    with call.room.database.transaction() as tx:
        event = store.get_event(tx, event_id)
    if event is None:
        raise NotFound(f"there is no event #{event_id}")
    return Answer(EventOut.model_validate(event))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/events",
        "listEvents",
        "List events",
        list_events,
        Scope.READ,
        "events",
        query=EventQuery,
        response=EventPage,
        problems=("invalid-field",),
    ),
    Endpoint(
        "GET",
        "/events/{event_id:int}",
        "getEvent",
        "Read one event",
        get_event,
        Scope.READ,
        "events",
        response=EventOut,
        problems=("not-found",),
    ),
)
