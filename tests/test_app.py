"""The Postroom object: handler registration, module ids, configuration changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_settings
from postroom.app import Postroom
from postroom.errors import ConfigError
from postroom.handlers import module_id_for
from postroom.inbound.types import Outcome, Reply
from postroom.mailer import MemoryTransport
from postroom.store import open_database
from postroom.store.migrate import upgrade
from support.messages import reply


def test_core_is_module_zero_and_names_give_stable_ids() -> None:
    assert module_id_for("core") == 0
    assert module_id_for("forum") == module_id_for("forum") != 0
    assert 1 <= module_id_for("x" * 300) <= 0xFFFF


def test_handlers_cannot_share_a_name_or_a_module_id() -> None:
    room = Postroom()
    room.handler("forum")(print)
    with pytest.raises(ValueError, match="registered already"):
        room.handler("forum")(print)
    with pytest.raises(ValueError, match="share module id"):
        room.handler("other", module=module_id_for("forum"))(print)
    with pytest.raises(ValueError, match="uses must be"):
        room.handler("single", uses=0)


def test_an_unconfigured_room_names_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"room\.configure"):
        _ = Postroom().settings


def test_core_replies_dispatch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(open_database(url))
    room = Postroom(make_settings(url), transport=MemoryTransport())
    got: list[Reply] = []
    room.handler("core")(got.append)
    issued = room.create_session("core", 3)
    assert room.codec.decode(issued.address).module == 0  # type: ignore[union-attr]
    assert room.receive(reply(issued.address)).outcome is Outcome.DISPATCHED
    assert got[0].module == "core"


def test_configuring_again_switches_the_database(tmp_path: Path) -> None:
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    for url in (first, second):
        upgrade(open_database(url))
    room = Postroom()
    room.handler("forum")(print)
    settings = make_settings(first)
    room.configure(settings)
    room.create_session("forum", 1)
    assert room.database.engine.url.database == str(tmp_path / "a.db")
    room.configure(settings.clone(database_url=second))
    assert room.database.engine.url.database == str(tmp_path / "b.db")


def test_rotating_the_signing_key_keeps_old_addresses_working(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(open_database(url))
    settings = make_settings(url)
    room = Postroom(settings, transport=MemoryTransport())
    got: list[Reply] = []
    room.handler("forum")(got.append)
    old = room.create_session("forum", 1).address

    new_key = bytes(range(32))
    rotated = settings.clone(address_keys={**settings.address_keys, 2: new_key}, signing_key_id=2)
    room.configure(rotated)
    new = room.create_session("forum", 2).address
    assert room.codec.decode(new).key_id == 2 and room.codec.decode(old).key_id == 1
    assert room.receive(reply(old)).outcome is Outcome.DISPATCHED
    assert room.receive(reply(new)).outcome is Outcome.DISPATCHED

    # Once the old key is removed, its addresses stop verifying (and are answered as such).
    room.configure(rotated.clone(address_keys={2: new_key}))
    assert room.receive(reply(old, message_id="<again@x>")).outcome is Outcome.INVALID_ADDRESS
    assert [r.user_id for r in got] == [1, 2]
