"""The OpenAPI document: valid OpenAPI 3.1 (openapi-spec-validator), every route of the app
in it with its method and every documented operation a route of the app; every problem type
an endpoint names is served at its type URI."""

from __future__ import annotations

import re

from openapi_spec_validator import validate
from starlette.routing import Route, Router
from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.web.api import build_api, endpoints
from postroom.web.api.problems import PROBLEM_TYPES


def test_the_document_validates_as_openapi_3_1(client: TestClient) -> None:
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/api"}]
    validate(document)


def test_every_route_is_in_the_document_and_nothing_else(
    client: TestClient, api_room: Postroom
) -> None:
    document = client.get("/api/openapi.json").json()
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    app = build_api(api_room)
    assert isinstance(app, Router)
    routed = set()
    for route in app.routes:
        assert isinstance(route, Route)
        path = re.sub(r"{([a-z_]+)(?::[a-z]+)?}", r"{\1}", route.path)
        for method in route.app.by_method:  # type: ignore[attr-defined]
            routed.add((path, method))
    assert routed == documented
    assert len(routed) == len(endpoints())


def test_operations_are_named_once_and_say_their_scope_and_errors(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    operations = [op for item in document["paths"].values() for op in item.values()]
    names = [op["operationId"] for op in operations]
    assert len(names) == len(set(names))
    for op in operations:
        assert op["summary"] and op["description"]
        if op["security"]:
            [requirement] = op["security"]
            assert requirement["bearer"][0] in ("send", "read", "inbound", "admin")
            assert {"401", "403"} <= set(op["responses"])
        for status, answer in op["responses"].items():
            if int(status) >= 400:
                assert "application/problem+json" in answer["content"]


def test_every_problem_type_is_served_at_its_type_uri(client: TestClient) -> None:
    listed = client.get("/api/problems").json()["items"]
    assert [p["slug"] for p in listed] == [p.slug for p in PROBLEM_TYPES]
    for kind in PROBLEM_TYPES:
        answer = client.get(f"/api/problems/{kind.slug}")
        assert answer.status_code == 200
        assert answer.json()["status"] == kind.status
    assert client.get("/api/problems/no-such-thing").status_code == 404
