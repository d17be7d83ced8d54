"""The API on each backend: one database, application and client per test module (the
tests make data of their own: unique addresses, ids they were given), tokens per scope."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from conftest import BACKENDS, Clock
from postroom.access.tokens import Scope, create_token
from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.service import add_account
from postroom.app import Postroom
from postroom.inbound.types import Reply
from postroom.mailer import MemoryTransport
from postroom.store import Database, open_database
from postroom.store.migrate import upgrade
from postroom.web.api import build_api
from postroom.web.health import build_health
from postroom.web.metrics import build_metrics
from support.postgres import fresh_database
from support.sending import settings_with_keys


@pytest.fixture(scope="module", params=BACKENDS)
def api_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api') / 'postroom.db'}"
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture(scope="module")
def api_database(api_url: str) -> Iterator[Database]:
    database = open_database(api_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def replies() -> list[Reply]:
    """What the application's ``forum`` handler was called with."""
    return []


@pytest.fixture(scope="module")
def api_room(api_database: Database, api_url: str, replies: list[Reply]) -> Postroom:
    room = Postroom(
        settings_with_keys(api_url),
        database=api_database,
        transport=MemoryTransport(),
        clock=Clock(),
    )
    room.handler("forum")(replies.append)
    add_account(
        api_database,
        room.settings,
        AccountSpec(
            "main",
            "news@example.test",
            "127.0.0.1",
            smtp_port=2525,
            smtp_security=Security.NONE,
            smtp_auth=Auth.NONE,
        ),
        AccountSecrets(),
        now=room.clock(),
    )
    return room


def web_app(room: Postroom) -> Starlette:
    """The API mounted as the web app mounts it, with /metrics and /healthz beside it."""
    return Starlette(
        routes=[Mount("/api", build_api(room)), build_metrics(room), build_health(room)]
    )


@pytest.fixture(scope="module")
def client(api_room: Postroom) -> Iterator[TestClient]:
    with TestClient(web_app(api_room), raise_server_exceptions=True) as test_client:
        yield test_client


TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def auth(api_room: Postroom) -> TokenFactory:
    """``auth("send", "read")``: the Authorization header of a new token with those scopes."""

    def make(*scopes: str) -> dict[str, str]:
        issued = create_token(
            api_room.database,
            f"test-{secrets.token_hex(4)}",
            frozenset(Scope(s) for s in scopes),
            now=api_room.clock(),
        )
        return {"Authorization": f"Bearer {issued.token}"}

    return make


@pytest.fixture(scope="module")
def admin(auth: TokenFactory) -> dict[str, str]:
    return auth("admin")


def unique_address(tag: str = "r") -> str:
    return f"{tag}-{secrets.token_hex(5)}@example.net"


def problem(answer: object, status: int, slug: str) -> dict[str, object]:
    """The problem document of ``answer``, checked for RFC 9457's members and media type."""
    from httpx2 import Response

    assert isinstance(answer, Response)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"] == f"/api/problems/{slug}", body
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["instance"]
    return dict(body)
