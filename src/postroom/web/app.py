"""``build_app(room)``: the whole web side of ``postroom serve`` as one ASGI app.

The tracking endpoints (``/t/o``, ``/t/c``, ``/t/u``) are a raw ASGI fast path in front; every
other path goes to a Starlette app holding the JSON API at ``/api``, ``/metrics``,
``/healthz`` and any further ``routes`` (the dashboard's).

Hits go to ``recorder``: under ``postroom serve`` the sink process's socket; without one, a
sink on a thread of this process (:class:`~postroom.tracking.sink.ThreadSink`). Either is
closed (everything pending written) when the app's lifespan ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from postroom.tracking.endpoints import TrackingApp
from postroom.tracking.recorder import Recorder
from postroom.web.api import build_api
from postroom.web.health import build_health
from postroom.web.metrics import build_metrics

if TYPE_CHECKING:
    from postroom.app import Postroom


def local_recorder(room: Postroom) -> Recorder:
    """A sink on a thread of this process, configured from ``[tracking]``."""
    from postroom.tracking.sink import ThreadSink, sink_for

    return ThreadSink(sink_for(room.database, room.settings.tracking))


def build_app(
    room: Postroom,
    *,
    routes: Sequence[BaseRoute] = (),
    recorder: Recorder | None = None,
) -> TrackingApp:
    """The web app for ``room``: tracking fast path, API, metrics, health, ``routes``."""
    hits = recorder if recorder is not None else local_recorder(room)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            hits.close()

    web = Starlette(
        routes=[
            Mount("/api", build_api(room)),
            build_metrics(room),
            build_health(room),
            *routes,
        ],
        lifespan=lifespan,
    )
    return TrackingApp(room, web, hits)
