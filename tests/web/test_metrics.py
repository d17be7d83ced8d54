"""``/metrics``: the counts of the database in the Prometheus format, parsed back with the
Prometheus client's own parser; the event counters stay exact across scrapes, late commits
and pruned events."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, insert, update
from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.store import Database, open_database, queue, repos
from postroom.store.migrate import upgrade
from postroom.store.models import AccountRow, DeliveryRow, EventRow, JobRow
from postroom.web.metrics import SETTLE, EventTally
from support.messages import reply
from support.sending import queue_copies


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def event(room: Postroom, kind: str, machine: bool | None = None) -> None:
    with room.database.transaction() as tx:
        repos.add_event(tx, type=kind, occurred_at=room.clock(), machine=machine)


def test_the_scrape_reports_what_the_tables_hold(
    client: TestClient, api_room: Postroom, auth: object
) -> None:
    before = scrape(client)
    assert before[("postroom_events_total", (("type", "sent"),))] == 0
    for kind, machine in [
        ("sent", None),
        ("sent", None),
        ("deferred", None),
        ("opened", False),
        ("opened", True),
        ("opened", True),
        ("opened", None),
        ("clicked", False),
        ("bounced", None),
    ]:
        event(api_room, kind, machine)
    now = api_room.clock()
    ids = queue_copies(api_room.database, 1, 3, now=now - timedelta(minutes=10))
    with api_room.database.transaction() as tx:
        queue.enqueue_job(tx, kind="webhook", payload={}, now=now)
        queue.enqueue_job(tx, kind="notice", payload={}, now=now)
        tx.execute(update(JobRow).where(JobRow.kind == "webhook").values(status="failed"))
        tx.execute(update(AccountRow).values(paused_until=now + timedelta(hours=1)))
        repos.suppress_address(
            tx, address="x@example.net", user_id=None, reason="gone", now=now, details={}
        )
        tx.execute(update(DeliveryRow).where(DeliveryRow.id == ids[0]).values(status="deferred"))
    address = api_room.create_session("forum", user=3).address
    client.post(
        "/api/inbound",
        params={"recipient": address},
        headers={**auth("inbound"), "Content-Type": "message/rfc822"},  # type: ignore[operator]
        content=reply(address),
    )

    after = scrape(client)
    assert after[("postroom_events_total", (("type", "sent"),))] == 2
    assert after[("postroom_events_total", (("type", "opened"),))] == 4
    assert after[("postroom_events_total", (("type", "queued"),))] == 0  # queue_copies: none
    assert after[("postroom_events_total", (("type", "replied"),))] == 1
    assert after[("postroom_opens_total", (("by", "human"),))] == 1
    assert after[("postroom_opens_total", (("by", "machine"),))] == 2
    assert after[("postroom_opens_total", (("by", "unjudged"),))] == 1
    assert after[("postroom_clicks_total", (("by", "human"),))] == 1
    assert after[("postroom_inbound_messages", (("outcome", "dispatched"),))] == 1
    assert after[("postroom_queue_depth", (("status", "queued"),))] == 2
    assert after[("postroom_queue_depth", (("status", "deferred"),))] == 1
    assert after[("postroom_queue_oldest_age_seconds", ())] == 600
    assert after[("postroom_jobs", (("kind", "webhook"), ("status", "failed")))] == 1
    assert after[("postroom_jobs", (("kind", "notice"), ("status", "queued")))] == 1
    assert after[("postroom_suppressions", (("reason", "gone"),))] == 1
    assert after[("postroom_accounts_paused", ())] == 1
    webhooks = {k[1][0][1]: v for k, v in after.items() if k[0] == "postroom_webhook_endpoints"}
    assert webhooks == {"enabled": 0, "failing": 0, "disabled": 0}
    assert after[("postroom_webhook_messages", (("status", "pending"),))] == 0

    # An endpoint failing its first delivery: one message retrying, the endpoint failing.
    from postroom.store import webhooks as hooks

    with api_room.database.transaction() as tx:
        endpoint = hooks.add_endpoint(
            tx, url="https://hooks.example.org/", secret="whsec_" + "A" * 32,
            event_types=[], handler=None, description="", now=now,
        )  # fmt: skip
        hooks.add_event(tx, type="bounced", now=now, data={})
    with api_room.database.transaction() as tx:
        hooks.fan_out_endpoint(tx, endpoint.id, now=now)
        [message] = hooks.list_messages(tx, endpoint.id)
        hooks.record_failed_attempt(tx, message, status=503, error="503 Unavailable", now=now)
    failing = scrape(client)
    assert failing[("postroom_webhook_endpoints", (("state", "failing"),))] == 1
    assert failing[("postroom_webhook_messages", (("status", "pending"),))] == 1
    assert failing[("postroom_webhook_messages", (("status", "retrying"),))] == 1
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def add(database: Database, event_id: int, kind: str = "sent") -> None:
    from datetime import UTC, datetime

    with database.connect() as conn:
        conn.execute(
            insert(EventRow).values(id=event_id, type=kind, data={}, occurred_at=datetime.now(UTC))
        )


def test_late_commits_are_counted_and_pruning_never_lowers_a_counter(tmp_path: object) -> None:
    database = open_database(f"sqlite:///{tmp_path}/tally.db")
    upgrade(database)
    ticks = Ticks()
    tally = EventTally(clock=ticks)

    def sent() -> int:
        with database.connect() as conn:
            return tally.counts(conn)[("sent", None)]

    for n in range(1, 11):
        add(database, n)
    assert sent() == 10  # the first scrape counts everything once
    add(database, 20)
    assert sent() == 11
    add(database, 15)  # an id handed out earlier, committed after 20 was seen
    assert sent() == 12
    ticks.now += SETTLE + 1
    assert sent() == 12  # ids up to 20 are final now
    add(database, 21)
    assert sent() == 13
    with database.connect() as conn:
        conn.execute(delete(EventRow).where(EventRow.id <= 10))  # pruned
    assert sent() == 13
    database.dispose()
