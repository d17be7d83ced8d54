"""The statements of the inbound path, on the database driver alone (:mod:`.driver`).

Every received message runs a few of these (claim, event, bounce score, session use), in the
listener, the library and ``postroom inbound`` alike; ``store.repos`` offers the same
functions over a SQLAlchemy connection. The column lists are the tables' (``store.models``,
checked by a test) as written here, so this module needs no SQLAlchemy; the SQL is portable
(``ON CONFLICT ... RETURNING``: SQLite 3.35+ and PostgreSQL).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from postroom.store.driver import Driver, read_time

# -- tables (the columns of store.models, in order; "id" is generated) ---------------------

INBOUND_COLUMNS = (
    "dedupe_key",
    "received_at",
    "claimed_at",
    "envelope_sender",
    "envelope_recipient",
    "address",
    "message_id",
    "sender",
    "subject",
    "module",
    "user_id",
    "session_id",
    "kind",
    "status",
    "outcome",
    "error",
    "details",
    "raw",
)
_INBOUND_TEXTS = (
    "envelope_sender",
    "envelope_recipient",
    "address",
    "message_id",
    "sender",
    "subject",
    "error",
)
EVENT_COLUMNS = (
    "type",
    "occurred_at",
    "email_id",
    "delivery_id",
    "recipient",
    "user_id",
    "module",
    "inbound_id",
    "machine",
    "data",
)
SESSION_COLUMNS = (
    "id",
    "key",
    "module",
    "user_id",
    "data",
    "created_at",
    "expires_at",
    "uses_left",
    "use_count",
    "address",
    "delivery_id",
)
MESSAGE_ID_COLUMNS = (
    "message_id",
    "user_id",
    "module",
    "recipient",
    "email_id",
    "delivery_id",
    "role",
    "created_at",
)


def _insert(table: str, columns: tuple[str, ...], tail: str = "") -> str:
    names = ", ".join(columns)
    values = ", ".join(":" + c for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({values}){tail}"


# -- inbound messages ------------------------------------------------------------------------


def dedupe_key(message_id: str | None, raw: bytes, address: str) -> str:
    """The same message (by Message-ID, else by content) to the same address is one delivery."""
    ident = (
        message_id.strip().lower() if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()
    )
    return hashlib.sha256(f"{ident}\0{address.lower()}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of :func:`claim_inbound`."""

    inbound_id: int
    claimed: bool
    state: str  # "new" (inserted now), "processing" (taken over), or the earlier outcome


_CLAIM_SQL = _insert(
    "inbound_messages", INBOUND_COLUMNS, " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
)
_CLAIMED_SQL = (
    "SELECT id, status, outcome, claimed_at FROM inbound_messages WHERE dedupe_key = :key"
)
_TAKE_OVER_SQL = (
    "UPDATE inbound_messages SET claimed_at = :now WHERE id = :id AND claimed_at = :claimed_at"
)


def claim_inbound(
    driver: Driver, *, key: str, now: datetime, lease: timedelta, values: Mapping[str, Any]
) -> Claim:
    """Insert the message under its dedupe key, or find the row already there.

    ``claimed`` is True for a new row, and also when an earlier attempt died while processing
    (its lease ran out), so the MTA's retry is not lost. Two processes racing on PostgreSQL:
    the unique index lets exactly one insert win; the other waits for it, then sees it.
    """
    row: dict[str, Any] = dict.fromkeys(INBOUND_COLUMNS)
    row.update(values)
    if len(row) != len(INBOUND_COLUMNS):
        raise ValueError(f"not columns of inbound_messages: {set(row) - set(INBOUND_COLUMNS)}")
    row["status"] = row["status"] or "processing"
    row.update(details=values.get("details") or {}, dedupe_key=key, claimed_at=now)
    params = driver.params(
        row, times=("received_at", "claimed_at"), json_=("details",), texts=_INBOUND_TEXTS
    )
    inserted = driver.first(_CLAIM_SQL, params)
    if inserted is not None:
        return Claim(int(inserted[0]), True, "new")
    existing_id, status, outcome, claimed_at = driver.first(_CLAIMED_SQL, {"key": key})
    if status == "processing" and read_time(claimed_at) < now - lease:
        taken = driver.execute(
            _TAKE_OVER_SQL,
            {**driver.params({"now": now}, times=("now",)), "id": existing_id,
             "claimed_at": claimed_at},
        )  # fmt: skip
        if taken:
            return Claim(int(existing_id), True, "processing")
    return Claim(int(existing_id), False, outcome or status)


def finish_inbound(driver: Driver, inbound_id: int, **values: Any) -> None:
    """Record the outcome (and whatever else ``values`` names) of a claimed message."""
    unknown = set(values) - set(INBOUND_COLUMNS)
    if unknown:
        raise ValueError(f"not columns of inbound_messages: {unknown}")
    names = sorted(values)
    sql = "UPDATE inbound_messages SET " + ", ".join(f"{n} = :{n}" for n in names)
    params = driver.params(values, json_=("details",), texts=_INBOUND_TEXTS)
    driver.execute(sql + " WHERE id = :b_inbound_id", {**params, "b_inbound_id": inbound_id})


