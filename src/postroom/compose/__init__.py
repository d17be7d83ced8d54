"""Building MIME and personalising it per recipient. No I/O.

:func:`build_template` turns an :class:`Email` into a :class:`Template` once; the template
makes each recipient's copy with :meth:`Template.personalise` and the sender's Sent-folder
version with :meth:`Template.clean_copy`. ``docs/compose.md`` describes the whole of it.
"""

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
