"""The event sink: hits in, judged events out, in batches, never lost and never twice.

- :class:`EventWriter` turns a batch of hits into ``events`` rows in one transaction: it looks
  up the copies (deliveries) the hits name, judges each hit (:mod:`postroom.tracking.judge`,
  the verdict of a request shape cached when it depends on nothing else) and inserts the
  rows on the driver's connection (``COPY`` on PostgreSQL, ``executemany`` on SQLite in WAL
  mode): SQLAlchemy's per-row processing cost several times the database's own work.
- :class:`EventSink` holds the hits that arrived since the last write and writes them at
  least every ``interval`` (default 100 ms). Every batch is named before its first attempt
  and its name is written to ``tracking_spool`` with its events. When the database is down
  the batch goes to the :class:`~postroom.tracking.spool.Spool` under that name instead, and
  spooled batches are replayed, in order and exactly once (a name already written is not
  written again), before anything newer is written.
- :class:`SinkServer` runs a sink on a thread of the ``postroom serve`` process, beside the
  HTTP workers: workers send hit lines over a Unix socket, and the one thread here reads
  them and writes, so no database work ever runs on a request's event loop (the lesson of
  ../shared/docs/PERFORMANCE.md: a flush competing with the request path ruins p99).
  A graceful stop reads every worker to its end and writes everything; a crash loses what
  arrived since the last write began, one interval's worth (each write starts early by the
  time the last one took).
- :class:`ThreadSink` runs a sink on a thread of the web process itself, for an app built
  without ``postroom serve`` (tests, a development server).
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from postroom.errors import StoreUnavailable
from postroom.outcomes import EventType
from postroom.store.driver import read_time
from postroom.store.inbound import EVENT_COLUMNS
from postroom.store.text import storable_json, storable_text
from postroom.tracking.hits import Hit, HitKind, parse_hit
from postroom.tracking.judge import Judge, Verdict, load_lists
from postroom.tracking.recorder import REPORT
from postroom.tracking.spool import Spool

if TYPE_CHECKING:
    from postroom.settings import TrackingSettings
    from postroom.store import Database

from postroom.store.models import DeliveryRow, EmailRow, EventRow, TrackingSpoolRow

log = logging.getLogger("postroom.tracking")

EVENTS = cast(Table, EventRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
EMAILS = cast(Table, EmailRow.__table__)
SPOOLED = cast(Table, TrackingSpoolRow.__table__)
CACHE_SIZE = 200_000
EMAIL_CACHE = 10_000
SHAPE_CACHE = 20_000  # request shapes (method, address, User-Agent, link) judged
OPENED = str(EventType.OPENED)
CLICKED = str(EventType.CLICKED)
BURST_MEMORY = 10.0  # seconds of clicks kept per copy for the "all links at once" rule


class CopyInfo(NamedTuple):
    """What the judgement and the event need of one copy."""

    delivery_id: int
    email_id: int
    recipient: str
    user_id: int | None
    sent_at: datetime | None
    opens: bool
    clicks: bool


@dataclass
class SinkStats:
    hits: int = 0  # hits received
    recorded: int = 0  # events written (directly or from the spool)
    skipped: int = 0  # hits of unknown copies, or of copies not tracked
    spooled: int = 0  # hits written to the spool
    replayed: int = 0  # spooled hits written to the database
    flushes: int = 0
    longest_flush: float = 0.0


class EventWriter:
    """Writes batches of hits as events (one transaction per batch)."""

    def __init__(self, database: Database, settings: TrackingSettings) -> None:
        self.database = database
        self.anonymous = settings.anonymous
        self.judge = Judge(load_lists(settings.machine_lists), window=settings.machine_window)
        # Plain tuples: the garbage collector stops tracking a tuple of plain values, not a
        # NamedTuple or a dataclass, and full collections walking 200,000 tracked entries
        # paused the sink's writes (measured: 70-190 ms every ~30,000 hits).
        self._copies: OrderedDict[int, tuple[Any, ...] | None] = OrderedDict()
        self._clicks: dict[int, deque[tuple[float, int]]] = {}
        self._window = self.judge.window.total_seconds()
        self._shapes: dict[tuple[str, str, str, int | None], tuple[Verdict, str]] = {}
        self._tracked: dict[int, tuple[bool, bool]] = {}

    def _lookup(self, conn: Any, ids: set[int]) -> dict[int, CopyInfo | None]:
        # Make room first: evicting after the look-up could drop this batch's own copies.
        while self._copies and len(self._copies) + len(ids) > CACHE_SIZE:
            self._copies.popitem(last=False)
        batch: dict[int, CopyInfo | None] = {}
        for i in ids:
            if i in self._copies:
                known = self._copies[i]
                batch[i] = None if known is None else CopyInfo._make(known)
        missing = [i for i in ids if i not in self._copies]
        # On the driver: SQLAlchemy's result processing (two datetimes and the email's JSON
        # options per row) cost more than the query (every hit of a bench is a new copy).
        raw = conn.connection.driver_connection
        postgresql = conn.dialect.name == "postgresql"
        for start in range(0, len(missing), 5000):
            chunk = missing[start : start + 5000]
            found: dict[int, CopyInfo | None] = dict.fromkeys(chunk)
            params: Sequence[Any] = (chunk,) if postgresql else chunk
            sql = _COPIES_PG if postgresql else _COPIES_SQLITE.format(", ".join("?" * len(chunk)))
            with driver_errors(conn):
                cursor = raw.cursor()
                try:
                    cursor.execute(sql, params)
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
            emails = self._emails(conn, {row[1] for row in rows})
            for delivery, email, address, user, sent in rows:
                tracked = emails.get(email)
                if tracked is None:
                    continue
                found[delivery] = CopyInfo(
                    delivery,
                    email,
                    storable_text(address),
                    user,
                    None if sent is None else read_time(sent),
                    *tracked,
                )
            self._copies.update((i, None if c is None else tuple(c)) for i, c in found.items())
            batch.update(found)
        return batch

    def _emails(self, conn: Any, ids: set[int]) -> dict[int, tuple[bool, bool]]:
        """Whether opens and clicks are tracked, per email (cached: set when it is sent)."""
        missing = [i for i in ids if i not in self._tracked]
        if missing:
            if len(self._tracked) > EMAIL_CACHE:
                self._tracked.clear()
            e = EMAILS.c
            for row in conn.execute(select(e.id, e.options).where(e.id.in_(missing))):
                options = dict(row.options or {})
                self._tracked[row.id] = (
                    bool(options.get("opens", True)),
                    bool(options.get("clicks", True)),
                )
        return {i: self._tracked[i] for i in ids if i in self._tracked}

    def _burst(self, hit: Hit, at: float) -> int:
        """Distinct links of the copy clicked within the burst span, this one included."""
        recent = self._clicks.setdefault(hit.delivery_id, deque())
        while recent and at - recent[0][0] > BURST_MEMORY:
            recent.popleft()
        recent.append((at, hit.link or 0))
        span = self.judge.burst_seconds
        if len(self._clicks) > 50_000:  # forget copies not clicked lately
            for key in [k for k, q in self._clicks.items() if not q or at - q[-1][0] > span]:
                del self._clicks[key]
        return len({link for when, link in recent if at - when <= span})

    def _judged(self, hit: Hit, click: bool, since: float | None, at: float) -> tuple[Verdict, str]:
        """The verdict on ``hit`` and the event's ``data`` as JSON text without
        ``seconds_after_delivery`` and the closing brace (added per event)."""
        link = hit.link if click else None
        links = self._burst(hit, at) if click else 1
        if (since is not None and since < self._window) or links >= self.judge.burst_links:
            verdict = self._judge(hit, click, since, links)
            return verdict, self._details(hit, verdict, link)
        # Neither early nor part of a burst, the verdict depends on the request alone
        # (method, address, User-Agent, link), and the list look-ups (an address parsed
        # and compared with every range) and the JSON are most of the cost: cache both.
        key = (hit.method, hit.ip, hit.agent, link)
        known = self._shapes.get(key)
        if known is None:
            verdict = self._judge(hit, click, since, links)
            known = verdict, self._details(hit, verdict, link)
            if len(self._shapes) >= SHAPE_CACHE:
                self._shapes.clear()
            self._shapes[key] = known
        return known

    def _judge(self, hit: Hit, click: bool, since: float | None, links: int) -> Verdict:
        return self.judge.judge(
            click=click,
            method=hit.method,
            ip=hit.ip,
            agent=hit.agent,
            since_delivery=since,
            links_in_burst=links,
        )

    def _details(self, hit: Hit, verdict: Verdict, link: int | None) -> str:
        data: dict[str, Any] = {"label": str(verdict.label), "reason": verdict.reason}
        if link is not None:
            data["link"] = link
        if not self.anonymous:
            data.update(method=hit.method, ip=hit.ip, agent=hit.agent)
        return storable_json(data)[:-1]

    def rows(self, conn: Any, hits: Sequence[Hit]) -> list[tuple[Any, ...]]:
        """The events of ``hits`` as rows of :data:`COLUMNS` (hits of unknown or untracked
        copies left out); ``occurred_at`` an aware datetime, ``data`` JSON text."""
        copies = self._lookup(conn, {hit.delivery_id for hit in hits})
        rows: list[tuple[Any, ...]] = []
        anonymous = self.anonymous
        for hit in hits:
            copy = copies.get(hit.delivery_id)
            click = hit.kind == HitKind.CLICK
            if copy is None or not (copy.clicks if click else copy.opens):
                continue
            at = hit.at_ns / 1e9
            occurred = datetime.fromtimestamp(at, UTC)
            since = (occurred - copy.sent_at).total_seconds() if copy.sent_at else None
            verdict, data = self._judged(hit, click, since, at)
            if anonymous:
                data += "}"
            else:
                seconds = "null" if since is None else repr(round(since, 3))
                data += f', "seconds_after_delivery": {seconds}}}'
            rows.append(
                (
                    CLICKED if click else OPENED,
                    occurred,
                    copy.email_id,
                    None if anonymous else copy.delivery_id,
                    None if anonymous else copy.recipient,
                    None if anonymous else copy.user_id,
                    None,
                    None,
                    verdict.machine,
                    data,
                )
            )
        return rows

    def write(
        self, hits: Sequence[Hit], *, name: str | None = None, forget: Sequence[str] = ()
    ) -> tuple[int, int]:
        """Write ``hits``; returns (events written, hits skipped). With ``name``, the batch
        is marked with it in ``tracking_spool`` in the same transaction and written only when
        no batch of that name was written before (else nothing is, and the counts are those of
        the earlier write): a batch spooled because its
        commit failed may have been committed all the same (the answer to ``COMMIT`` lost
        with the connection), and its replay must then write nothing. ``forget``: marks of
        batches known to be committed and never spooled, deleted in this transaction."""
        with self.database.connect() as conn:
            if forget:
                conn.execute(SPOOLED.delete().where(SPOOLED.c.name.in_(list(forget))))
            rows = self.rows(conn, hits)
            if name is not None:
                # RETURNING, not rowcount: psycopg's rowcount of this statement is -1.
                insert = (
                    (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(SPOOLED)
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(SPOOLED.c.name)
                )
                done = conn.execute(
                    insert, {"name": name, "replayed_at": datetime.now(UTC), "events": len(rows)}
                ).first()
                if done is None:
                    # Written before: say what that write recorded, write nothing.
                    earlier = conn.execute(
                        select(SPOOLED.c.events).where(SPOOLED.c.name == name)
                    ).scalar_one()
                    return int(earlier), len(hits) - int(earlier)
            if rows:
                insert_events(conn, rows)
        return len(rows), len(hits) - len(rows)


#: The columns :meth:`EventWriter.rows` fills, in order (the inbound path's too).
COLUMNS = EVENT_COLUMNS
_SQLITE_INSERT = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 10)})"
_PG_COPY = f"COPY events ({', '.join(COLUMNS)}) FROM STDIN"


_COPY_COLUMNS = "id, email_id, address, user_id, COALESCE(sent_at, created_at)"
_COPIES_SQLITE = f"SELECT {_COPY_COLUMNS} FROM deliveries WHERE id IN ({{}})"
_COPIES_PG = f"SELECT {_COPY_COLUMNS} FROM deliveries WHERE id = ANY(%s)"


@contextmanager
def driver_errors(conn: Any) -> Iterator[None]:
    """The driver's connection errors (raised beneath SQLAlchemy) as StoreUnavailable."""
    dbapi = conn.dialect.dbapi
    try:
        yield
    except (dbapi.OperationalError, dbapi.InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc}".splitlines()[0]) from exc