# -- events ----------------------------------------------------------------------------------

_EVENT_SQL = _insert("events", EVENT_COLUMNS)


def add_event(driver: Driver, *, type: str, occurred_at: datetime, **values: Any) -> None:
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    row.update(values, type=type, occurred_at=occurred_at, data=values.get("data") or {})
    if len(row) != len(EVENT_COLUMNS):
        raise ValueError(f"not columns of events: {set(row) - set(EVENT_COLUMNS)}")
    driver.execute(
        _EVENT_SQL,
        driver.params(row, times=("occurred_at",), json_=("data",), texts=("recipient",)),
    )


# -- bounce scores and suppressions ---------------------------------------------------------


def _restart_or_add(column: str) -> str:
    # A score whose last bounce is older than the quiet period starts again from this bounce.
    return (
        f"{column} = CASE WHEN bounce_scores.last_bounce_at < :b_cutoff THEN excluded.{column} "
        f"ELSE bounce_scores.{column} + excluded.{column} END"
    )


_BOUNCE_SQL = _insert(
    "bounce_scores",
    ("user_id", "score", "hard_count", "soft_count", "last_bounce_at"),
    " ON CONFLICT (user_id) DO UPDATE SET "
    + ", ".join(
        [_restart_or_add(c) for c in ("score", "hard_count", "soft_count")]
        + ["last_bounce_at = excluded.last_bounce_at"]
    )
    + " RETURNING score",
)


def add_bounce_score(
    driver: Driver, *, user_id: int, weight: float, hard: bool, now: datetime, quiet: timedelta
) -> float:
    """Add one bounce and return the new score, in one atomic upsert.

    A score whose last bounce is older than ``quiet`` starts again from zero. No read-modify-
    write, so two processes counting bounces for one user at once both count.
    """
    params = {
        "user_id": user_id,
        "score": weight,
        "hard_count": 1 if hard else 0,
        "soft_count": 0 if hard else 1,
        "last_bounce_at": now,
        "b_cutoff": now - quiet,
    }
    [score] = driver.first(_BOUNCE_SQL, driver.params(params, times=("last_bounce_at", "b_cutoff")))
    return float(score)


@dataclass(frozen=True, slots=True)
class BounceScoreRecord:
    user_id: int
    score: float
    last_bounce_at: datetime


def get_bounce_score(driver: Driver, user_id: int) -> BounceScoreRecord | None:
    row = driver.first(
        "SELECT user_id, score, last_bounce_at FROM bounce_scores WHERE user_id = :user_id",
        {"user_id": user_id},
    )
    return None if row is None else BounceScoreRecord(row[0], float(row[1]), read_time(row[2]))


_SUPPRESS_SQL = _insert(
    "suppressions",
    ("user_id", "address", "reason", "created_at", "details"),
    " ON CONFLICT (user_id) DO NOTHING RETURNING id",
)


def suppress_user(
    driver: Driver,
    *,
    user_id: int,
    address: str | None,
    reason: str,
    now: datetime,
    details: Mapping[str, Any],
) -> bool:
    """Suppress a user's address; False when it already was (the user id is unique)."""
    row = {
        "user_id": user_id,
        "address": address,
        "reason": reason,
        "created_at": now,
        "details": dict(details),
    }
    params = driver.params(row, times=("created_at",), json_=("details",), texts=("address",))
    return driver.first(_SUPPRESS_SQL, params) is not None


# -- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A row of ``sessions``."""

    id: int
    key: bytes
    module: int
    user_id: int
    data: Any
    created_at: datetime
    expires_at: datetime
    uses_left: int | None
    use_count: int
    address: str | None
    delivery_id: int | None = None


_SESSION_SQL = f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions"


def _session(driver: Driver, row: Any) -> SessionRecord | None:
    if row is None:
        return None
    sid, key, module, user_id, data, created, expires, uses_left, use_count, address, delivery = row
    return SessionRecord(
        int(sid),
        driver.binary(key),
        int(module),
        int(user_id),
        driver.json_value(data),
        read_time(created),
        read_time(expires),
        uses_left,
        int(use_count),
        address,
        None if delivery is None else int(delivery),
    )


def find_session(driver: Driver, key: bytes) -> SessionRecord | None:
    """The session with this key, or None."""
    return _session(driver, driver.first(_SESSION_SQL + " WHERE key = :key", {"key": key}))


def get_session(driver: Driver, session_id: int) -> SessionRecord | None:
    return _session(driver, driver.first(_SESSION_SQL + " WHERE id = :id", {"id": session_id}))


def take_session_use(driver: Driver, session_id: int) -> bool:
    """Spend one use atomically; False when none was left (a concurrent reply took it)."""
    changed = driver.execute(
        "UPDATE sessions SET use_count = use_count + 1, uses_left = CASE WHEN uses_left IS NULL"
        " THEN NULL ELSE uses_left - 1 END WHERE id = :id AND (uses_left IS NULL OR uses_left > 0)",
        {"id": session_id},
    )
    return bool(changed)


