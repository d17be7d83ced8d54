"""``postroom serve``: the web app on several worker processes, with the event sink in the
serving process beside them.

The HTTP server is granian (ASGI interface). Measured here with the same raw ASGI pixel app,
2 workers, ``wrk -t1 -c64`` on loopback, in one run: granian ~41,000 req/s (p99 4.7 ms),
uvicorn with httptools and uvloop ~28,000 req/s (p99 6.8 ms); see bench/pixel.sh.

The serving process binds the sink's Unix socket and starts :class:`SinkServer` on a thread,
then runs granian, whose workers build the app with :func:`worker_app` and send their hits to
that socket. On SIGTERM or SIGINT granian stops its workers gracefully (requests in flight
are answered, the lifespan's end sends the last hits); then the sink reads every worker's
socket to its end, writes everything and the command returns.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import tempfile
from typing import Any

from postroom.app import Postroom

log = logging.getLogger("postroom.serve")

SINK_ENV = "POSTROOM_SINK_SOCKET"
CONFIG_ENV = "POSTROOM_SERVE_CONFIG"
APP_ENV = "POSTROOM_SERVE_APP"


def _room() -> Postroom:
    from postroom.cli.pipe import load_room

    return load_room(
        os.environ.get(CONFIG_ENV) or None, os.environ.get(APP_ENV) or None, need_handlers=False
    )


def worker_app() -> Any:
    """The app of one granian worker (a factory: granian imports and calls it)."""
    from postroom.tracking.recorder import SocketRecorder
    from postroom.web.app import build_app
    from postroom.web.dashboard import dashboard_routes

    room = _room()
    path = os.environ.get(SINK_ENV)
    app = build_app(
        room, routes=dashboard_routes(room), recorder=SocketRecorder(path) if path else None
    )
    # Everything imported and built so far lives as long as the worker: out of the
    # collector's sight, a full collection no longer walks it (a pause in some request).
    gc.collect()
    gc.freeze()
    return app


def serve(
    room: Postroom,
    *,
    config: str | None = None,
    app: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8025,
    workers: int = 2,
    backlog: int = 2048,
    log_level: str = "warning",
) -> None:
    """Run until SIGTERM/SIGINT; the hits of every request answered are written first.
    ``config`` and ``app`` are what the workers load (as the command line's options)."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    from postroom.tracking.sink import SinkServer, sink_for

    room.settings.require_keys()
    folder = tempfile.mkdtemp(prefix="postroom-sink-")
    path = os.path.join(folder, "sink.sock")
    sink = sink_for(room.database, room.settings.tracking)
    # As in the workers: what is loaded now lives as long as the process, and full
    # collections walking it paused the sink's writes (measured: 60-190 ms each).
    gc.collect()
    gc.freeze()
    server = SinkServer(sink, path).start()
    os.environ[SINK_ENV] = path
    os.environ[CONFIG_ENV] = config or ""
    os.environ[APP_ENV] = app or ""
    try:
        Server(
            "postroom.web.serving:worker_app",
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            factory=True,
            backlog=backlog,
            log_enabled=log_level != "off",
            log_level=LogLevels(log_level if log_level != "off" else "error"),
            log_access=False,
        ).serve()
    finally:
        server.stop()
        server.join()
        os.environ.pop(SINK_ENV, None)
        with contextlib.suppress(OSError):
            os.rmdir(folder)
        stats = sink.stats
        log.warning(
            "serve stopped: %d workers reported %d hits served; the sink received %d hits, "
            "%d events recorded, %d skipped, %d spooled, %d replayed (%.1f s of CPU, "
            "longest write %.0f ms)",
            server.reports,
            server.served,
            stats.hits,
            stats.recorded,
            stats.skipped,
            stats.spooled,
            stats.replayed,
            server.cpu,
            stats.longest_flush * 1000,
        )
        if server.served != stats.hits:
            log.error(
                "%d hits answered by the workers did not reach the event sink",
                server.served - stats.hits,
            )
