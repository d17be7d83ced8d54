"""A Postroom with a sending account on each backend (no server needed to queue)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.service import add_account
from postroom.app import Postroom
from postroom.inbound.types import Reply
from postroom.store import Database
from support.sending import settings_with_keys


@pytest.fixture
def sender(database: Database, database_url: str, clock: object, tmp_path: Path) -> Postroom:
    room = Postroom(settings_with_keys(database_url), database=database, clock=clock)  # type: ignore[arg-type]
    replies: list[Reply] = []
    room.handler("forum")(replies.append)
    add_account(
        database,
        room.settings,
        AccountSpec(
            "main",
            "news@example.test",
            "127.0.0.1",
            smtp_port=2525,
            smtp_security=Security.NONE,
            smtp_auth=Auth.NONE,
            from_name="Example News",
        ),
        AccountSecrets(),
        now=room.clock(),
    )
    return room