def give_back_session_use(driver: Driver, session_id: int) -> None:
    driver.execute(
        "UPDATE sessions SET use_count = use_count - 1, uses_left = CASE WHEN uses_left IS NULL"
        " THEN NULL ELSE uses_left + 1 END WHERE id = :id",
        {"id": session_id},
    )


# -- Message-IDs of sent copies --------------------------------------------------------------


def normal_message_id(value: str) -> str:
    """A Message-ID as stored: without angle brackets or surrounding space (RFC 5322 3.6.4)."""
    return value.strip().removeprefix("<").removesuffix(">").strip()


@dataclass(frozen=True, slots=True)
class MessageIdRecord:
    """A row of ``message_ids``: whose copy a Message-ID (or delivery id) was."""

    message_id: str
    user_id: int | None
    module: int | None
    recipient: str | None
    email_id: int | None
    delivery_id: int | None
    role: str
    created_at: datetime


_MESSAGE_ID_SQL = f"SELECT {', '.join(MESSAGE_ID_COLUMNS)} FROM message_ids"


def find_message_id(
    driver: Driver, *, message_id: str | None = None, delivery_id: int | None = None
) -> MessageIdRecord | None:
    """The copy a Message-ID (or a delivery id) belongs to, or None."""
    if message_id:
        row = driver.first(
            _MESSAGE_ID_SQL + " WHERE message_id = :mid",
            driver.params({"mid": normal_message_id(message_id)}, texts=("mid",)),
        )
    elif delivery_id is not None:
        row = driver.first(
            _MESSAGE_ID_SQL + " WHERE delivery_id = :d ORDER BY created_at LIMIT 1",
            {"d": delivery_id},
        )
    else:
        return None
    if row is None:
        return None
    mid, user_id, module, recipient, email_id, d_id, role, created = row
    return MessageIdRecord(
        mid, user_id, module, recipient, email_id, d_id, role, read_time(created)
    )


# -- notices (error emails) -----------------------------------------------------------------


def count_notices_since(driver: Driver, to_address: str, since: datetime) -> int:
    row = driver.first(
        "SELECT COUNT(id) FROM notices WHERE to_address = :to AND created_at >= :since"
        " AND status IN ('sent', 'queued')",
        driver.params({"to": to_address.lower(), "since": since}, times=("since",), texts=("to",)),
    )
    return int(row[0])


_NOTICE_SQL = _insert(
    "notices",
    ("to_address", "kind", "created_at", "inbound_id", "status", "raw"),
    " RETURNING id",
)
_JOB_SQL = _insert(
    "jobs",
    ("kind", "payload", "status", "run_at", "attempts", "max_attempts", "unique_key", "created_at"),
)


def add_notice(
    driver: Driver,
    *,
    to_address: str,
    kind: str,
    now: datetime,
    inbound_id: int | None,
    status: str,
    raw: bytes,
) -> int:
    """Record an error email; returns its id. A ``queued`` one gets a ``notice`` job in the
    same transaction: the worker sends it, with retries (``jobs.notices``)."""
    row = {
        "to_address": to_address.lower(),
        "kind": kind,
        "created_at": now,
        "inbound_id": inbound_id,
        "status": status,
        "raw": raw,
    }
    found = driver.first(
        _NOTICE_SQL, driver.params(row, times=("created_at",), texts=("to_address",))
    )
    notice_id = int(found[0])
    if status == "queued":
        job = {
            "kind": "notice",
            "payload": {"notice_id": notice_id},
            "status": "queued",
            "run_at": now,
            "attempts": 0,
            "max_attempts": 12,
            "unique_key": f"notice:{notice_id}",
            "created_at": now,
        }
        driver.execute(
            _JOB_SQL, driver.params(job, times=("run_at", "created_at"), json_=("payload",))
        )
    return notice_id


# -- modules served by a URL (webhook endpoints with a handler) ------------------------------


def handler_endpoints(driver: Driver) -> list[tuple[str, str, str]]:
    """(handler, url, secret) of every enabled endpoint that serves a module."""
    rows = driver.execute(
        "SELECT handler, url, secret FROM webhook_endpoints"
        " WHERE handler IS NOT NULL AND disabled_at IS NULL ORDER BY id"
    )
    return [(str(h), str(u), str(s)) for h, u, s in rows]


def enqueue_handler_retry(
    driver: Driver, inbound_id: int, *, now: datetime, run_at: datetime
) -> None:
    """Queue the ``handler-retry`` job of a reply its module's URL did not take (once per
    message: a retry that fails again is rescheduled by the job itself)."""
    job = {
        "kind": "handler-retry",
        "payload": {"inbound_id": inbound_id},
        "status": "queued",
        "run_at": run_at,
        "attempts": 0,
        "max_attempts": 1000,
        "unique_key": f"handler-retry:{inbound_id}",
        "created_at": now,
    }
    driver.execute(
        _JOB_SQL + " ON CONFLICT (unique_key) DO NOTHING",
        driver.params(job, times=("run_at", "created_at"), json_=("payload",)),
    )
