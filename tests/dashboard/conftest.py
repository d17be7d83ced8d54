"""The dashboard on each backend: one database, application and logged-in client per test
module, composed as the web app will compose it (the API at /api, the dashboard at /)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from conftest import BACKENDS, Clock
from postroom.access.users import add_user
from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.service import add_account
from postroom.app import Postroom
from postroom.inbound.types import Reply
from postroom.mailer import MemoryTransport
from postroom.store import Database, open_database
from postroom.store.migrate import upgrade
from postroom.web.api import build_api
from postroom.web.dashboard import dashboard_routes
from support.postgres import fresh_database
from support.sending import settings_with_keys

USER = "operator"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", params=BACKENDS)
def board_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('board') / 'postroom.db'}"
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture(scope="module")
def board_database(board_url: str) -> Iterator[Database]:
    database = open_database(board_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def board_replies() -> list[Reply]:
    return []


@pytest.fixture(scope="module")
def board_room(board_database: Database, board_url: str, board_replies: list[Reply]) -> Postroom:
    room = Postroom(
        settings_with_keys(board_url),
        database=board_database,
        transport=MemoryTransport(),
        clock=Clock(),
    )
    room.handler("forum")(board_replies.append)
    add_account(
        board_database,
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
    add_user(board_database, USER, PASSWORD, now=room.clock())
    return room


def board_app(room: Postroom) -> Starlette:
    """The API and the dashboard, as the web app mounts them."""
    return Starlette(routes=[Mount("/api", build_api(room)), *dashboard_routes(room)])


@pytest.fixture(scope="module")
def anonymous(board_room: Postroom) -> Iterator[TestClient]:
    with TestClient(board_app(board_room), follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, username: str = USER, password: str = PASSWORD) -> None:
    form = client.get("/login")
    token = csrf_of(form.text)
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf": token, "next": "/"}
    )
    assert answer.status_code == 303, answer.text


@pytest.fixture(scope="module")
def client(board_room: Postroom) -> Iterator[TestClient]:
    with TestClient(board_app(board_room), follow_redirects=False) as test_client:
        log_in(test_client)
        yield test_client


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)
