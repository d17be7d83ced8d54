"""A loopback TCP proxy in front of an IMAP server that records the commands clients send.

Tests point an account's IMAP port at it and count, per connection, the tagged commands sent
after the login succeeded: the count is taken on the wire, whatever the client library does
behind its methods (a CAPABILITY it sends by itself counts too).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass, field

# imaplib's tags: four letters A-P and a number (imaplib.Int2AP), then the command.
_TAGGED = re.compile(rb"^[A-P]{4}\d+ (UID [A-Z]+|[A-Z]+)")


@dataclass
class ProxiedConnection:
    lines: list[bytes] = field(default_factory=list)

    def commands(self) -> list[str]:
        out = []
        for line in self.lines:
            match = _TAGGED.match(line)
            if match:
                out.append(match[1].decode())
        return out

    def after_login(self) -> list[str]:
        names = self.commands()
        for index, name in enumerate(names):
            if name in ("LOGIN", "AUTHENTICATE"):
                return names[index + 1 :]
        return names


class ImapProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.connections: list[ProxiedConnection] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            record = ProxiedConnection()
            self.connections.append(record)
            threading.Thread(
                target=self._pump, args=(client, upstream, record), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, record: ProxiedConnection | None
    ) -> None:
        buffer = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if record is not None:
                    buffer += data
                    *lines, buffer = buffer.split(b"\n")
                    record.lines.extend(lines)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self._server.close()
