"""How a server worker hands hits to the event sink.

:class:`SocketRecorder` sends them to the sink process of ``postroom serve`` over its Unix
socket. Lines recorded while a request is handled are gathered and sent once per turn of the
event loop (``call_soon``), so under load one ``send`` carries many hits and the request path
pays a list append, not a system call. :class:`~postroom.tracking.sink.ThreadSink` is the
same interface on a thread of this process.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Protocol

log = logging.getLogger("postroom.tracking")


class Recorder(Protocol):
    def record(self, line: str) -> None: ...

    def close(self) -> None: ...


class SocketRecorder:
    def __init__(self, path: str) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._buffer: list[str] = []
        self._scheduled = False
        self.lost = 0

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            sock.connect(self.path)
            self._sock = sock
        return self._sock

    def record(self, line: str) -> None:
        self._buffer.append(line)
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._send)
            except RuntimeError:  # no loop (a synchronous caller): send now
                self._send()

    def _send(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = "".join(self._buffer).encode("utf-8")
        count = len(self._buffer)
        self._buffer = []
        for attempt in (1, 2):
            try:
                self._connect().sendall(data)
                return
            except OSError as exc:
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None
                if attempt == 2:
                    self.lost += count
                    log.error(
                        "event sink unreachable at %s, %d hits lost: %s", self.path, count, exc
                    )

    def close(self) -> None:
        self._send()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
