"""A webhook receiver on loopback: a threaded ``http.server`` that keeps every POST and
answers as a test scripts it, request after request::

    with WebhookReceiver() as receiver:
        receiver.script(500, 500)              # the first two POSTs fail, then the default
        receiver.default = (204, b"")
        receiver.check = lambda headers, body: verify(secret, headers, body, now=clock())
        ... room.webhooks.add(receiver.url) ...
        receiver.requests                      # every POST as received (headers, raw body)

``check`` runs on every POST as it arrives (a receiver verifies before it answers): what it
returns is kept as the request's ``payload``; when it raises, the POST is answered 401 and
the error kept.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "WebhookReceiver"]

Answer = int | tuple[int, bytes] | tuple[int, bytes, dict[str, str]]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    payload: Any = None
    error: str | None = None


class WebhookReceiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.default: Answer = 204
        self.check: Callable[[Mapping[str, str], bytes], Any] | None = None
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload, error = None, None
                with receiver._lock:
                    if receiver.check is not None:
                        try:
                            payload = receiver.check(headers, body)
                        except Exception as exc:
                            error = f"{type(exc).__name__}: {exc}"
                    if error is not None:
                        status, content, extra = 401, b"", {}
                    else:
                        answer = (
                            receiver._answers.popleft() if receiver._answers else receiver.default
                        )
                        status, content, extra = _unpack(answer)
                    receiver.requests.append(
                        Received(self.path, headers, body, status, payload, error)
                    )
                    receiver._arrived.notify_all()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` POSTs arrived (or fail after ``timeout``)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} of {count} POSTs after {timeout} s")
            return list(self.requests)

    def script(self, *answers: Answer) -> None:
        """Answer the next POSTs with these, in order (then :attr:`default` again)."""
        with self._lock:
            self._answers.extend(answers)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _unpack(answer: Answer) -> tuple[int, bytes, dict[str, str]]:
    if isinstance(answer, int):
        return answer, b"", {}
    if len(answer) == 2:
        return answer[0], answer[1], {}
    return answer  # type: ignore[return-value]
