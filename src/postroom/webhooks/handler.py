"""A module served by a URL instead of Python code.

An endpoint with ``handler`` set (``postroom webhooks add URL --handler NAME``) stands for
the handler ``NAME``: its replies are POSTed there, signed like every webhook, as
``{"type": "reply", "timestamp": ..., "data": {...}}`` (:func:`.payloads.reply_payload`).
A 2xx accepts the reply; a JSON answer ``{"reject": "<code>", "explanation": "..."}`` is a
:class:`~postroom.errors.Reject` (the sender gets the error email with the explanation);
anything else raises :class:`~postroom.errors.WebhookFailed`: the pipeline keeps the message
as ``failed`` and the ``handler-retry`` job replays it (:mod:`.delivery`).

The ``webhook-id`` of a reply is derived from the endpoint's key and the inbound message's
id, so every retry of one reply carries the same idempotency key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from postroom.errors import Reject
from postroom.handlers import HandlerSpec, module_id_for
from postroom.inbound.types import Reply
from postroom.webhooks.payloads import encode_body, read_handler_answer, reply_payload
from postroom.webhooks.signing import decode_secret, new_msg_id, signed_headers
from postroom.webhooks.transport import WebhookRequest, WebhookTransport


def reply_msg_id(secret: str, inbound_id: int | None) -> str:
    if inbound_id is None:
        return new_msg_id()
    tag = hmac.new(decode_secret(secret), b"reply:%d" % inbound_id, hashlib.sha256).digest()
    return "msg_" + base64.urlsafe_b64encode(tag[:16]).decode().rstrip("=")


class UrlHandler:
    """The handler function of a module served by ``url`` (a :class:`HandlerSpec`'s func)."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        transport: WebhookTransport,
        timeout: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.url = url
        self.secret = secret
        self.transport = transport
        self.timeout = timeout
        self.clock = clock

    def __call__(self, reply: Reply) -> None:
        now = self.clock()
        body = encode_body(reply_payload(reply, now=now))
        headers = signed_headers(
            self.secret, reply_msg_id(self.secret, reply.inbound_id), now, body
        )
        request = WebhookRequest(
            self.url, (*headers.items(), ("Content-Type", "application/json")), body
        )
        response = self.transport.post(request, timeout=self.timeout)
        rejection = read_handler_answer(response.status, response.body)
        if rejection is not None:
            raise Reject(rejection.code, rejection.explanation)


def url_handler_spec(
    name: str,
    url: str,
    secret: str,
    *,
    transport: WebhookTransport,
    timeout: float,
    clock: Callable[[], datetime],
) -> HandlerSpec:
    return HandlerSpec(
        name=name,
        module=module_id_for(name),
        func=UrlHandler(url, secret, transport=transport, timeout=timeout, clock=clock),
    )
