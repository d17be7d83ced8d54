"""Bearer tokens on every route: refused without one, with a bad, revoked or expired one,
and with one that lacks the route's scope; the scope's holder (and admin) gets through."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from postroom.access.tokens import Scope, create_token, list_tokens, revoke_token
from postroom.app import Postroom
from postroom.web.api import endpoints
from postroom.web.api.routing import Endpoint
from web.conftest import TokenFactory, problem

SAMPLE = {"int": "1", "name": "nosuch", "address": "reply+x@reply.example.test", "slug": "x"}
# A token without the needed scope: every other scope but admin.
LACKING = {
    Scope.READ: ("send", "inbound"),
    Scope.SEND: ("read", "inbound"),
    Scope.INBOUND: ("read", "send"),
    Scope.ADMIN: ("read", "send", "inbound"),
}


def concrete(endpoint: Endpoint) -> str:
    def fill(match: re.Match[str]) -> str:
        return SAMPLE[match.group(2) or match.group(1)]

    return "/api" + re.sub(r"{([a-z_]+)(?::([a-z]+))?}", fill, endpoint.path)


SCOPED = [e for e in endpoints() if e.scope is not None]
PUBLIC = [e for e in endpoints() if e.scope is None]


def ids(items: list[Endpoint]) -> list[str]:
    return [f"{e.method} {e.path}" for e in items]


@pytest.mark.parametrize("endpoint", SCOPED, ids=ids(SCOPED))
def test_every_scoped_route_refuses_missing_bad_and_short_scoped_tokens(
    client: TestClient, auth: TokenFactory, endpoint: Endpoint
) -> None:
    path = concrete(endpoint)
    answer = client.request(endpoint.method, path)
    body = problem(answer, 401, "unauthorized")
    assert answer.headers["www-authenticate"] == 'Bearer realm="postroom"'
    assert f"--scope {endpoint.scope}" in str(body["detail"])

    forged = {"Authorization": "Bearer postroom_aaaaaaaaaa_" + "a" * 52}
    answer = client.request(endpoint.method, path, headers=forged)
    problem(answer, 401, "unauthorized")
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]

    assert endpoint.scope is not None
    answer = client.request(endpoint.method, path, headers=auth(*LACKING[endpoint.scope]))
    body = problem(answer, 403, "forbidden")
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{endpoint.scope}"' in challenge
    assert f"needs the {endpoint.scope} scope" in str(body["detail"])


@pytest.mark.parametrize("endpoint", SCOPED, ids=ids(SCOPED))
def test_the_routes_scope_and_admin_get_past_authentication(
    client: TestClient, auth: TokenFactory, endpoint: Endpoint
) -> None:
    assert endpoint.scope is not None
    for headers in (auth(str(endpoint.scope)), auth("admin")):
        answer = client.request(endpoint.method, concrete(endpoint), headers=headers)
        # Past the token: whatever the route says of an empty request, it is no 401/403,
        # and never a 500 (an empty or absent body is an input like any other).
        assert answer.status_code not in (401, 403, 500), answer.text


@pytest.mark.parametrize("endpoint", PUBLIC, ids=ids(PUBLIC))
def test_the_routes_that_describe_the_api_need_no_token(
    client: TestClient, endpoint: Endpoint
) -> None:
    answer = client.request(endpoint.method, concrete(endpoint))
    assert answer.status_code in (200, 404), answer.text


def test_malformed_headers_and_tokens_elsewhere_are_refused(
    client: TestClient, auth: TokenFactory
) -> None:
    good = auth("read")["Authorization"].split()[1]
    basic = client.get("/api/events", headers={"Authorization": "Basic YTpi"})
    problem(basic, 401, "unauthorized")
    assert 'error="invalid_request"' in basic.headers["www-authenticate"]
    empty = client.get("/api/events", headers={"Authorization": "Bearer "})
    problem(empty, 401, "unauthorized")
    garbage = client.get("/api/events", headers={"Authorization": "Bearer not-a-token"})
    assert "not a postroom token" in str(problem(garbage, 401, "unauthorized")["detail"])
    # RFC 6750 section 2.3's query parameter and a cookie are not ways in.
    assert client.get(f"/api/events?access_token={good}").status_code == 401
    assert client.get("/api/events", headers={"Cookie": f"token={good}"}).status_code == 401
    # The scheme is compared without case (RFC 9110 section 11.1).
    assert client.get("/api/events", headers={"Authorization": f"bearer {good}"}).status_code == 200


def test_a_revoked_or_expired_token_is_refused_and_the_answer_never_echoes_it(
    client: TestClient, api_room: Postroom
) -> None:
    now = api_room.clock()
    issued = create_token(api_room.database, "soon-revoked", frozenset({Scope.READ}), now=now)
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/events", headers=headers).status_code == 200
    revoke_token(api_room.database, "soon-revoked", now=now)
    answer = client.get("/api/events", headers=headers)
    assert "revoked" in str(problem(answer, 401, "unauthorized")["detail"])
    assert issued.token not in answer.text and issued.token.split("_")[2] not in answer.text

    short = create_token(
        api_room.database,
        "short-lived",
        frozenset({Scope.READ}),
        now=now,
        expires_at=now + timedelta(hours=1),
    )
    headers = {"Authorization": f"Bearer {short.token}"}
    assert client.get("/api/events", headers=headers).status_code == 200
    clock = api_room.clock
    clock.advance(hours=2)  # type: ignore[attr-defined]
    try:
        answer = client.get("/api/events", headers=headers)
    finally:
        clock.advance(hours=-2)  # type: ignore[attr-defined]
    assert "expired" in str(problem(answer, 401, "unauthorized")["detail"])


def test_a_used_token_records_when(client: TestClient, api_room: Postroom) -> None:
    issued = create_token(
        api_room.database, "records-use", frozenset({Scope.READ}), now=api_room.clock()
    )
    assert issued.info.last_used_at is None
    client.get("/api/events", headers={"Authorization": f"Bearer {issued.token}"})
    [info] = [t for t in list_tokens(api_room.database) if t.name == "records-use"]
    assert info.last_used_at == api_room.clock()
