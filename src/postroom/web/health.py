"""``/healthz``: whether this node can do its work: the database answers, and its schema is
the one this postroom needs. The answer follows the "Health Check Response Format for HTTP
APIs" draft (``application/health+json``: ``status`` pass or fail, one entry per check),
with 200 when everything passes and 503 otherwise, so a load balancer needs only the status.
It needs no token and says nothing a stranger could use (no URL, no host, no version).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from postroom.errors import StoreError
from postroom.web.api.rendering import json_bytes

if TYPE_CHECKING:
    from postroom.app import Postroom

MEDIA_TYPE = "application/health+json"


@lru_cache(maxsize=1)
def _head() -> str:
    from postroom.store.migrate import head_revision

    return head_revision()


def check_health(room: Postroom) -> dict[str, Any]:
    """The health document (``status`` "pass" or "fail")."""
    from postroom.store.migrate import current_revision

    started = time.perf_counter()
    checks: dict[str, Any] = {}
    try:
        current = current_revision(room.database)
    except StoreError as exc:
        checks["database:connection"] = [{"status": "fail", "output": str(exc).split(":")[0]}]
        checks["database:schema"] = [{"status": "fail", "output": "not checked"}]
    else:
        took = round((time.perf_counter() - started) * 1000, 1)
        checks["database:connection"] = [
            {"status": "pass", "observedValue": took, "observedUnit": "ms"}
        ]
        head = _head()
        schema: dict[str, Any] = {
            "status": "pass" if current == head else "fail",
            "observedValue": current or "none",
        }
        if current != head:
            schema["output"] = (
                f"the schema is at {current or 'none'}, this postroom needs "
                f"{head}: run `postroom db upgrade`"
            )
        checks["database:schema"] = [schema]
    passed = all(item["status"] == "pass" for entries in checks.values() for item in entries)
    return {"status": "pass" if passed else "fail", "checks": checks}


class HealthApp:
    def __init__(self, room: Postroom) -> None:
        self.room = room

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        document = await run_in_threadpool(check_health, self.room)
        response = Response(
            json_bytes(document),
            status_code=200 if document["status"] == "pass" else 503,
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )
        await response(scope, receive, send)


def build_health(room: Postroom, path: str = "/healthz") -> Route:
    """The ``/healthz`` route for the web app."""
    return Route(path, HealthApp(room))
