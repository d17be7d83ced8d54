"""Signed reply and bounce addresses: versioned, key-rotating, case-insensitive, <= 64 characters.

Sans-IO: the codec takes strings and a :class:`Keyring` and returns typed tokens; looking up the
email session a reply token names is left to the caller. See ``docs/addresses.md`` for the layout
and length budget (RFC 5321 §4.5.3.1.1), the base32 alphabet (RFC 4648) and the HMAC (RFC 2104).
"""

from __future__ import annotations

import secrets

from postroom.addresses.codec import MAX_LOCAL_PART, AddressCodec
from postroom.addresses.formats import (
    AddressFormat,
    BounceToken,
    FormatRegistry,
    FormatV1,
    ReplyToken,
    default_registry,
)
from postroom.addresses.keys import AddressKey, Keyring, generate_secret

SESSION_KEY_BYTES = 8


def new_session_key() -> bytes:
    """Return a fresh random 64-bit session key (never a database row id)."""
    return secrets.token_bytes(SESSION_KEY_BYTES)


__all__ = [
    "MAX_LOCAL_PART",
    "SESSION_KEY_BYTES",
    "AddressCodec",
    "AddressFormat",
    "AddressKey",
    "BounceToken",
    "FormatRegistry",
    "FormatV1",
    "Keyring",
    "ReplyToken",
    "default_registry",
    "generate_secret",
    "new_session_key",
]
