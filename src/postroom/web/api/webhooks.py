"""``/webhooks``: the endpoints events (or one module's replies) are POSTed to, signed the
Standard Webhooks way: added (the answer shows the secret, once), listed, tested, removed,
enabled again after being disabled, and their messages listed (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from postroom.access.tokens import Scope
from postroom.errors import InvalidRequest, NotFound, WebhookError
from postroom.store import webhooks as store
from postroom.store.keyset import Key
from postroom.web.api.bodies import JsonBody
from postroom.web.api.common import Model, Output, PageQuery, Pages, page_body, start_of
from postroom.web.api.routing import Answer, Call, Endpoint

EVENT_TYPE = "^[a-z_]{1,20}$"


class WebhookIn(Model):
    url: str = Field(min_length=8, max_length=2000, description="http(s) URL to POST to.")
    events: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Event types to receive (empty: every type). Not with handler.",
    )
    handler: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Serve this module's replies at the URL instead of events.",
    )
    secret: str | None = Field(
        None, max_length=200, description="whsec_ and base64 of the key (default: a new one)."
    )
    description: str = Field("", max_length=2000)


class WebhookOut(Output):
    id: int
    url: str
    events: list[str] = Field(description="Empty: every event type.")
    handler: str | None
    description: str
    created_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret; shown here once, keep it.")


class WebhookList(Output):
    items: list[WebhookOut]


class MessageQuery(PageQuery):
    status: Literal["pending", "delivered", "failed"] | None = None


class MessageOut(Output):
    id: int
    msg_id: str = Field(description="The webhook-id header: the idempotency key.")
    event_id: int | None
    event_type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class MessagePage(Pages):
    items: list[MessageOut]


class TestOut(Output):
    ok: bool
    msg_id: str
    status: int | None = Field(description="The HTTP status it answered (null: no answer).")
    detail: str


def _out(record: store.EndpointRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "url": record.url,
        "events": list(record.event_types),
        "handler": record.handler,
        "description": record.description,
        "created_at": record.created_at,
        "failing_since": record.failing_since,
        "disabled_at": record.disabled_at,
        "disabled_reason": record.disabled_reason,
    }


def _load(call: Call) -> store.EndpointRecord:
    endpoint_id = call.id_param("endpoint_id")
    record = call.room.webhooks.get(endpoint_id)
    if record is None:
        raise NotFound(
            f"there is no webhook endpoint #{endpoint_id}; GET {call.link('/webhooks')} lists them"
        )
    return record


def list_webhooks(call: Call) -> Answer:
    """Every webhook endpoint (never its secret)."""
    return Answer(WebhookList(items=[WebhookOut(**_out(r)) for r in call.room.webhooks.list()]))


def add_webhook(call: Call) -> Answer:
    """Add an endpoint for event types, or one that serves a module's replies; the answer
    carries its signing secret, shown this once."""
    body: WebhookIn = call.body
    try:
        record = call.room.webhooks.add(
            body.url,
            events=body.events,
            handler=body.handler,
            secret=body.secret,
            description=body.description,
        )
    except WebhookError as exc:
        raise InvalidRequest(str(exc), problem="invalid-field") from None
    url = call.link(f"/webhooks/{record.id}")
    created = WebhookCreated(**_out(record), secret=record.secret)
    return Answer(created, status=201, headers={"Location": url})


def get_webhook(call: Call) -> Answer:
    """One webhook endpoint (never its secret)."""
    return Answer(WebhookOut(**_out(_load(call))))


def remove_webhook(call: Call) -> Answer:
    """Remove an endpoint and its messages; nothing more is POSTed to it."""
    record = _load(call)
    call.room.webhooks.remove(record.id)
    return Answer(status=204)


def enable_webhook(call: Call) -> Answer:
    """Deliver to a disabled endpoint again, from the events recorded from now on."""
    record = _load(call)
    call.room.webhooks.enable(record.id)
    return Answer(WebhookOut(**_out(_load(call))))


def test_webhook(call: Call) -> Answer:
    """POST a signed ``test`` message to the endpoint now and say what it answered (not
    stored, not retried)."""
    record = _load(call)
    result = call.room.webhooks.test(record.id)
    return Answer(
        TestOut(ok=result.ok, msg_id=result.msg_id, status=result.status, detail=result.detail)
    )


def list_messages(call: Call) -> Answer:
    """The endpoint's messages, newest first: what was sent, how often, and its answer."""
    record = _load(call)
    query: MessageQuery = call.query
    start = start_of(call, "webhook_messages", timed=False)
    rows = call.room.webhooks.messages(
        record.id,
        status=query.status,
        before=start.id if start is not None else None,
        limit=query.limit + 1,
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    items = [MessageOut.model_validate(m) for m in rows]
    key = Key(rows[-1].id) if more and rows else None
    return Answer(MessagePage(**page_body(call, "webhook_messages", items, key)))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/webhooks",
        "listWebhooks",
        "List webhook endpoints",
        list_webhooks,
        Scope.READ,
        "webhooks",
        response=WebhookList,
    ),
    Endpoint(
        "POST",
        "/webhooks",
        "addWebhook",
        "Add a webhook endpoint",
        add_webhook,
        Scope.ADMIN,
        "webhooks",
        body=JsonBody(WebhookIn),
        response=WebhookCreated,
        status=201,
        problems=("invalid-request", "invalid-field", "unsupported-media-type"),
    ),
    Endpoint(
        "GET",
        "/webhooks/{endpoint_id:int}",
        "getWebhook",
        "Read a webhook endpoint",
        get_webhook,
        Scope.READ,
        "webhooks",
        response=WebhookOut,
        problems=("not-found",),
    ),
    Endpoint(
        "DELETE",
        "/webhooks/{endpoint_id:int}",
        "removeWebhook",
        "Remove a webhook endpoint",
        remove_webhook,
        Scope.ADMIN,
        "webhooks",
        status=204,
        problems=("not-found",),
    ),
    Endpoint(
        "POST",
        "/webhooks/{endpoint_id:int}/enable",
        "enableWebhook",
        "Enable a disabled webhook endpoint",
        enable_webhook,
        Scope.ADMIN,
        "webhooks",
        response=WebhookOut,
        problems=("not-found",),
    ),
    Endpoint(
        "POST",
        "/webhooks/{endpoint_id:int}/test",
        "testWebhook",
        "Send a test message to a webhook endpoint",
        test_webhook,
        Scope.ADMIN,
        "webhooks",
        response=TestOut,
        problems=("not-found",),
    ),
    Endpoint(
        "GET",
        "/webhooks/{endpoint_id:int}/messages",
        "listWebhookMessages",
        "List a webhook endpoint's messages",
        list_messages,
        Scope.READ,
        "webhooks",
        query=MessageQuery,
        response=MessagePage,
        problems=("not-found", "invalid-field"),
    ),
)
