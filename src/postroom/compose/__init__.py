"""Building MIME and personalising it per recipient. No I/O.

:func:`build_template` turns an :class:`Email` into a :class:`Template` once; the template
makes each recipient's copy with :meth:`Template.personalise` and the sender's Sent-folder
version with :meth:`Template.clean_copy`. ``docs/compose.md`` describes the whole of it.

Names are imported on first use: the inbound side reads only :mod:`.markers`, and the MTA
pipe should not pay for the MIME builder it never runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postroom.compose.addressing import Address, Addressee, Mailbox, Role
    from postroom.compose.email import (
        NO_TRACKING,
        Attachment,
        Email,
        Inline,
        Recipient,
        ReplyAddress,
        ReplyTo,
        Track,
    )
    from postroom.compose.links import PLACEHOLDER, TRACK_ATTRIBUTE
    from postroom.compose.template import (
        ComposeOptions,
        CopyValues,
        Template,
        Unsubscribe,
        build_template,
        pixel_html,
    )

_HOMES = {
    **dict.fromkeys(("Address", "Addressee", "Mailbox", "Role"), "postroom.compose.addressing"),
    **dict.fromkeys(
        (
            "NO_TRACKING",
            "Attachment",
            "Email",
            "Inline",
            "Recipient",
            "ReplyAddress",
            "ReplyTo",
            "Track",
        ),
        "postroom.compose.email",
    ),
    **dict.fromkeys(("PLACEHOLDER", "TRACK_ATTRIBUTE"), "postroom.compose.links"),
    **dict.fromkeys(
        (
            "ComposeOptions",
            "CopyValues",
            "Template",
            "Unsubscribe",
            "build_template",
            "pixel_html",
        ),
        "postroom.compose.template",
    ),
}

__all__ = [
    "NO_TRACKING",
    "PLACEHOLDER",
    "TRACK_ATTRIBUTE",
    "Address",
    "Addressee",
    "Attachment",
    "ComposeOptions",
    "CopyValues",
    "Email",
    "Inline",
    "Mailbox",
    "Recipient",
    "ReplyAddress",
    "ReplyTo",
    "Role",
    "Template",
    "Track",
    "Unsubscribe",
    "build_template",
    "pixel_html",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'postroom.compose' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
