"""The rules of tokens and passwords, below the command line."""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from postroom.access.tokens import Scope, create_token, grants, parse_scopes
from postroom.access.users import add_user, verify_login
from postroom.app import Postroom
from postroom.errors import AccessError
from postroom.store.models import OperatorUserRow


def test_scopes_parse_from_words_and_admin_grants_everything() -> None:
    assert parse_scopes(["send read", "read,inbound"]) == {Scope.SEND, Scope.READ, Scope.INBOUND}
    with pytest.raises(AccessError, match="at least one scope"):
        parse_scopes([" "])
    assert all(grants(frozenset({Scope.ADMIN}), s) for s in Scope)
    assert not grants(frozenset({Scope.READ}), Scope.SEND)


def test_token_names_are_unique_and_bounded(api_room: Postroom) -> None:
    now = api_room.clock()
    create_token(api_room.database, "unique-name", frozenset({Scope.READ}), now=now)
    with pytest.raises(AccessError, match="exists already"):
        create_token(api_room.database, "unique-name", frozenset({Scope.READ}), now=now)
    with pytest.raises(AccessError, match="token name"):
        create_token(api_room.database, "bad name\n", frozenset({Scope.READ}), now=now)


def test_passwords_verify_across_unicode_forms_and_old_hashes_are_upgraded(
    api_room: Postroom,
) -> None:
    now = api_room.clock()
    composed = unicodedata.normalize("NFC", "Ångström passphrase here")
    add_user(api_room.database, "norm", composed, now=now)
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert verify_login(api_room.database, "norm", decomposed, now=now) is not None

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(composed)
    with api_room.database.transaction() as tx:
        tx.execute(
            update(OperatorUserRow)
            .where(OperatorUserRow.username == "norm")
            .values(password_hash=weak)
        )
    assert verify_login(api_room.database, "norm", composed, now=now) is not None
    with api_room.database.transaction() as tx:
        upgraded = tx.scalars(
            select(OperatorUserRow.password_hash).where(OperatorUserRow.username == "norm")
        ).one()
    assert upgraded != weak and "m=65536" in upgraded
