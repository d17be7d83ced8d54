"""First human open, unique opens and unique human clicks, per copy and per email: the SQL
sums (``room.engagement``, the API's email, the dashboard) and the same rule in Python agree,
on SQLite and PostgreSQL, with machines' hits, a Gmail proxy's (a person's) and anonymous
events (no copy named) mixed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table

from postroom.app import Postroom
from postroom.store.models import EventRow
from postroom.tracking.engagement import EmailEngagement, copy_engagement, email_engagement
from support.tracking import seed_copies

EVENTS = cast(Table, EventRow.__table__)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def hit(email_id: int, copy: int | None, kind: str, machine: bool, minutes: int) -> dict[str, Any]:
    return {
        "type": kind,
        "occurred_at": T0 + timedelta(minutes=minutes),
        "email_id": email_id,
        "delivery_id": copy,
        "machine": machine,
        "data": {"label": "scanner" if machine else "human"},
    }


def test_derived_counts_agree_in_sql_and_python(room: Postroom) -> None:
    email_id, (ada, bob, cy, dee) = seed_copies(room.database, 4)
    other_email, (eve,) = seed_copies(room.database, 1)
    rows = [
        hit(email_id, ada, "opened", True, 0),  # Apple's prefetch at delivery
        hit(email_id, ada, "opened", False, 30),  # Ada reads it
        hit(email_id, ada, "opened", False, 45),  # and again
        hit(email_id, ada, "clicked", False, 46),
        hit(email_id, bob, "opened", True, 0),  # a scanner opens and clicks everything
        hit(email_id, bob, "clicked", True, 0),
        hit(email_id, cy, "opened", False, 10),  # through Gmail's proxy: a person
        hit(email_id, None, "opened", False, 5),  # anonymous mode: no copy
        hit(email_id, None, "clicked", False, 6),
        hit(other_email, eve, "opened", False, 1),  # another email's
        {**hit(email_id, dee, "replied", False, 50), "machine": None},
    ]
    with room.database.connect() as conn:
        conn.execute(EVENTS.insert(), rows)
    summed = room.engagement(email_id)
    mine = [r for r in rows if r["email_id"] == email_id]
    derived = email_engagement(
        (r["type"], r["machine"], r["occurred_at"], r["delivery_id"]) for r in mine
    )
    assert summed == derived
    assert summed == EmailEngagement(
        opens=6,
        human_opens=4,
        clicks=3,
        human_clicks=2,
        unique_opens=3,  # Ada, Bob (a machine's only), Cy
        unique_human_opens=2,  # Ada and Cy
        unique_clicks=2,
        unique_human_clicks=1,  # Ada; Bob's click was the scanner's
        first_human_open_at=T0 + timedelta(minutes=5),  # the anonymous one came first
        anonymous_opens=1,
        anonymous_clicks=1,
    )
    adas = copy_engagement(
        (r["type"], r["machine"], r["occurred_at"]) for r in mine if r["delivery_id"] == ada
    )
    assert (adas.opens, adas.human_opens, adas.clicks, adas.human_clicks) == (3, 2, 1, 1)
    assert adas.first_open_at == T0 and adas.first_human_open_at == T0 + timedelta(minutes=30)
    assert room.engagement(10_000_000) == EmailEngagement()  # no such email: nothing


def test_an_email_nobody_opened(room: Postroom) -> None:
    email_id, _ = seed_copies(room.database, 2)
    assert room.engagement(email_id) == EmailEngagement()
