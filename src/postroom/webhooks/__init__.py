"""Webhooks: events (and the replies of modules served by a URL) POSTed to applications in
any language, signed the Standard Webhooks way. See docs/webhooks.md.

A receiver in Python verifies a delivery with :func:`verify`::

    from postroom.webhooks import verify

    event = verify(secret, request.headers, request.body)   # WebhookVerificationError if not
"""

from postroom.webhooks.payloads import EVENT_TYPES, REPLY_TYPE, TEST_TYPE
from postroom.webhooks.signing import new_secret, sign, verify
from postroom.webhooks.transport import (
    MemoryWebhookTransport,
    UrllibWebhookTransport,
    WebhookRequest,
    WebhookResponse,
    WebhookTransport,
)

__all__ = [
    "EVENT_TYPES",
    "REPLY_TYPE",
    "TEST_TYPE",
    "MemoryWebhookTransport",
    "UrllibWebhookTransport",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookTransport",
    "new_secret",
    "sign",
    "verify",
]
