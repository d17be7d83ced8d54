"""``build_api(room)``: the JSON API as one ASGI app, for the web app to mount at ``/api``.

Its routes are the endpoints of the resource modules (emails, events, inbound, sessions,
suppressions, accounts, webhooks) plus the two that describe the API: ``/openapi.json`` and
``/problems/{slug}``. Paths it does not have are answered 404 as problem documents too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field
from starlette.routing import Route, Router
from starlette.types import ASGIApp

from postroom.errors import NotFound
from postroom.web.api import (
    accounts,
    emails,
    events,
    inbound,
    sessions,
    suppressions,
    webhooks,
)
from postroom.web.api.common import Output
from postroom.web.api.openapi import build_document
from postroom.web.api.problems import BY_SLUG, PROBLEM_TYPES, type_uri
from postroom.web.api.routing import Answer, Call, Endpoint, PathApp, not_found

if TYPE_CHECKING:
    from postroom.app import Postroom

RESOURCES: tuple[Endpoint, ...] = (
    *emails.ENDPOINTS,
    *events.ENDPOINTS,
    *inbound.ENDPOINTS,
    *sessions.ENDPOINTS,
    *suppressions.ENDPOINTS,
    *accounts.ENDPOINTS,
    *webhooks.ENDPOINTS,
)


class ProblemTypeOut(Output):
    type: str
    slug: str
    status: int
    title: str
    description: str = Field(description="When it happens and what to do about it.")


class ProblemTypeList(Output):
    items: list[ProblemTypeOut]


def _problem_type(slug: str) -> ProblemTypeOut:
    kind = BY_SLUG[slug]
    return ProblemTypeOut(
        type=type_uri(slug),
        slug=slug,
        status=kind.status,
        title=kind.title,
        description=kind.description,
    )


def list_problem_types(call: Call) -> Answer:
    """Every problem type the API answers with."""
    return Answer(ProblemTypeList(items=[_problem_type(p.slug) for p in PROBLEM_TYPES]))


def get_problem_type(call: Call) -> Answer:
    """What one problem type means (the ``type`` URI of a problem document leads here)."""
    slug = str(call.path["slug"])
    if slug not in BY_SLUG:
        raise NotFound(f"there is no problem type {slug!r}")
    return Answer(_problem_type(slug))


def endpoints() -> tuple[Endpoint, ...]:
    """Every endpoint of the API, the OpenAPI document's own included."""

    def document(call: Call) -> Answer:
        """This document: every route of the API, generated from the routes themselves."""
        return Answer(build_document(everything, server=call.root))

    meta = (
        Endpoint(
            "GET",
            "/openapi.json",
            "getOpenApi",
            "The OpenAPI 3.1 document",
            document,
            None,
            "meta",
            media_type="application/json",
        ),
        Endpoint(
            "GET",
            "/problems",
            "listProblemTypes",
            "List problem types",
            list_problem_types,
            None,
            "meta",
            response=ProblemTypeList,
        ),
        Endpoint(
            "GET",
            "/problems/{slug}",
            "getProblemType",
            "Read a problem type",
            get_problem_type,
            None,
            "meta",
            response=ProblemTypeOut,
            problems=("not-found",),
        ),
    )
    everything = (*RESOURCES, *meta)
    return everything


def routes_of(room: Postroom, items: Sequence[Endpoint]) -> list[Route]:
    by_path: dict[str, list[Endpoint]] = defaultdict(list)
    for endpoint in items:
        by_path[endpoint.path].append(endpoint)
    return [Route(path, PathApp(room, group)) for path, group in by_path.items()]


def build_api(room: Postroom) -> ASGIApp:
    """The API for ``room``: mount it at ``/api`` (``Mount("/api", build_api(room))``)."""
    return Router(routes_of(room, endpoints()), redirect_slashes=False, default=not_found)
