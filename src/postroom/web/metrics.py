"""``/metrics``: what postroom did and what waits, in the Prometheus exposition format (text
0.0.4 / 1.0, or OpenMetrics when the scraper asks for it), read from the database at each
scrape, so every web node reports the same truth whichever process did the work.

- ``postroom_events_total{type}``: events recorded (sends, deferrals, failures, bounces,
  opens, clicks, unsubscribes, complaints, replies...);
- ``postroom_opens_total{by}`` and ``postroom_clicks_total{by}``: by ``human``, ``machine``
  (a mail server's prefetch, a link scanner: ``events.machine``) or ``unjudged``;
- ``postroom_inbound_messages{outcome}``: received messages kept, by outcome;
- ``postroom_queue_depth{status}`` and ``postroom_queue_oldest_age_seconds``: copies waiting
  (queued, deferred, sending) and how long the oldest has;
- ``postroom_jobs{kind,status}``: other work waiting, running or failed (error emails,
  webhooks when they are jobs, pruning); ``postroom_suppressions{reason}``;
  ``postroom_accounts_paused``;
- ``postroom_webhook_messages{status}``: webhook deliveries ``pending`` (``retrying``: of
  those, the ones whose endpoint failed at least once) and ``failed`` (given up: the endpoint
  was disabled); ``postroom_webhook_endpoints{state}``: ``enabled``, ``failing`` (enabled,
  no success since its last failure) and ``disabled``.

The event counters are counted incrementally: the first scrape of a process counts every
event once, later ones only the events written since (a range of the primary key), so a
scrape costs the same with a million events as with a thousand, and pruning old events never
makes a counter go down. Ids are only taken as final once they are ``SETTLE`` old: an id of a
transaction that commits late (PostgreSQL hands out ids before commit) is still counted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Table, case, func, select
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from postroom.errors import StoreError
from postroom.outcomes import EventType
from postroom.store.models import (
    AccountRow,
    DeliveryRow,
    EventRow,
    InboundMessageRow,
    JobRow,
    SuppressionRow,
    WebhookEndpointRow,
    WebhookMessageRow,
)

if TYPE_CHECKING:
    from postroom.app import Postroom

EVENTS = cast(Table, EventRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
INBOUND = cast(Table, InboundMessageRow.__table__)
JOBS = cast(Table, JobRow.__table__)
SUPPRESSIONS = cast(Table, SuppressionRow.__table__)
ACCOUNTS = cast(Table, AccountRow.__table__)
WEBHOOK_MESSAGES = cast(Table, WebhookMessageRow.__table__)
WEBHOOK_ENDPOINTS = cast(Table, WebhookEndpointRow.__table__)
PENDING = ("queued", "deferred", "sending")
#: How long after it was seen the highest event id is taken as final (see the docstring).
SETTLE = 300.0

Key = tuple[str, bool | None]


class EventTally:
    """Events counted by (type, machine), kept up to date a primary-key range at a time."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._settled: Counter[Key] = Counter()
        self._mark: int | None = None  # ids up to here are in _settled
        self._seen: deque[tuple[float, int]] = deque()

    @staticmethod
    def _count(conn: Connection, low: int, high: int | None) -> Counter[Key]:
        c = EVENTS.c
        # Grouped by the bare column, SQLite would walk the whole (type, time) index to save
        # a sort; as an expression, it reads the primary-key range and sorts what it found.
        kind_of = c.type + "" if conn.dialect.name == "sqlite" else c.type
        query = select(kind_of, c.machine, func.count()).where(c.id > low)
        if high is not None:
            query = query.where(c.id <= high)
        counts: Counter[Key] = Counter()
        for kind, machine, count in conn.execute(query.group_by(kind_of, c.machine)):
            counts[(kind, None if machine is None else bool(machine))] += count
        return counts

    def counts(self, conn: Connection) -> Counter[Key]:
        with self._lock:
            top = conn.execute(select(func.max(EVENTS.c.id))).scalar_one_or_none() or 0
            now = self._clock()
            if self._mark is None:
                self._settled = self._count(conn, 0, top)
                self._mark = top
            else:
                self._seen.append((now, top))
                settle_to = self._mark
                while self._seen and self._seen[0][0] <= now - SETTLE:
                    settle_to = max(settle_to, self._seen.popleft()[1])
                if settle_to > self._mark:
                    self._settled.update(self._count(conn, self._mark, settle_to))
                    self._mark = settle_to
            return self._settled + self._count(conn, self._mark, None)


