"""Error emails in tests: the inbound pipeline queues them; the worker sends them."""

from __future__ import annotations

from email.message import EmailMessage

from postroom.app import Postroom
from postroom.mailer import MemoryTransport


def delivered(room: Postroom, transport: MemoryTransport) -> list[EmailMessage]:
    """What the error-mail transport got, once the worker has run the queued notice jobs."""
    room.worker().run_jobs(limit=1000)
    return transport.sent
