"""The logical email an application hands to ``room.send``, and the per-copy values compose
splices into it. Plain, immutable values: no I/O, no database, no settings.

    Email(
        account="support",
        to=[Recipient("ada@example.net", "Ada Lovelace", user=42)],
        subject="Your ticket",
        text="Hello Ada, ...",
        html="<p>Hello Ada, ...</p>",
        reply=ReplyTo("tickets", data={"ticket": 7}),
    )

One logical email becomes one copy per recipient (To, Cc and Bcc alike). Every copy shows the
same visible headers (From, To, Cc, Date, Subject, MIME-Version, In-Reply-To, References);
what differs per copy is its body (open pixel, tracked links, unsubscribe link), its
Message-ID, its envelope, and, when ``reply`` names a handler, its Reply-To (the one visible
header that then differs: each recipient gets a reply address of their own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient. ``user`` ties the copy to the application's user (bounces, replies and
    suppressions count against it); ``data`` is kept with the copy for the application."""

    address: str
    name: str | None = None
    user: int | None = None
    data: Any = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to the email (``Content-Disposition: attachment``)."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Inline:
    """An image (or other part) the HTML refers to as ``cid:<cid>`` (RFC 2392)."""

    cid: str
    content: bytes
    content_type: str
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Replies go to a handler of the application (the LMS case): every copy gets a session
    and a signed reply address of its own, put in that copy's Reply-To.

    ``data`` is the session data the handler receives with each reply; ``ttl`` and ``uses``
    override the handler's defaults.
    """

    handler: str
    data: Any = None
    ttl: timedelta | None = None
    uses: int | None = None


@dataclass(frozen=True, slots=True)
class ReplyAddress:
    """Replies go to a reply address the application issued already (a digest's, from
    ``room.create_digest``): every copy gets it as its Reply-To. Meant for mail to the one
    user the address was issued for; for several recipients use :class:`ReplyTo`."""

    address: str


@dataclass(frozen=True, slots=True)
class Track:
    """What to track in this email's copies. ``Track(opens=False)`` keeps links tracked but
    adds no pixel; ``track=False`` on the email turns both off."""

    opens: bool = True
    clicks: bool = True


NO_TRACKING = Track(opens=False, clicks=False)


def _tuple(value: Sequence[Any] | None) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        raise TypeError("give a list of recipients, not a single string")
    return tuple(value)


@dataclass(frozen=True)
class Email:
    """One logical email. ``account`` names the sending account (``postroom accounts add``).

    Recipients may be :class:`Recipient` values or plain address strings. ``text`` and
    ``html`` may be given alone or together; with HTML only, a plain-text alternative is
    derived from it. ``headers`` are extra header fields, the same on every copy.

    ``reply``: None sends replies to the sender's own mailbox (no Reply-To is added; replies
    are tied back to the copy by In-Reply-To and References); a :class:`ReplyTo` gives every
    copy its own signed reply address; a :class:`ReplyAddress` puts an address issued already
    (a digest's) on every copy. ``track``: True, False or a :class:`Track`.
    ``bulk`` marks list or marketing mail: List-Unsubscribe (mailto: and https, RFC 2369)
    and List-Unsubscribe-Post (RFC 8058) are added. ``notification`` marks mail a program
    sent on its own: ``Auto-Submitted: auto-generated`` (RFC 3834 section 5).
    """

    account: str
    to: Sequence[Recipient | str] = ()
    cc: Sequence[Recipient | str] = ()
    bcc: Sequence[Recipient | str] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: Sequence[Attachment] = ()
    inline: Sequence[Inline] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    reply: ReplyTo | ReplyAddress | None = None
    track: Track | bool = True
    bulk: bool = False
    notification: bool = False

    def __post_init__(self) -> None:
        for name in ("to", "cc", "bcc", "attachments", "inline", "references"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        object.__setattr__(self, "headers", dict(self.headers))

    @property
    def tracking(self) -> Track:
        if self.track is True:
            return Track()
        if self.track is False:
            return NO_TRACKING
        return self.track

    def recipients(self) -> tuple[tuple[str, Recipient], ...]:
        """Every recipient with its role (``to``, ``cc``, ``bcc``), in that order."""
        out: list[tuple[str, Recipient]] = []
        for role in ("to", "cc", "bcc"):
            for item in getattr(self, role):
                out.append((role, item if isinstance(item, Recipient) else Recipient(item)))
        return tuple(out)