class StoreCollector(Collector):
    """Reads every metric from the database in one transaction per scrape."""

    def __init__(self, room: Postroom) -> None:
        self.room = room
        self.tally = EventTally()

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        with self.room.database.connect() as conn:
            yield from self._events(conn)
            yield from self._inbound(conn)
            yield from self._queue(conn)
            yield from self._jobs(conn)
            yield from self._suppressions_and_accounts(conn)
            yield from self._webhooks(conn)
        took = GaugeMetricFamily(
            "postroom_metrics_query_seconds", "How long reading these metrics took."
        )
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _events(self, conn: Connection) -> Iterator[Metric]:
        counts = self.tally.counts(conn)
        events = CounterMetricFamily(
            "postroom_events", "Events recorded, by type.", labels=["type"]
        )
        by_type: Counter[str] = Counter()
        for (kind, _), count in counts.items():
            by_type[kind] += count
        for kind in [str(t) for t in EventType] + sorted(set(by_type) - set(EventType)):
            events.add_metric([kind], by_type.get(kind, 0))
        yield events
        for kind, name in (("opened", "opens"), ("clicked", "clicks")):
            family = CounterMetricFamily(
                f"postroom_{name}",
                f"Events of type {kind}, by a person (human), a program (machine: a mail "
                "server's prefetch, a link scanner) or not judged.",
                labels=["by"],
            )
            for by, machine in (("human", False), ("machine", True), ("unjudged", None)):
                family.add_metric([by], counts.get((kind, machine), 0))
            yield family

    def _inbound(self, conn: Connection) -> Iterator[Metric]:
        c = INBOUND.c
        family = GaugeMetricFamily(
            "postroom_inbound_messages",
            "Received messages kept, by outcome (processing: being handled now).",
            labels=["outcome"],
        )
        rows = conn.execute(select(c.outcome, func.count()).group_by(c.outcome))
        for outcome, count in rows:
            family.add_metric([outcome or "processing"], count)
        yield family

    def _queue(self, conn: Connection) -> Iterator[Metric]:
        d = DELIVERIES.c
        depth = GaugeMetricFamily(
            "postroom_queue_depth", "Copies waiting to be sent, by status.", labels=["status"]
        )
        counts: dict[str, int] = dict(
            conn.execute(
                select(d.status, func.count()).where(d.status.in_(PENDING)).group_by(d.status)
            ).all()
        )
        for status in PENDING:
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        oldest = conn.execute(
            select(func.min(d.created_at)).where(d.status.in_(PENDING))
        ).scalar_one_or_none()
        age = GaugeMetricFamily(
            "postroom_queue_oldest_age_seconds",
            "How long the oldest copy still waiting has been queued (0: none waits).",
        )
        now = self.room.clock()
        age.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield age

    def _jobs(self, conn: Connection) -> Iterator[Metric]:
        j = JOBS.c
        family = GaugeMetricFamily(
            "postroom_jobs",
            "Jobs other than copies (error emails, webhooks, pruning), by kind and status: "
            "queued, running, failed (gave up after their attempts).",
            labels=["kind", "status"],
        )
        rows = conn.execute(
            select(j.kind, j.status, func.count())
            .where(j.status.in_(("queued", "running", "failed")))
            .group_by(j.kind, j.status)
        )
        for kind, status, count in rows:
            family.add_metric([kind, status], count)
        yield family

    def _suppressions_and_accounts(self, conn: Connection) -> Iterator[Metric]:
        s = SUPPRESSIONS.c
        family = GaugeMetricFamily(
            "postroom_suppressions",
            "Suppressed users and addresses, by reason.",
            labels=["reason"],
        )
        for reason, count in conn.execute(select(s.reason, func.count()).group_by(s.reason)):
            family.add_metric([reason], count)
        yield family
        a = ACCOUNTS.c
        paused = GaugeMetricFamily(
            "postroom_accounts_paused",
            "Sending accounts paused now (a provider's limit answer, a refused login).",
        )
        now = self.room.clock()
        paused.add_metric(
            [], conn.execute(select(func.count()).where(a.paused_until > now)).scalar_one()
        )
        yield paused

    def _webhooks(self, conn: Connection) -> Iterator[Metric]:
        m = WEBHOOK_MESSAGES.c
        messages = GaugeMetricFamily(
            "postroom_webhook_messages",
            "Webhook deliveries pending (retrying: pending after a failed attempt) and failed "
            "(given up when the endpoint was disabled).",
            labels=["status"],
        )
        counts: dict[str, int] = dict(
            conn.execute(
                select(m.status, func.count())
                .where(m.status.in_(("pending", "failed")))
                .group_by(m.status)
            ).all()
        )
        retrying = conn.execute(
            select(func.count()).where(m.status == "pending", m.attempts > 0)
        ).scalar_one()
        for status, count in (
            ("pending", counts.get("pending", 0)),
            ("retrying", retrying),
            ("failed", counts.get("failed", 0)),
        ):
            messages.add_metric([status], count)
        yield messages
        e = WEBHOOK_ENDPOINTS.c
        endpoints = GaugeMetricFamily(
            "postroom_webhook_endpoints",
            "Webhook endpoints: enabled, failing (enabled, failed since their last success), "
            "disabled.",
            labels=["state"],
        )
        state = case(
            (e.disabled_at.is_not(None), "disabled"),
            (e.failing_since.is_not(None), "failing"),
            else_="enabled",
        )
        found: dict[str, int] = dict(
            conn.execute(select(state, func.count()).group_by(state)).all()
        )
        for name in ("enabled", "failing", "disabled"):
            endpoints.add_metric([name], found.get(name, 0))
        yield endpoints


class MetricsApp:
    """The ASGI app of ``/metrics`` (no token: bind it where only the scraper reaches, or
    put it behind the proxy's own authentication)."""

    def __init__(self, room: Postroom) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(room))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope)
        response: Response
        if request.method not in ("GET", "HEAD"):
            response = PlainTextResponse("GET only\n", status_code=405, headers={"Allow": "GET"})
        else:
            encoder, content_type = choose_encoder(request.headers.get("accept", ""))
            try:
                body = await run_in_threadpool(encoder, self.registry)
            except StoreError as exc:
                response = PlainTextResponse(f"database unavailable: {exc}\n", status_code=503)
            else:
                response = Response(body, headers={"Content-Type": content_type})
        await response(scope, receive, send)


def build_metrics(room: Postroom, path: str = "/metrics") -> Route:
    """The ``/metrics`` route for the web app."""
    return Route(path, MetricsApp(room))
