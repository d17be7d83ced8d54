"""What the opens and clicks of an email add up to, derived from its events (nothing stored):
per copy, and per email.

- an open or click by a person is one whose event is not a machine's (``machine`` false:
  ``human`` and ``gmail_proxy``, which fetches once when a person displays the mail); Apple's
  prefetch, other proxies' prefetches and scanners are machines' (docs/tracking.md);
- ``unique_opens``: copies opened at least once, by anyone; ``unique_human_opens``: copies
  opened at least once by a person; ``unique_clicks`` and ``unique_human_clicks`` the same
  for clicks; ``first_human_open_at``: the first time a person opened the copy (the email:
  the first of any copy);
- in anonymous mode (``tracking.anonymous``) events carry no copy: they count in ``opens`` and
  ``clicks`` (and ``anonymous_opens`` / ``anonymous_clicks``), never in the unique counts,
  which need to know whose copy it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

OPENED = "opened"
CLICKED = "clicked"


@dataclass(frozen=True, slots=True)
class CopyEngagement:
    """One copy's opens and clicks."""

    opens: int = 0
    human_opens: int = 0
    clicks: int = 0
    human_clicks: int = 0
    first_open_at: datetime | None = None
    first_human_open_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EmailEngagement:
    """One email's opens and clicks over all its copies."""

    opens: int = 0
    human_opens: int = 0
    clicks: int = 0
    human_clicks: int = 0
    unique_opens: int = 0
    unique_human_opens: int = 0
    unique_clicks: int = 0
    unique_human_clicks: int = 0
    first_human_open_at: datetime | None = None
    anonymous_opens: int = 0
    anonymous_clicks: int = 0


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def copy_engagement(events: Iterable[tuple[str, bool | None, datetime]]) -> CopyEngagement:
    """From one copy's events as ``(type, machine, occurred_at)``."""
    opens = human_opens = clicks = human_clicks = 0
    first_open: datetime | None = None
    first_human: datetime | None = None
    for kind, machine, at in events:
        person = machine is False
        if kind == OPENED:
            opens += 1
            first_open = _earliest(first_open, at)
            if person:
                human_opens += 1
                first_human = _earliest(first_human, at)
        elif kind == CLICKED:
            clicks += 1
            human_clicks += person
    return CopyEngagement(opens, human_opens, clicks, human_clicks, first_open, first_human)


def email_engagement(
    events: Iterable[tuple[str, bool | None, datetime, int | None]],
) -> EmailEngagement:
    """From an email's open and click events as ``(type, machine, occurred_at, delivery_id)``
    (the store's query sums them in SQL; this is the same rule, for a few events at hand)."""
    counts = {"opens": 0, "human_opens": 0, "clicks": 0, "human_clicks": 0}
    anonymous = {OPENED: 0, CLICKED: 0}
    opened: set[int] = set()
    opened_by_person: set[int] = set()
    clicked: set[int] = set()
    clicked_by_person: set[int] = set()
    first_human: datetime | None = None
    for kind, machine, at, copy in events:
        if kind not in (OPENED, CLICKED):
            continue
        person = machine is False
        plural = "opens" if kind == OPENED else "clicks"
        counts[plural] += 1
        counts[f"human_{plural}"] += person
        if copy is None:
            anonymous[kind] += 1
        elif kind == OPENED:
            opened.add(copy)
            if person:
                opened_by_person.add(copy)
        else:
            clicked.add(copy)
            if person:
                clicked_by_person.add(copy)
        if kind == OPENED and person:
            first_human = _earliest(first_human, at)
    return EmailEngagement(
        **counts,
        unique_opens=len(opened),
        unique_human_opens=len(opened_by_person),
        unique_clicks=len(clicked),
        unique_human_clicks=len(clicked_by_person),
        first_human_open_at=first_human,
        anonymous_opens=anonymous[OPENED],
        anonymous_clicks=anonymous[CLICKED],
    )
