"""The transport seam for the few emails postroom writes itself (error emails to senders).

:class:`SmtpTransport` hands mail to an SMTP server, :class:`OutboxTransport` writes ``.eml``
files to a folder (the local mail catcher used by the demo), :class:`MemoryTransport` is the
public fake for tests, :class:`NullTransport` drops mail on purpose.
"""

from __future__ import annotations

import os
import threading
import time
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from postroom.errors import PostroomError
from postroom.settings import ErrorMailSettings


class TransportError(PostroomError):
    """The message could not be handed over; the caller records it and moves on."""


class MailTransport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class MemoryTransport:
    """Keeps sent messages in ``self.sent`` (thread-safe)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            self.sent.append(message)


class NullTransport:
    def send(self, message: EmailMessage) -> None:
        return None


class OutboxTransport:
    """Writes each message to ``<folder>/<time>-<n>.eml`` atomically (rename into place)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._count = 0
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._count += 1
            name = f"{time.time_ns()}-{os.getpid()}-{self._count}.eml"
        temp = self.folder / f".{name}.tmp"
        temp.write_bytes(bytes(message))
        temp.replace(self.folder / name)


class SmtpTransport:
    """One SMTP connection per message: error emails are rare and must not hold a socket."""

    def __init__(self, host: str, port: int, username: str = "", password: str = "") -> None:
        self.host, self.port, self.username, self.password = host, port, username, password

    def send(self, message: EmailMessage) -> None:
        import smtplib  # only when an error email goes out by SMTP

        try:
            with smtplib.SMTP(self.host, self.port, timeout=30) as client:
                client.ehlo_or_helo_if_needed()
                if client.has_extn("starttls"):
                    client.starttls()
                if self.username:
                    client.login(self.username, self.password)
                # Null return path (RFC 3834 section 3.3): nothing must bounce back to us.
                to = parseaddr(str(message["To"]))[1]
                client.send_message(message, from_addr="", to_addrs=[to])
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"SMTP {self.host}:{self.port}: {exc}") from exc


def transport_from_settings(settings: ErrorMailSettings) -> MailTransport:
    if settings.transport == "smtp":
        return SmtpTransport(
            settings.smtp_host, settings.smtp_port, settings.smtp_username, settings.smtp_password
        )
    if settings.transport == "outbox":
        return OutboxTransport(settings.outbox_dir)
    return NullTransport()
