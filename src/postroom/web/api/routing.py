"""Routes as data: an :class:`Endpoint` says everything about one operation (method, path,
scope, query and body models, answer model, handler), and both the Starlette routes and the
OpenAPI document (:mod:`.openapi`) are built from the same list, so they cannot disagree.

A handler is a plain function ``handler(call) -> Answer``: the ASGI shell around it checks
the bearer token, reads and validates the query and the body, runs the handler in a worker
thread (postroom's store is synchronous), and writes the answer or the problem document.
Handlers are tested through HTTP like any client would use them, but they hold no I/O of
their own beyond the store.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from postroom.access.tokens import Scope as TokenScope
from postroom.access.tokens import TokenInfo
from postroom.errors import ApiError, InvalidRequest, NotFound, PayloadTooLarge, PostroomError
from postroom.web.api.auth import authenticate
from postroom.web.api.problems import problem_of
from postroom.web.api.rendering import SECURITY_HEADERS, json_response, problem_response

if TYPE_CHECKING:
    from postroom.app import Postroom

log = logging.getLogger("postroom.api")

#: Ids beyond a signed 64-bit integer name nothing (and would overflow PostgreSQL's bigint).
MAX_ID = (1 << 63) - 1


@dataclass
class Call:
    """One request as a handler sees it: validated inputs, the token, the clock reading."""

    room: Postroom
    now: datetime
    token: TokenInfo | None
    path: dict[str, Any]
    query: Any
    body: Any
    root: str  # where the API is mounted ("/api"), for the links in answers
    here: str  # the request's path below the mount ("/events")
    params: QueryParams

    def link(self, path: str) -> str:
        return self.root + path

    def next_link(self, cursor: str | None) -> str | None:
        """This request's own URL with ``cursor`` in place of its cursor (the next page)."""
        if cursor is None:
            return None
        items = [(k, v) for k, v in self.params.multi_items() if k != "cursor"]
        items.append(("cursor", cursor))
        return f"{self.root}{self.here}?{QueryParams(items)}"

    def id_param(self, name: str) -> int:
        value = int(self.path[name])
        if value > MAX_ID:
            raise NotFound(f"there is no {name.removesuffix('_id')} #{value}")
        return value


