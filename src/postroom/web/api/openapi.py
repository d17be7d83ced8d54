"""The OpenAPI 3.1 document of the API, generated from the endpoints themselves
(:class:`~postroom.web.api.routing.Endpoint`): paths, parameters, bodies and answers come from
the same definitions and pydantic models the routes run on, so the document cannot drift
from what the API does. JSON Schema 2020-12 (pydantic's) is OpenAPI 3.1's own dialect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from postroom.web.api.problems import BY_SLUG
from postroom.web.api.routing import Endpoint

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?}")
_CONVERTORS = {
    "int": {"type": "integer", "minimum": 0},
    "str": {"type": "string"},
    "path": {"type": "string"},
}
#: Every route may answer these (the database down, a fault of postroom's).
_ALWAYS = ("database-unavailable", "internal-error")


class ProblemItem(BaseModel):
    field: str = Field(description="The input as the request named it: to[2].address, limit.")
    detail: str
    pointer: str | None = Field(None, description="JSON Pointer (RFC 6901) into the body.")
    in_: str | None = Field(None, alias="in", description="query, for a query parameter.")


class Problem(BaseModel):
    """RFC 9457 problem details, with the offending inputs of a validation failure."""

    type: str = Field(description="/api/problems/<slug>: what kind of problem (stable).")
    title: str
    status: int
    detail: str = Field(description="What was wrong here, and how to fix it.")
    instance: str = Field(description="The path of the request.")
    field: str | None = Field(None, description="The first offending input.")
    errors: list[ProblemItem] | None = None


def openapi_path(path: str) -> str:
    """``/emails/{email_id:int}`` as OpenAPI writes it: ``/emails/{email_id}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _package_version() -> str:
    try:
        return version("postroom")
    except PackageNotFoundError:
        return "0"


def _schemas(endpoints: Sequence[Endpoint]) -> tuple[dict[Any, Any], dict[str, Any]]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for e in endpoints:
        if e.query is not None:
            models.append((e.query, "validation"))
        if e.body is not None and getattr(e.body, "model", None) is not None:
            models.append((e.body.model, "validation"))  # type: ignore[attr-defined]
        if e.response is not None:
            models.append((e.response, "serialization"))
    unique = list(dict.fromkeys(models))
    keys, defs = models_json_schema(unique, ref_template=REF)
    return dict(keys), dict(defs.get("$defs", {}))


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("title", "description", "default")}


def _parameters(endpoint: Endpoint, defs: dict[str, Any], keys: dict[Any, Any]) -> list[Any]:
    params: list[dict[str, Any]] = []
    for name, convertor in _PARAM.findall(endpoint.path):
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _CONVERTORS[convertor or "str"],
            }
        )
    if endpoint.query is not None:
        ref = keys[(endpoint.query, "validation")]["$ref"].rsplit("/", 1)[-1]
        model = defs[ref]
        required = set(model.get("required", ()))
        for name, prop in model.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": _clean(prop)
                | (
                    {"default": prop["default"]}
                    if "default" in prop and prop["default"] is not None
                    else {}
                ),
            }
            if prop.get("description"):
                param["description"] = prop["description"]
            params.append(param)
    return params


def _responses(endpoint: Endpoint, keys: dict[Any, Any]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if endpoint.response is not None:
        schema = keys[(endpoint.response, "serialization")]
        answers[str(endpoint.status)] = {
            "description": endpoint.summary,
            "content": {endpoint.media_type: {"schema": schema}},
        }
    elif endpoint.status == 204:
        answers["204"] = {"description": f"{endpoint.summary}: done."}
    else:
        answers[str(endpoint.status)] = {
            "description": endpoint.summary,
            "content": {endpoint.media_type: {"schema": {"type": "string"}}},
        }
    slugs = list(endpoint.problems)
    if endpoint.scope is not None:
        slugs += ["unauthorized", "forbidden"]
    slugs += list(_ALWAYS)
    by_status: dict[int, list[str]] = {}
    for slug in dict.fromkeys(slugs):
        by_status.setdefault(BY_SLUG[slug].status, []).append(slug)
    problem = {"$ref": REF.format(model="Problem")}
    for status, group in sorted(by_status.items()):
        titles = "; ".join(f"{BY_SLUG[s].title} (/api/problems/{s})" for s in group)
        answers[str(status)] = {
            "description": titles,
            "content": {"application/problem+json": {"schema": problem}},
        }
    return answers


def build_document(endpoints: Sequence[Endpoint], *, server: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``endpoints`` mounted at ``server`` (``/api``)."""
    keys, defs = _schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "operationId": endpoint.name,
            "summary": endpoint.summary,
            "description": endpoint.description,
            "tags": [endpoint.tag],
            "responses": _responses(endpoint, keys),
        }
        parameters = _parameters(endpoint, defs, keys)
        if parameters:
            operation["parameters"] = parameters
        if endpoint.body is not None:
            operation["requestBody"] = endpoint.body.openapi(
                lambda model: keys[(model, "validation")]
            )
        if endpoint.scope is None:
            operation["security"] = []
        else:
            # OpenAPI 3.1 section 4.8.30: for schemes other than OAuth 2.0 the array lists
            # the roles needed; here, the token scope.
            operation["security"] = [{"bearer": [str(endpoint.scope)]}]
        paths.setdefault(openapi_path(endpoint.path), {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "postroom",
            "version": _package_version(),
            "summary": "A self-hosted two-way email engine: send, track, receive, understand.",
            "description": "Bearer tokens with scopes (send, read, inbound, admin): an "
            "operator makes them with `postroom tokens create NAME --scope SCOPE`. Lists are "
            "keyset pages, newest first (follow next). Errors are RFC 9457 problem details.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": server or "/"}],
        "tags": [{"name": name} for name in dict.fromkeys(e.tag for e in endpoints)],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "postroom_<key id>_<secret>, from `postroom tokens create`.",
                }
            },
        },
    }
