"""``room.webhooks``: add, list, test and remove endpoints, and read their messages."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postroom.errors import WebhookError, WebhookFailed
from postroom.store import webhooks as store
from postroom.webhooks.payloads import EVENT_TYPES, TEST_TYPE, encode_body
from postroom.webhooks.signing import decode_secret, new_msg_id, new_secret

if TYPE_CHECKING:
    from postroom.app import Postroom

_SCHEMES = ("http://", "https://")


@dataclass(frozen=True, slots=True)
class TestResult:
    ok: bool
    msg_id: str
    status: int | None
    detail: str


def check_url(url: str) -> str:
    text = url.strip()
    if (
        not text.lower().startswith(_SCHEMES)
        or len(text) > 2000
        or any(c.isspace() or ord(c) < 0x20 for c in text)
    ):
        raise WebhookError(f"{url!r} is not an http(s) URL; give the endpoint's full URL")
    return text


def check_event_types(types: Sequence[str]) -> tuple[str, ...]:
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise WebhookError(f"unknown event type {', '.join(unknown)}: use {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(types))


class Webhooks:
    def __init__(self, room: Postroom) -> None:
        self.room = room

    def add(
        self,
        url: str,
        *,
        events: Sequence[str] = (),
        handler: str | None = None,
        secret: str | None = None,
        description: str = "",
    ) -> store.EndpointRecord:
        """An endpoint for ``events`` (none: every type), or, with ``handler``, the URL that
        serves that module's replies. ``secret``: ``whsec_...`` (default: a new one)."""
        url = check_url(url)
        types = check_event_types(events)
        if handler is not None and types:
            raise WebhookError("an endpoint serves a handler or takes events, not both")
        if handler is not None and handler in self.room.handlers.names():
            raise WebhookError(f"the handler {handler!r} is Python code of this application")
        secret = secret or new_secret()
        try:
            decode_secret(secret)
        except ValueError as exc:
            raise WebhookError(str(exc)) from None
        with self.room.database.transaction() as tx:
            if handler is not None and store.find_handler_endpoint(tx, handler) is not None:
                raise WebhookError(f"the handler {handler!r} is served by a URL already")
            return store.add_endpoint(
                tx,
                url=url,
                secret=secret,
                event_types=types,
                handler=handler,
                description=description,
                now=self.room.clock(),
            )

    def list(self) -> list[store.EndpointRecord]:
        with self.room.database.transaction() as tx:
            return store.list_endpoints(tx)

    def get(self, endpoint_id: int) -> store.EndpointRecord | None:
        with self.room.database.transaction() as tx:
            return store.get_endpoint(tx, endpoint_id)

    def remove(self, endpoint_id: int) -> bool:
        with self.room.database.transaction() as tx:
            return store.delete_endpoint(tx, endpoint_id)

    def enable(self, endpoint_id: int) -> bool:
        """Deliver to a disabled endpoint again (events from now on)."""
        with self.room.database.transaction() as tx:
            return store.enable_endpoint(tx, endpoint_id)

    def messages(
        self,
        endpoint_id: int,
        *,
        status: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> builtins.list[store.MessageRecord]:
        with self.room.database.transaction() as tx:
            return store.list_messages(tx, endpoint_id, status=status, before=before, limit=limit)

    def test(self, endpoint_id: int) -> TestResult:
        """POST a signed ``test`` message to the endpoint now and say what it answered (it
        is not stored, and not retried)."""
        from postroom.webhooks.delivery import build_request, post

        endpoint = self.get(endpoint_id)
        if endpoint is None:
            raise WebhookError(f"there is no webhook endpoint #{endpoint_id}")
        now = self.room.clock()
        payload = {
            "type": TEST_TYPE,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"endpoint_id": endpoint.id},
        }
        msg_id = new_msg_id()
        request = build_request(
            endpoint.url, endpoint.secret, msg_id, encode_body(payload), self.room
        )
        try:
            response = post(self.room, request)
        except WebhookFailed as exc:
            return TestResult(False, msg_id, None, str(exc))
        detail = f"answered {response.status}"
        return TestResult(response.ok, msg_id, response.status, detail)
