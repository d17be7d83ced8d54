"""The catcher's SMTP server (aiosmtpd, RFC 5321): every message handed to it is kept in
``catcher_messages``, once per envelope recipient, and nothing is relayed anywhere.

``Catcher(room, host, port)`` with ``start()`` and ``stop()`` runs it on its own thread, for
``postroom serve`` and for tests; it listens on loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from postroom.catcher.mail import summarise
from postroom.errors import CatcherError, StoreError
from postroom.store import catcher as store

if TYPE_CHECKING:
    from postroom.app import Postroom

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525


class _Keep:
    """aiosmtpd handler: store the message for each recipient, answer 250 with the ids."""

    def __init__(self, room: Postroom) -> None:
        self.room = room

    def _store(self, mail_from: str, recipients: list[str], raw: bytes) -> list[int]:
        summary = summarise(raw)
        now: datetime = self.room.clock()
        with self.room.database.transaction() as tx:
            return [
                store.insert_caught(
                    tx,
                    received_at=now,
                    mail_from=mail_from,
                    recipient=rcpt,
                    message_id=summary.message_id,
                    subject=summary.subject,
                    from_header=summary.from_header,
                    raw=raw,
                )
                for rcpt in recipients
            ]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw: bytes = (
            content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        )
        loop = asyncio.get_running_loop()
        try:
            ids = await loop.run_in_executor(
                None, self._store, envelope.mail_from or "", list(envelope.rcpt_tos), raw
            )
        except StoreError as exc:
            return f"451 4.3.0 the catcher cannot store the message now: {exc}"
        return f"250 2.0.0 caught as #{', #'.join(map(str, ids))}"


class Catcher:
    """The local mail catcher's SMTP server for ``room``'s database."""

    def __init__(
        self, room: Postroom, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **smtp: Any
    ) -> None:
        self.room = room
        self.host = host
        self.port = port
        limit = room.settings.max_message_bytes
        self._controller = Controller(
            _Keep(room),
            hostname=host,
            port=port,
            ready_timeout=10,
            server_hostname="catcher.localhost",
            data_size_limit=limit,
            **smtp,
        )
        self.running = False

    def start(self) -> None:
        """Listen (returns once the server answers); CatcherError when the port is taken."""
        with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                taken = exc.errno == errno.EADDRINUSE
                raise CatcherError(
                    f"the mail catcher cannot listen on {self.host}:{self.port}: "
                    + ("the port is in use; choose another one" if taken else str(exc))
                ) from exc
        self._controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False

    def __enter__(self) -> Catcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