def insert_events(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert event rows on the driver's connection beneath ``conn`` (in its transaction):
    ``COPY`` on PostgreSQL, ``executemany`` on SQLite. SQLAlchemy's per-row parameter
    processing cost several times the database's own work here (measured: 130 us a hit)."""
    raw = conn.connection.driver_connection
    with driver_errors(conn):
        if conn.dialect.name == "postgresql":
            with raw.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = raw.cursor()
            try:
                cursor.executemany(
                    _SQLITE_INSERT,
                    [(*r[:1], _sqlite_time(r[1]), *r[2:8], _sqlite_bool(r[8]), r[9]) for r in rows],
                )
            finally:
                cursor.close()


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite storage form (see postroom.store.driver.sqlite_timestamp).
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


@dataclass
class EventSink:
    """Pending hits and the rhythm of writing them (thread-safe :meth:`add`)."""

    writer: EventWriter
    spool: Spool
    interval: float = 0.1
    retry: float = 1.0  # how often a down database is tried again
    stats: SinkStats = field(default_factory=SinkStats)
    _pending: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _down_until: float = 0.0
    _flushing: threading.Lock = field(default_factory=threading.Lock)
    # Names of batches written straight to the database: their marks are deleted with the
    # next write (only a batch that may be spooled needs one).
    _committed: list[str] = field(default_factory=list)
    _slow_warned: float = -1e9

    def add_lines(self, lines: Sequence[str]) -> None:
        with self._lock:
            self._pending.extend(lines)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self, *, final: bool = False) -> None:
        """Write what is pending (spooled batches first); spool it when the database is down.
        ``final`` (the last flush of a stop): try the database even within ``retry`` of its
        last failure, so batches spooled during an outage that has ended are replayed now."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            started = time.monotonic()
            hits = [h for h in map(parse_hit, batch) if h is not None]
            self.stats.hits += len(hits)
            if (started < self._down_until and not final) or not self._replay():
                self._to_spool(hits)
            elif hits:
                name = self.spool.new_name()
                forget, self._committed = self._committed, []
                try:
                    written, skipped = self.writer.write(hits, name=name, forget=forget)
                except StoreUnavailable as exc:
                    self._committed = forget + self._committed
                    self._went_down(exc)
                    self._to_spool(hits, name)
                else:
                    self._committed.append(name)
                    self.stats.recorded += written
                    self.stats.skipped += skipped
            took = time.monotonic() - started
            self.stats.flushes += 1
            self.stats.longest_flush = max(self.stats.longest_flush, took)
            if took > self.interval and started - self._slow_warned > 10.0:
                # A crash now would lose more than an interval: say so (at most every 10 s).
                self._slow_warned = started
                log.warning(
                    "the event sink's write of %d hits took %.0f ms, more than the %.0f ms "
                    "flush interval",
                    len(hits),
                    took * 1000,
                    self.interval * 1000,
                )

    def _to_spool(self, hits: list[Hit], name: str | None = None) -> None:
        if hits:
            self.spool.append((h.line() for h in hits), name=name)
            self.stats.spooled += len(hits)

    def _went_down(self, exc: Exception) -> None:
        if not self._down_until:
            log.warning("database unavailable, spooling hits to %s: %s", self.spool.directory, exc)
        self._down_until = time.monotonic() + self.retry

    def _replay(self) -> bool:
        """Replay spooled batches, oldest first; False when the database is still down."""
        for name in self.spool.names():
            hits = [h for h in map(parse_hit, self.spool.read(name)) if h is not None]
            try:
                written, skipped = self.writer.write(hits, name=name)
            except StoreUnavailable as exc:
                self._went_down(exc)
                return False
            self.spool.remove(name)
            self.stats.recorded += written
            self.stats.replayed += written
            self.stats.skipped += skipped
        if self._down_until:
            log.warning("database back: spooled hits replayed")
        self._down_until = 0.0
        return True


class SinkServer:
    """A sink fed by server workers over a Unix socket (one thread: read, and write every
    ``interval``). :meth:`stop` then :meth:`join`: reads each worker until it closes (or
    ``grace`` seconds), writes everything, returns."""

    def __init__(self, sink: EventSink, path: str, *, grace: float = 30.0) -> None:
        self.sink = sink
        self.path = path
        self.grace = grace
        if os.path.exists(path):
            os.unlink(path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(64)
        self._listener.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postroom-sink", daemon=True)
        self.clients = 0
        self.reports = 0  # workers that reported on stopping
        self.served = 0  # hits those workers said they recorded
        self.cpu = 0.0  # seconds of CPU the sink's thread used (known once it stopped)

    def start(self) -> SinkServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        partial: dict[socket.socket, bytes] = {}
        interval = self.sink.interval
        next_flush = time.monotonic() + interval
        stop_deadline: float | None = None
        while True:
            now = time.monotonic()
            if self._stop.is_set() and stop_deadline is None:
                stop_deadline = now + self.grace
                selector.unregister(self._listener)
                self._listener.close()
            if stop_deadline is not None and (not partial or now > stop_deadline):
                break
            for key, _ in selector.select(max(0.0, next_flush - now)):
                sock = cast(socket.socket, key.fileobj)
                if sock is self._listener:
                    try:
                        client, _ = sock.accept()
                    except OSError:
                        continue
                    client.setblocking(False)
                    selector.register(client, selectors.EVENT_READ, None)
                    partial[client] = b""
                    self.clients += 1
                    continue
                try:
                    data = sock.recv(1 << 20)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    sock.close()
                    partial.pop(sock, None)
                    continue
                buffer = partial[sock] + data
                head, _, tail = buffer.rpartition(b"\n")
                partial[sock] = tail
                if head:
                    lines = head.decode("utf-8", "replace").split("\n")
                    if head.startswith(b"#") or b"\n#" in head:
                        lines = self._reports(lines)
                    self.sink.add_lines(lines)
            began = time.monotonic()
            if began >= next_flush:
                self._flush()
                # What is lost in a crash is what arrived since the last write began: the
                # write in progress and the time since. Starting the next write early by
                # the time this one took keeps that within one interval.
                ended = time.monotonic()
                next_flush = max(ended, began + interval - (ended - began))
        self._flush(final=True)
        self.cpu = time.thread_time()
        for sock in partial:
            sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def _reports(self, lines: list[str]) -> list[str]:
        """Count the workers' report lines (``recorder.REPORT``); return the hit lines."""
        hits = []
        for line in lines:
            if line.startswith(REPORT + "\t"):
                _, _, count = line.rpartition("\t")
                self.served += int(count) if count.isdigit() else 0
                self.reports += 1
            else:
                hits.append(line)
        return hits

    def _flush(self, *, final: bool = False) -> None:
        try:
            self.sink.flush(final=final)
        except Exception:  # a bug must not stop the sink; the hits stay in the log's trace
            log.exception("the event sink failed to write a batch")


class ThreadSink:
    """A sink on a thread of this process (no ``postroom serve``): :meth:`record` adds a
    line; the thread writes every interval; :meth:`close` writes the rest."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, line: str) -> None:
        self.sink.add_lines((line,))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="postroom-sink", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.sink.interval):
            self._flush()

    def _flush(self, *, final: bool = False) -> None:
        try:
            self.sink.flush(final=final)
        except Exception:
            log.exception("the event sink failed to write a batch")

    def flush(self) -> None:
        self._flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._flush(final=True)


def sink_for(
    database: Database, settings: TrackingSettings, *, clock: Callable[[], float] | None = None
) -> EventSink:
    """An :class:`EventSink` configured from ``[tracking]``."""
    return EventSink(
        EventWriter(database, settings),
        Spool(settings.spool_dir),
        interval=settings.flush_interval.total_seconds(),
    )
