"""postroom: a self-hosted two-way email engine.

The library API: a :class:`Postroom` object holds an application's handlers and issues reply
addresses; handlers receive typed :class:`Reply` values and may raise :class:`Reject`.

Names are imported on first use, so that commands which need no database (``postroom
classify``, ``postroom extract``, ``--help``) start without loading SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postroom.app import DigestEntry, IssuedAddress, IssuedDigest, Postroom
    from postroom.compose.email import Email, Inline, Recipient, ReplyAddress, ReplyTo, Track
    from postroom.errors import PostroomError, Reject
    from postroom.inbound.types import Attachment, InboundResult, Outcome, Reply
    from postroom.sending import EmailState, SendResult, Skipped
    from postroom.settings import Settings, load_settings

_HOMES = {
    "DigestEntry": "postroom.app",
    "IssuedAddress": "postroom.app",
    "IssuedDigest": "postroom.app",
    "Postroom": "postroom.app",
    "Email": "postroom.compose.email",
    "Inline": "postroom.compose.email",
    "Recipient": "postroom.compose.email",
    "ReplyAddress": "postroom.compose.email",
    "ReplyTo": "postroom.compose.email",
    "Track": "postroom.compose.email",
    "EmailState": "postroom.sending",
    "SendResult": "postroom.sending",
    "Skipped": "postroom.sending",
    "PostroomError": "postroom.errors",
    "Reject": "postroom.errors",
    "Attachment": "postroom.inbound.types",
    "InboundResult": "postroom.inbound.types",
    "Outcome": "postroom.inbound.types",
    "Reply": "postroom.inbound.types",
    "Settings": "postroom.settings",
    "load_settings": "postroom.settings",
}

__all__ = [
    "Attachment",
    "DigestEntry",
    "Email",
    "EmailState",
    "InboundResult",
    "Inline",
    "IssuedAddress",
    "IssuedDigest",
    "Outcome",
    "Postroom",
    "PostroomError",
    "Recipient",
    "Reject",
    "Reply",
    "ReplyAddress",
    "ReplyTo",
    "SendResult",
    "Settings",
    "Skipped",
    "Track",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'postroom' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