@dataclass
class Answer:
    """What a handler returns: a model (or JSON-ready value), or bytes with their type."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = None


Handler = Callable[[Call], Answer]


class BodySpec(Protocol):
    """How a route reads its body, and how the OpenAPI document describes it."""

    @property
    def max_bytes(self) -> int | None:
        """The largest body the shell lets through (None: the reader bounds itself)."""

    async def read(self, request: Request, room: Postroom) -> Any: ...

    def openapi(self, ref: Callable[[type[BaseModel]], dict[str, Any]]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # under the API's mount, Starlette syntax: "/emails/{email_id:int}"
    name: str  # the OpenAPI operationId
    summary: str
    handler: Handler
    scope: TokenScope | None  # None: no token needed
    tag: str
    query: type[BaseModel] | None = None
    body: BodySpec | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    media_type: str = "application/json"
    problems: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        doc = self.handler.__doc__ or self.summary
        return re.sub(r"\s*\n\s*", " ", doc.strip())


# --- inputs ----------------------------------------------------------------------------


def field_name(loc: Sequence[int | str]) -> str:
    """A pydantic error location as postroom names fields: ``to[2].address``."""
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


def _message(error: Mapping[str, Any]) -> str:
    text = str(error.get("msg", "is invalid"))
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validation_problem(exc: ValidationError, where: str) -> InvalidRequest:
    """A 422 naming every invalid input (``where``: "body" or "query")."""
    errors: list[dict[str, str]] = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        if error.get("type") == "json_invalid":
            return InvalidRequest(
                f"the body is not JSON ({_message(error)}); send one JSON object",
                problem="invalid-request",
                status=400,
            )
        loc = [step for step in error.get("loc", ()) if isinstance(step, int | str)]
        name = field_name(loc) or "body"
        item = {"field": name, "detail": _message(error)}
        if where == "body":
            item["pointer"] = "/" + "/".join(
                str(step).replace("~", "~0").replace("/", "~1") for step in loc
            )
        else:
            item["in"] = where
        errors.append(item)
    listed = "; ".join(f"{e['field']}: {e['detail']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    noun = "query parameter" if where == "query" else "field"
    plural = "s" if len(errors) != 1 else ""
    return InvalidRequest(
        f"{len(errors)} invalid {noun}{plural}: {listed}{more}. Fix them and send the request "
        "again",
        field=errors[0]["field"] if errors else None,
        errors=tuple(errors),
    )


def read_query(model: type[BaseModel] | None, params: QueryParams) -> Any:
    """The query string as ``model``; unknown and repeated parameters are refused (a typo
    such as ``typ=`` would otherwise silently list everything)."""
    known = set(model.model_fields) if model is not None else set()
    errors = []
    for key in params:
        if key not in known:
            valid = ", ".join(sorted(known)) or "none"
            errors.append({"field": key, "in": "query", "detail": f"unknown (valid: {valid})"})
        elif len(params.getlist(key)) > 1:
            errors.append({"field": key, "in": "query", "detail": "given more than once"})
    if errors:
        listed = "; ".join(f"{e['field']}: {e['detail']}" for e in errors)
        raise InvalidRequest(
            f"invalid query parameters: {listed}", field=errors[0]["field"], errors=tuple(errors)
        )
    if model is None:
        return None
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise validation_problem(exc, "query") from None


def limited(receive: Receive, limit: int | None) -> Receive:
    """``receive`` that refuses a body past ``limit`` bytes (413) as it arrives."""
    if limit is None:
        return receive
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(
                    f"the body is larger than {limit:,} bytes, the most this route accepts"
                )
        return message

    return bounded


# --- the ASGI shell ----------------------------------------------------------------------


def _render(answer: Answer) -> Response:
    body = answer.body
    if isinstance(body, bytes):
        return Response(
            body,
            status_code=answer.status,
            headers={**SECURITY_HEADERS, **answer.headers},
            media_type=answer.media_type or "application/octet-stream",
        )
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    if body is None and answer.status == 204:
        return Response(status_code=204, headers={**SECURITY_HEADERS, **answer.headers})
    return json_response(body, status=answer.status, headers=answer.headers)


class PathApp:
    """The ASGI app of one path: dispatches on the method to its endpoints (405 otherwise)."""

    def __init__(self, room: Postroom, endpoints: Sequence[Endpoint]) -> None:
        self.room = room
        self.by_method = {e.method: e for e in endpoints}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        endpoint = self.by_method.get(scope["method"])
        request = Request(
            scope,
            limited(receive, endpoint.body.max_bytes if endpoint and endpoint.body else 1 << 16),
        )
        instance = request.url.path
        token: TokenInfo | None = None
        try:
            if endpoint is None:
                allowed = ", ".join(sorted(self.by_method))
                raise ApiError(
                    f"{scope['method']} is not a method of {instance}; it takes {allowed}",
                    problem="method-not-allowed",
                    status=405,
                    headers={"Allow": allowed},
                )
            token = await run_in_threadpool(authenticate, self.room, request, endpoint.scope)
            root = scope.get("root_path", "")
            query = read_query(endpoint.query, request.query_params)
            body = await endpoint.body.read(request, self.room) if endpoint.body else None
            call = Call(
                room=self.room,
                now=self.room.clock(),
                token=token,
                path=dict(request.path_params),
                query=query,
                body=body,
                root=root,
                here=request.url.path.removeprefix(root) if root else request.url.path,
                params=request.query_params,
            )
            response = _render(await run_in_threadpool(endpoint.handler, call))
        except Exception as exc:
            response = self._problem(exc, instance)
        log.info(
            "%s %s %s",
            scope["method"],
            # A path is percent-decoded: a %0d%0a in it must not start a line of the log.
            instance.encode("unicode_escape").decode("ascii"),
            response.status_code,
            extra={
                "method": scope["method"],
                "path": instance,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "token": token.name if token else None,
            },
        )
        await response(scope, receive, send)

    @staticmethod
    def _problem(exc: Exception, instance: str) -> Response:
        error = problem_of(exc)
        if error is None:
            incident = secrets.token_hex(6)
            log.error(
                "unexpected failure on %s (incident %s)",
                instance,
                incident,
                exc_info=exc,
                extra={"incident": incident, "path": instance},
            )
            kind = "postroom" if isinstance(exc, PostroomError) else type(exc).__name__
            error = ApiError(
                f"postroom failed on this request ({kind}; incident {incident} in the server "
                "log); try again later, and report it if it persists",
                problem="internal-error",
                status=500,
            )
        return problem_response(error, instance)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """What the API answers for a path it does not have."""
    request = Request(scope)
    error = NotFound(
        f"the API has no route {request.url.path}; GET {scope.get('root_path', '')}"
        "/openapi.json lists them"
    )
    await problem_response(error, request.url.path)(scope, receive, send)
