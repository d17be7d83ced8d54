"""How a server worker hands hits to the event sink.

:class:`SocketRecorder` sends them to the sink of ``postroom serve`` over its Unix socket.
Lines recorded while requests are handled are gathered and sent every :data:`SEND_EVERY`
(5 ms, ``call_later``), so under load one ``send`` carries dozens of hits and the request
path pays a list append, not a system call (sending once per turn of the event loop, about
one request a turn under granian, cost a system call per hit here and a wake-up of the
sink for every few). The socket is non-blocking: when the sink is slow to read
(a long write to the database), what does not fit waits in this worker and goes out when the
socket is writable again (``add_writer``), so a busy sink never stalls a request.

When the worker stops, :meth:`SocketRecorder.close` sends what is left (blocking, the worker
serves nothing any more) and then a report line, ``#served <TAB> pid <TAB> hits``: how many
hits this worker recorded. The sink adds the reports up, so ``postroom serve`` can say on
stopping whether every hit a worker answered reached it.

:class:`~postroom.tracking.sink.ThreadSink` is the same interface on a thread of this
process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Protocol

log = logging.getLogger("postroom.tracking")

REPORT = "#served"
#: Seconds a recorded hit may wait in the worker before it is sent: one send (and one wake-up
#: of the sink) carries every hit of that time, not those of one turn of the event loop.
#: A crash loses this much more than the sink's interval.
SEND_EVERY = 0.005


class Recorder(Protocol):
    def record(self, line: str) -> None: ...

    def close(self) -> None: ...


class SocketRecorder:
    def __init__(self, path: str) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._buffer: list[str] = []
        self._out = b""  # encoded lines not yet sent (always whole lines)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._waiting = False  # an add_writer callback is registered
        self._midline = False  # ``_out`` starts with the rest of a line partly sent
        self.recorded = 0  # hits recorded by this worker
        self.lost = 0  # hits that could not be handed to the sink

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            sock.connect(self.path)
            sock.setblocking(False)
            self._sock = sock
        return self._sock

    def record(self, line: str) -> None:
        self.recorded += 1
        self._buffer.append(line)
        if not self._scheduled:
            self._scheduled = True
            try:
                self._loop = asyncio.get_running_loop()
                self._loop.call_later(SEND_EVERY, self._send)
            except RuntimeError:  # no loop (a synchronous caller): send now
                self._loop = None
                self._send()

    def _send(self) -> None:
        self._scheduled = False
        if self._buffer:
            self._out += "".join(self._buffer).encode("utf-8")
            self._buffer = []
        if not self._waiting:
            self._write()

    def _write(self) -> None:
        """Send as much of ``_out`` as the socket takes; wait for it to be writable for the
        rest. A line cut in two by a partial send is finished on the same connection."""
        for attempt in (1, 2):
            if not self._out:
                break
            try:
                sock = self._connect()
                sent = sock.send(self._out)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._drop_socket()
                if attempt == 2:
                    count = self._out.count(b"\n")
                    self.lost += count
                    self._out = b""
                    log.error(
                        "event sink unreachable at %s, %d hits lost: %s", self.path, count, exc
                    )
                continue
            if sent:
                self._midline = self._out[sent - 1] != 0x0A
                self._out = self._out[sent:]
            break
        self._wait_writable(bool(self._out))

    def _wait_writable(self, wanted: bool) -> None:
        if wanted == self._waiting or self._sock is None or self._loop is None:
            return
        if wanted:
            self._loop.add_writer(self._sock, self._write)
        else:
            self._loop.remove_writer(self._sock)
        self._waiting = wanted

    def _drop_socket(self) -> None:
        if self._sock is not None:
            if self._waiting and self._loop is not None:
                self._loop.remove_writer(self._sock)
            self._waiting = False
            self._sock.close()
            self._sock = None
            if self._midline:
                # The line partly sent on the closed connection is torn there (the sink
                # drops it); the whole lines after it go on the next one.
                self._out = self._out[self._out.index(b"\n") + 1 :]
                self._midline = False
                self.lost += 1

    def close(self) -> None:
        """Send everything left, then this worker's report line (blocking)."""
        self._scheduled = False
        self._wait_writable(False)
        tail = "".join(self._buffer)
        self._buffer = []
        data = self._out + f"{tail}{REPORT}\t{os.getpid()}\t{self.recorded}\n".encode()
        self._out = b""
        for attempt in (1, 2):
            try:
                sock = self._connect()
                sock.setblocking(True)
                sock.sendall(data)
                break
            except OSError as exc:
                self._drop_socket()
                if attempt == 2:
                    count = data.count(b"\n") - 1
                    self.lost += count
                    log.error(
                        "event sink unreachable at %s, %d hits lost: %s", self.path, count, exc
                    )
        if self._sock is not None:
            self._sock.close()
            self._sock = None
