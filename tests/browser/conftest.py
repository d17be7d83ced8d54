"""Browser tests: Debian's Chromium, headless, driven by Playwright (never a downloaded
browser), against a real uvicorn on loopback serving the API and the dashboard, with the
mail catcher as the sending account. Screenshots go to tests/artifacts/browser/."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright import sync_api as playwright_api

from dashboard.conftest import PASSWORD, USER, board_app
from postroom.access.tokens import Scope, create_token
from postroom.access.users import add_user
from postroom.app import Postroom
from postroom.catcher import Catcher, ensure_account
from postroom.inbound.types import Reply
from postroom.mailer import MemoryTransport
from postroom.settings import TrackingSettings
from postroom.store import open_database
from postroom.store.migrate import upgrade
from support.sending import settings_with_keys

CHROMIUM = os.environ.get("POSTROOM_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Site:
    url: str
    room: Postroom
    token: str
    replies: list[Reply]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'postroom.db'}"
    database = open_database(database_url)
    upgrade(database)
    settings = settings_with_keys(database_url).clone(tracking=TrackingSettings(base_url=url))
    room = Postroom(settings, database=database, transport=MemoryTransport())
    replies: list[Reply] = []
    room.handler("forum")(replies.append)
    add_user(database, USER, PASSWORD, now=room.clock())
    token = create_token(
        database, "browser", frozenset({Scope("send"), Scope("read")}), now=room.clock()
    ).token
    catcher = Catcher(room, "127.0.0.1", free_port())
    catcher.start()
    ensure_account(room, catcher.host, catcher.port, from_address="forum@example.test")
    server = uvicorn.Server(
        uvicorn.Config(board_app(room), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    try:
        yield Site(url, room, token, replies)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        catcher.stop()
        database.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `scripts/bootstrap --services` (installs Debian's "
            "chromium) or set POSTROOM_CHROMIUM"
        )
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def unique(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(3)}@example.net"
