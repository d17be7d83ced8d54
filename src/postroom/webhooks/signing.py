"""Standard Webhooks signatures (https://www.standardwebhooks.com/, "Signature scheme"):
pure functions, no I/O.

A message is signed with HMAC-SHA256 (RFC 2104) over ``{webhook-id}.{webhook-timestamp}.{body}``
under the endpoint's key; the ``webhook-signature`` header is ``v1,`` and the base64 of the tag,
several of them separated by spaces while a secret is being rotated. Secrets are shown as
``whsec_`` and the base64 of the key (24 to 64 random bytes; postroom makes 32).

A receiver verifies with :func:`verify`: the timestamp within ``tolerance`` of its clock (a
replayed old request fails), then every ``v1`` signature compared in constant time. The
``webhook-id`` is the idempotency key: a receiver that saw it already answers 2xx and does
nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from postroom.errors import WebhookVerificationError

__all__ = [
    "SECRET_PREFIX",
    "TOLERANCE",
    "SignedHeaders",
    "decode_secret",
    "new_msg_id",
    "new_secret",
    "sign",
    "signed_headers",
    "verify",
]

SECRET_PREFIX = "whsec_"
TOLERANCE = timedelta(minutes=5)
_MIN_KEY, _MAX_KEY = 24, 64


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_msg_id() -> str:
    """A fresh ``webhook-id``: ``msg_`` and 22 characters of randomness (128 bits)."""
    return "msg_" + base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def decode_secret(secret: str) -> bytes:
    """The key of a ``whsec_...`` secret (the prefix is optional, as in the reference
    libraries); ValueError for anything that is not base64 of 24 to 64 bytes."""
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is 'whsec_' and base64 of its key") from None
    if not _MIN_KEY <= len(key) <= _MAX_KEY:
        raise ValueError(
            f"a webhook secret's key is {_MIN_KEY} to {_MAX_KEY} bytes, this one {len(key)}"
        )
    return key


def _tag(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one message: ``v1,<base64 of the HMAC-SHA256>``."""
    return "v1," + _tag(decode_secret(secret), msg_id, timestamp, body)


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The three Standard Webhooks headers of one POST."""

    msg_id: str
    timestamp: int
    signature: str

    def items(self) -> tuple[tuple[str, str], ...]:
        return (
            ("webhook-id", self.msg_id),
            ("webhook-timestamp", str(self.timestamp)),
            ("webhook-signature", self.signature),
        )


def signed_headers(secret: str, msg_id: str, now: datetime, body: bytes) -> SignedHeaders:
    timestamp = int(now.timestamp())
    return SignedHeaders(msg_id, timestamp, sign(secret, msg_id, timestamp, body))


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    now: datetime | None = None,
    tolerance: timedelta = TOLERANCE,
) -> Any:
    """Check a received webhook and return its JSON body.

    ``headers``: the request's headers (any mapping; names in any case). ``body``: the raw
    bytes as received (never re-serialised JSON: one changed space breaks the signature).
    Raises :class:`~postroom.errors.WebhookVerificationError` naming what failed: a header
    missing, a timestamp outside ``tolerance`` of ``now`` (default: the clock), no
    signature that matches.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        key = decode_secret(secret)
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookVerificationError(f"webhook-timestamp {stamp[:20]!r} is no Unix time")
    timestamp = int(stamp)
    current = (now or datetime.now(UTC)).timestamp()
    if timestamp < current - tolerance.total_seconds():
        raise WebhookVerificationError("webhook-timestamp is too old (a replayed request?)")
    if timestamp > current + tolerance.total_seconds():
        raise WebhookVerificationError("webhook-timestamp is in the future")
    expected = _tag(key, msg_id, timestamp, raw).encode("ascii")
    for item in signatures.split(" "):
        version, _, value = item.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode("ascii", "replace"), expected):
            try:
                return json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("the signed body is not JSON") from None
    raise WebhookVerificationError("no webhook-signature matches the body")
