"""Webhooks on the durable queue.

``fan_out(room)`` (the worker runs it every ``webhooks.fanout_interval``): new events become
one message per subscribed endpoint (:mod:`postroom.store.webhooks`), each with a
``webhook`` job. The job POSTs the message signed (:mod:`.signing`); a 2xx delivers it,
anything else is retried on the Standard Webhooks schedule (:data:`.payloads.RETRY_SCHEDULE`,
never sooner than a ``Retry-After``). An endpoint that answers ``410 Gone``, or has not taken
a message for ``webhooks.disable_after`` (5 days), is disabled: its pending messages fail and
a ``webhook_disabled`` event says so (other endpoints may subscribe to it).

``handler-retry`` (payload ``inbound_id``): a reply whose module is served by a URL that did
not take it is kept as ``failed`` and replayed through the pipeline by this job, on the same
schedule, until the endpoint takes it, rejects it, or ``disable_after`` has passed (then the
message stays for ``postroom replay``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from postroom.errors import WebhookFailed
from postroom.jobs.registry import JobContext, RetryLater
from postroom.store import webhooks as store
from postroom.webhooks.payloads import encode_body, retry_after_of, retry_delay
from postroom.webhooks.signing import signed_headers
from postroom.webhooks.transport import WebhookRequest, WebhookResponse

if TYPE_CHECKING:
    from postroom.app import Postroom
    from postroom.jobs.registry import JobRegistry

log = logging.getLogger("postroom.webhooks")

HANDLER_RETRY = "handler-retry"
#: Not the reply's own retry: the message failed for another reason (a handler bug).
WEBHOOK_FAILURE = "webhook: "


def fan_out(room: Postroom) -> int:
    """Queue every new event for every endpoint that subscribes to it; returns how many."""
    total = 0
    with room.database.transaction() as tx:
        endpoint_ids = store.event_endpoint_ids(tx)
    for endpoint_id in endpoint_ids:
        while True:
            with room.database.transaction() as tx:
                queued, more = store.fan_out_endpoint(tx, endpoint_id, now=room.clock())
            total += queued
            if not more:
                break
    return total


def build_request(
    url: str, secret: str, msg_id: str, body: bytes, room: Postroom
) -> WebhookRequest:
    headers = signed_headers(secret, msg_id, room.clock(), body)
    return WebhookRequest(url, (*headers.items(), ("Content-Type", "application/json")), body)


def post(room: Postroom, request: WebhookRequest) -> WebhookResponse:
    timeout = room.settings.webhooks.timeout.total_seconds()
    return room.webhook_transport.post(request, timeout=timeout)


def run_delivery(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    """The ``webhook`` job: POST one message to its endpoint."""
    room = ctx.room
    message_id = int(payload["message_id"])
    with room.database.transaction() as tx:
        message = store.get_message(tx, message_id)
        endpoint = store.get_endpoint(tx, message.endpoint_id) if message else None
    if message is None or endpoint is None or message.status != store.PENDING:
        return  # delivered already, failed, or its endpoint was removed
    if endpoint.disabled_at is not None:
        with room.database.transaction() as tx:
            store.fail_message(tx, message.id, "endpoint disabled")
        return
    request = build_request(
        endpoint.url, endpoint.secret, message.msg_id, encode_body(message.payload), room
    )
    status: int | None = None
    retry_after = None
    try:
        response = post(room, request)
        status = response.status
        if response.ok:
            with room.database.transaction() as tx:
                store.record_delivered(tx, message, status=status, now=room.clock())
            return
        error = f"answered {status}"
        retry_after = retry_after_of(response.retry_after, room.clock())
    except WebhookFailed as exc:
        error = str(exc)
    now = room.clock()
    with room.database.transaction() as tx:
        since = store.record_failed_attempt(tx, message, status=status, error=error, now=now)
        reason = None
        if status == 410:
            reason = f"{endpoint.url} answered 410 Gone"
        elif now - since >= room.settings.webhooks.disable_after:
            reason = f"{endpoint.url} has taken no message since {since.isoformat()} ({error})"
        if reason is not None and store.disable_endpoint(tx, endpoint.id, reason=reason, now=now):
            store.add_event(
                tx,
                type="webhook_disabled",
                now=now,
                data={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason},
            )
            log.warning("webhook endpoint #%d disabled: %s", endpoint.id, reason)
    if reason is not None:
        return
    raise RetryLater(
        f"webhook {message.msg_id} to {endpoint.url}: {error}",
        retry_delay(ctx.attempts, ctx.rng, retry_after),
    )


def run_handler_retry(ctx: JobContext, payload: Mapping[str, Any]) -> None:
    """The ``handler-retry`` job: replay a reply whose module's URL did not take it."""
    from postroom.inbound.types import Outcome
    from postroom.store import repos

    room = ctx.room
    inbound_id = int(payload["inbound_id"])
    with room.database.transaction() as tx:
        row = repos.get_inbound(tx, inbound_id)
        if row is None or row.status != "failed":
            return  # replayed by hand meanwhile, or pruned
        received_at = row.received_at
    result = room.replay(inbound_id)
    if result.outcome is not Outcome.FAILED or not result.detail.startswith(WEBHOOK_FAILURE):
        return
    if room.clock() - received_at >= room.settings.webhooks.disable_after:
        log.warning(
            "reply #%d given up after %s: %s",
            inbound_id,
            room.settings.webhooks.disable_after,
            result.detail,
        )
        return
    raise RetryLater(result.detail, retry_delay(ctx.attempts, ctx.rng))


def register(registry: JobRegistry) -> None:
    registry.add(store.DELIVER, run_delivery)
    registry.add(HANDLER_RETRY, run_handler_retry)
