"""Events delivered to a real HTTP server on loopback, on SQLite and PostgreSQL: signed and
verified with the helper, a failing endpoint retried until it takes every message, each
event delivered once by its id, and an endpoint failing for days disabled with an event."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import Clock
from postroom.app import Postroom
from postroom.store import webhooks as store
from postroom.store.models import EventRow, JobRow, WebhookMessageRow
from postroom.webhooks import verify
from postroom.webhooks.delivery import fan_out
from support.messages import bounce, reply
from support.webhooks import WebhookReceiver


def make_events(room: Postroom, opens: int = 3) -> list[int]:
    """A reply and a bounce through the pipeline, and opens as the sink records them."""
    issued = room.create_session("forum", 7, {"topic": 1}, address="ada@example.net")
    room.receive(reply(issued.address), recipients=[issued.address])
    room.receive(bounce(issued.address), recipients=[issued.address])
    with room.database.transaction() as tx:
        for n in range(opens):
            store.add_event(tx, type="opened", now=room.clock(), data={"label": "human", "n": n})
        ids = [row.id for row in tx.execute(select(EventRow.id).order_by(EventRow.id))]
    return ids


def event_types(room: Postroom) -> dict[int, str]:
    with room.database.transaction() as tx:
        return dict(tx.execute(select(EventRow.id, EventRow.type)).all())


def test_signed_events_are_retried_until_taken_and_each_delivered_once(
    room: Postroom, clock: Clock
) -> None:
    with WebhookReceiver() as receiver:
        endpoint = room.webhooks.add(receiver.url, description="the app")
        receiver.check = lambda headers, body: verify(endpoint.secret, headers, body, now=clock())
        events = make_events(room)
        assert sorted(event_types(room).values()) == [
            "bounced",
            "opened",
            "opened",
            "opened",
            "replied",
        ]
        # The endpoint fails its first six POSTs: some messages fail more than once.
        receiver.script(500, 503, (429, b"", {"Retry-After": "60"}), 500, 502, 500)
        worker = room.worker()
        worker.drain()
        rounds = 0
        while any(m.status == "pending" for m in room.webhooks.messages(endpoint.id)):
            rounds += 1
            assert rounds < 10, receiver.requests
            clock.advance(hours=1)
            worker.drain()

    assert all(r.error is None for r in receiver.requests), receiver.requests
    assert len(receiver.requests) == len(events) + 6
    taken = Counter(r.headers["webhook-id"] for r in receiver.requests if r.status < 300)
    posted = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(taken) == len(events) and set(taken.values()) == {1}
    assert set(posted) == set(taken)  # every retry carried its message's own id
    assert max(posted.values()) >= 2
    # The bodies are the events, every one of them once.
    delivered = [r.payload for r in receiver.requests if r.status < 300]
    assert sorted(p["data"]["id"] for p in delivered) == events
    types = event_types(room)
    for payload in delivered:
        assert payload["type"] == types[payload["data"]["id"]]
    replied = next(p for p in delivered if p["type"] == "replied")
    assert replied["data"]["user_id"] == 7 and replied["data"]["inbound_id"]
    # The outbox agrees with what the server saw.
    messages = room.webhooks.messages(endpoint.id)
    assert {m.status for m in messages} == {"delivered"}
    assert {m.msg_id: m.attempts for m in messages} == dict(posted)
    assert room.webhooks.get(endpoint.id).failing_since is None  # type: ignore[union-attr]


def test_fanning_out_again_queues_nothing_twice_and_only_what_is_subscribed(
    room: Postroom,
) -> None:
    bounces = room.webhooks.add("http://127.0.0.1:9/b", events=["bounced", "replied"])
    everything = room.webhooks.add("http://127.0.0.1:9/all")
    make_events(room)
    late = room.webhooks.add("http://127.0.0.1:9/late")  # only events from now on
    assert fan_out(room) == 2 + 5
    assert fan_out(room) == 0
    with room.database.transaction() as tx:
        store.add_event(tx, type="bounced", now=room.clock(), data={})
    assert fan_out(room) == 3
    with room.database.transaction() as tx:
        counted = dict(
            tx.execute(
                select(WebhookMessageRow.endpoint_id, func.count()).group_by(
                    WebhookMessageRow.endpoint_id
                )
            ).all()
        )
        jobs = tx.execute(select(func.count()).where(JobRow.kind == "webhook")).scalar()
    assert counted == {bounces.id: 3, everything.id: 6, late.id: 1}
    assert jobs == 10
    types = {m.event_type for m in room.webhooks.messages(bounces.id)}
    assert types == {"bounced", "replied"}


def test_an_endpoint_failing_for_days_is_disabled_with_an_event(
    room: Postroom, clock: Clock
) -> None:
    with WebhookReceiver() as broken, WebhookReceiver() as operator:
        failing = room.webhooks.add(broken.url)
        watcher = room.webhooks.add(operator.url, events=["webhook_disabled"])
        broken.default = 500
        make_events(room, opens=1)
        worker = room.worker()
        worker.drain()
        days = 0
        while room.webhooks.get(failing.id).disabled_at is None:  # type: ignore[union-attr]
            days += 1
            assert days <= 7
            clock.advance(days=1)
            worker.drain()
        assert days >= 5  # webhooks.disable_after: 5 days of failing
        worker.drain()  # the event saying so reaches the endpoint that subscribes to it

    endpoint = room.webhooks.get(failing.id)
    assert endpoint is not None and endpoint.disabled_reason
    assert "has taken no message since" in endpoint.disabled_reason
    assert {m.status for m in room.webhooks.messages(failing.id)} == {"failed"}
    [notice] = [r.body for r in operator.requests]
    assert b'"type":"webhook_disabled"' in notice and str(failing.id).encode() in notice
    assert room.webhooks.get(watcher.id).disabled_at is None  # type: ignore[union-attr]
    # Nothing more goes to the disabled endpoint.
    posts = len(broken.requests)
    make_events(room, opens=1)
    clock.advance(days=1)
    worker.drain()
    assert len(broken.requests) == posts


def test_410_gone_disables_the_endpoint_at_once(room: Postroom) -> None:
    with WebhookReceiver() as receiver:
        endpoint = room.webhooks.add(receiver.url)
        receiver.default = 410
        make_events(room, opens=0)
        room.worker().drain()
    record = room.webhooks.get(endpoint.id)
    assert record is not None and record.disabled_reason is not None
    assert "410" in record.disabled_reason
    assert len(receiver.requests) == 1  # the other message failed without a POST
    assert {m.status for m in room.webhooks.messages(endpoint.id)} == {"failed"}
    assert room.events(type="webhook_disabled")


def test_an_endpoint_that_cannot_be_reached_is_retried(room: Postroom, clock: Clock) -> None:
    with WebhookReceiver() as receiver:
        url = receiver.url
    endpoint = room.webhooks.add(url)  # nothing listens there any more
    make_events(room, opens=0)
    room.worker().drain()
    [first, second] = room.webhooks.messages(endpoint.id)
    assert (first.status, first.attempts, second.attempts) == ("pending", 1, 1)
    assert first.last_error and "failed" in first.last_error
    with room.database.transaction() as tx:
        due = tx.execute(select(JobRow.run_at).where(JobRow.kind == "webhook")).scalars().all()
    assert all(clock() + timedelta(seconds=5) <= t <= clock() + timedelta(seconds=6) for t in due)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_every_2xx_delivers(room: Postroom, status: int) -> None:
    with WebhookReceiver() as receiver:
        endpoint = room.webhooks.add(receiver.url)
        receiver.default = status
        make_events(room, opens=0)
        room.worker().drain()
    assert {m.status for m in room.webhooks.messages(endpoint.id)} == {"delivered"}


def test_the_cursor_waits_at_a_young_gap_in_the_ids() -> None:
    from types import SimpleNamespace

    from conftest import Clock as C

    now = C().now
    young = [SimpleNamespace(id=i, occurred_at=now) for i in (11, 12, 14, 15)]
    assert store._cursor_end(10, young, now) == 12
    old = [SimpleNamespace(id=i, occurred_at=now - store.GAP_WAIT) for i in (11, 12, 14, 15)]
    assert store._cursor_end(10, old, now) == 15


def test_a_running_worker_fans_out_and_delivers_by_itself(room: Postroom, clock: Clock) -> None:
    import threading

    with WebhookReceiver() as receiver:
        endpoint = room.webhooks.add(receiver.url)
        receiver.check = lambda headers, body: verify(endpoint.secret, headers, body, now=clock())
        worker = room.worker(poll_interval=0.05)
        thread = threading.Thread(target=worker.run, kwargs={"signals": False})
        thread.start()
        try:
            make_events(room, opens=1)
            arrived = receiver.wait_for(3)
        finally:
            worker.stop()
            thread.join()
    assert sorted(r.payload["type"] for r in arrived) == ["bounced", "opened", "replied"]
    assert all(r.error is None for r in arrived)


def test_the_daily_prune_removes_old_finished_messages(room: Postroom, clock: Clock) -> None:
    from postroom.jobs.registry import JobContext, run_prune

    with WebhookReceiver() as receiver:
        endpoint = room.webhooks.add(receiver.url)
        make_events(room, opens=0)
        receiver.script(500)
        room.worker().drain()
    states = sorted(m.status for m in room.webhooks.messages(endpoint.id))
    assert states == ["delivered", "pending"]
    clock.advance(days=40)  # past sessions.prune_after (a month)
    run_prune(JobContext(room, clock(), 1), {})
    assert [m.status for m in room.webhooks.messages(endpoint.id)] == ["pending"]


def test_workers_fanning_out_at_once_queue_each_event_once(room: Postroom) -> None:
    from concurrent.futures import ThreadPoolExecutor

    endpoints = [room.webhooks.add(f"http://127.0.0.1:9/{n}").id for n in range(3)]
    with room.database.transaction() as tx:
        for n in range(1200):  # more than one batch per endpoint
            store.add_event(tx, type="opened", now=room.clock(), data={"n": n})
    with ThreadPoolExecutor(4) as pool:
        queued = sum(pool.map(lambda _: fan_out(room), range(4)))
    with room.database.transaction() as tx:
        rows = tx.execute(
            select(
                WebhookMessageRow.endpoint_id,
                func.count(),
                func.count(func.distinct(WebhookMessageRow.event_id)),
            ).group_by(WebhookMessageRow.endpoint_id)
        ).all()
        jobs = tx.execute(select(func.count()).where(JobRow.kind == "webhook")).scalar()
    assert queued == 3 * 1200 == jobs
    assert sorted(tuple(r) for r in rows) == [(e, 1200, 1200) for e in endpoints]


def test_a_full_batch_behind_a_young_gap_waits_without_spinning(room: Postroom) -> None:
    endpoint = room.webhooks.add("http://127.0.0.1:9/gap")
    with room.database.transaction() as tx:
        for n in range(store.FANOUT_BATCH + 10):
            store.add_event(tx, type="opened", now=room.clock(), data={"n": n})
        # A gap right after the cursor: an id handed out to a transaction not committed yet.
        tx.execute(EventRow.__table__.delete().where(EventRow.id == endpoint.cursor + 1))
    queued = fan_out(room)  # returns: the young gap holds the cursor, nothing loops
    assert queued == store.FANOUT_BATCH
    assert room.webhooks.get(endpoint.id).cursor == endpoint.cursor  # type: ignore[union-attr]
    assert fan_out(room) == 0
