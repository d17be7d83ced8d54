"""The dashboard: server-rendered pages (Starlette and Jinja2, no script) over the store,
and the local mail catcher's pages. ``dashboard_routes(room)`` gives its routes, to be
mounted at ``/`` beside the API's ``/api``."""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.web.dashboard.catcher import CatcherViews
from postroom.web.dashboard.shell import Shell, harden
from postroom.web.dashboard.views import Views

if TYPE_CHECKING:
    from postroom.app import Postroom

__all__ = ["dashboard_routes"]

_CSS = files("postroom.web.dashboard").joinpath("static/dashboard.css").read_bytes()


async def _stylesheet(request: Request) -> Response:
    response = harden(Response(_CSS, media_type="text/css; charset=utf-8"))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def dashboard_routes(room: Postroom) -> list[BaseRoute]:
    """Every route of the dashboard for ``room``. GET pages need a login (others are sent to
    ``/login``); every POST needs a login, a same-origin request and the form's CSRF token."""
    shell = Shell(room)
    views = Views(shell)
    caught = CatcherViews(shell)
    page, action = shell.page, shell.action
    return [
        Route("/login", views.login, methods=["GET", "POST"], name="login"),
        Route("/logout", action(views.logout), methods=["POST"], name="logout"),
        Route("/static/dashboard.css", _stylesheet, methods=["GET"], name="stylesheet"),
        Route("/", page(views.home), methods=["GET"], name="home"),
        Route("/emails", page(views.emails), methods=["GET"], name="emails"),
        Route("/emails/{email_id:int}", page(views.email), methods=["GET"], name="email"),
        Route("/events", page(views.events), methods=["GET"], name="events"),
        Route("/stats", page(views.stats), methods=["GET"], name="stats"),
        Route("/suppressions", page(views.suppressions), methods=["GET"], name="suppressions"),
        Route(
            "/suppressions/{suppression_id:int}/lift",
            action(views.lift),
            methods=["POST"],
            name="lift",
        ),
        Route("/inbound", page(views.inbound_list), methods=["GET"], name="inbound_list"),
        Route("/inbound/{inbound_id:int}", page(views.inbound), methods=["GET"], name="inbound"),
        Route(
            "/inbound/{inbound_id:int}/raw",
            page(views.inbound_raw),
            methods=["GET"],
            name="inbound_raw",
        ),
        Route(
            "/inbound/{inbound_id:int}/replay",
            action(views.replay),
            methods=["POST"],
            name="replay",
        ),
        Route("/sessions", page(views.sessions), methods=["GET"], name="sessions"),
        Route(
            "/sessions/{session_id:int}/expire",
            action(views.expire),
            methods=["POST"],
            name="expire",
        ),
        Route("/accounts", page(views.accounts), methods=["GET"], name="accounts"),
        Route("/webhooks", page(views.webhooks), methods=["GET"], name="webhooks"),
        Route("/catcher", page(caught.inboxes), methods=["GET"], name="catcher"),
        Route(
            "/catcher/messages/{caught_id:int}",
            page(caught.message),
            methods=["GET"],
            name="caught",
        ),
        Route(
            "/catcher/messages/{caught_id:int}/raw",
            page(caught.raw),
            methods=["GET"],
            name="caught_raw",
        ),
        Route(
            "/catcher/messages/{caught_id:int}/body",
            page(caught.body),
            methods=["GET"],
            name="caught_body",
        ),
        Route(
            "/catcher/messages/{caught_id:int}/{action}",
            action(caught.act),
            methods=["POST"],
            name="caught_action",
        ),
    ]
