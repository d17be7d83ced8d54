"""When ``postroom serve`` runs the catcher (``[catcher] enabled``): ``auto`` runs it with the
embedded SQLite database while no account but the catcher's exists; ``on`` and ``off`` decide
alone. Started, it points the ``catcher`` account at its own host and port."""

from __future__ import annotations

import dataclasses

from postroom.accounts import AccountSecrets
from postroom.accounts.service import add_account, list_accounts
from postroom.app import Postroom
from postroom.catcher.account import catcher_spec
from postroom.catcher.embedded import embedded_catcher_reason, start_embedded_catcher
from postroom.settings import CatcherSettings
from support.mailservers import free_port


def with_catcher(room: Postroom, **changes: object) -> Postroom:
    settings = room.settings.clone(catcher=dataclasses.replace(CatcherSettings(), **changes))
    room.configure(settings, database=room.database)
    return room


def test_auto_follows_the_database_and_the_accounts(room: Postroom) -> None:
    wanted, why = embedded_catcher_reason(room)
    embedded = room.settings.database_url.startswith("sqlite")
    assert wanted is embedded, why
    add_account(
        room.database,
        room.settings,
        dataclasses.replace(catcher_spec("ada@example.org", "127.0.0.1", 587), name="gmail"),
        AccountSecrets(),
        now=room.clock(),
    )
    wanted, why = embedded_catcher_reason(room)
    assert not wanted
    assert why == "sending accounts are set up (gmail)" if embedded else "SQLite" in why
    assert embedded_catcher_reason(with_catcher(room, enabled="on")) == (
        True,
        "catcher.enabled = on",
    )
    assert embedded_catcher_reason(with_catcher(room, enabled="off"))[0] is False


def test_started_it_points_the_catcher_account_at_itself(room: Postroom) -> None:
    first, second = free_port(), free_port()
    for port in (first, second):
        catcher = start_embedded_catcher(with_catcher(room, enabled="on", port=port))
        try:
            [account] = list_accounts(room.database)
            assert (account.name, account.smtp_host, account.smtp_port) == (
                "catcher",
                "127.0.0.1",
                port,
            )
        finally:
            catcher.stop()
