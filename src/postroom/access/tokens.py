"""Bearer tokens of the HTTP API (RFC 6750) and the scopes they carry.

A token reads ``postroom_<key id>_<secret>``: the key id (50 random bits, base32) names the
stored row and may be shown in listings and logs; the secret (256 random bits) is what proves
possession. Only the SHA-256 of the whole token is stored. A fast hash is the right one here,
unlike for passwords: the secret is random and 256 bits long, so there is no dictionary to try
and no brute force to slow down, and a slow password hash (Argon2, tens of milliseconds and
megabytes per call) would only cost every API request that much for no gain. The digest is
compared in constant time.

Scopes (RFC 6749 section 3.3 style, space-separated when stored): ``send`` (queue email, issue
and revoke reply addresses), ``read`` (emails, events, inbound messages, suppressions,
accounts), ``inbound`` (deliver raw mail over HTTP, for an MTA or a provider's inbound hook:
nothing else), ``admin`` (everything, including suppressions, accounts and replays).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from postroom.addresses.base32 import encode as base32
from postroom.errors import AccessError
from postroom.store import Database
from postroom.store import credentials as store

PREFIX = "postroom_"
_TOKEN = re.compile(r"^postroom_([a-z2-7]{10})_([a-z2-7]{52})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: A used token's ``last_used_at`` is written at most this often (not a write per request).
LAST_USED_GRANULARITY = timedelta(minutes=1)


class Scope(enum.StrEnum):
    """What a token may do. ``admin`` grants every other scope."""

    SEND = "send"
    READ = "read"
    INBOUND = "inbound"
    ADMIN = "admin"


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Scopes from words (``send``, ``read read``, ``"send read"``); AccessError names a bad
    one and the valid ones."""
    found: set[Scope] = set()
    for value in values:
        for word in value.replace(",", " ").split():
            try:
                found.add(Scope(word.lower()))
            except ValueError:
                valid = ", ".join(s.value for s in Scope)
                raise AccessError(f"unknown scope {word!r}: use {valid}") from None
    if not found:
        raise AccessError("a token needs at least one scope: send, read, inbound or admin")
    return frozenset(found)


def grants(scopes: frozenset[Scope], needed: Scope) -> bool:
    """Whether a token with ``scopes`` may do what ``needed`` allows."""
    return needed in scopes or Scope.ADMIN in scopes


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without anything that would let one use it."""

    id: int
    key_id: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def hint(self) -> str:
        """How the token begins, to recognise it (``postroom_abcdefghij_...``)."""
        return f"{PREFIX}{self.key_id}_..."

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_json(self, now: datetime) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "key_id": self.key_id,
            "scopes": sorted(self.scopes),
            "state": self.state(now),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``token`` is shown to the operator once and stored nowhere."""

    token: str
    info: TokenInfo


def _info(row: store.TokenRecord) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        key_id=row.key_id,
        name=row.name,
        scopes=frozenset(Scope(s) for s in row.scopes.split()),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_token(
    database: Database,
    name: str,
    scopes: frozenset[Scope],
    *,
    now: datetime,
    expires_at: datetime | None = None,
) -> IssuedToken:
    """Make a token named ``name`` (unique) with ``scopes``; the returned token string is the
    only copy there will ever be."""
    if not _NAME.match(name):
        raise AccessError(
            f"token name {name!r}: use up to 100 letters, digits, '.', '_' or '-' "
            "(say what uses it: forum-app, mta)"
        )
    if not scopes:
        raise AccessError("a token needs at least one scope: send, read, inbound or admin")
    if expires_at is not None and expires_at <= now:
        raise AccessError("the expiry is in the past: give a number of days from now")
    key_id = base32(secrets.token_bytes(7))[:10]
    token = f"{PREFIX}{key_id}_{base32(secrets.token_bytes(32))}"
    with database.transaction() as tx:
        if store.find_token(tx, name=name) is not None:
            raise AccessError(
                f"a token named {name!r} exists already: revoke it first "
                f"(postroom tokens revoke {name}) or choose another name"
            )
        row = store.insert_token(
            tx,
            key_id=key_id,
            secret_hash=digest(token),
            name=name,
            scopes=" ".join(sorted(scopes)),
            now=now,
            expires_at=expires_at,
        )
    return IssuedToken(token, _info(row))


def list_tokens(database: Database) -> list[TokenInfo]:
    with database.transaction() as tx:
        return [_info(row) for row in store.list_tokens(tx)]


def revoke_token(database: Database, which: str, *, now: datetime) -> TokenInfo:
    """Revoke the token named ``which`` (or with that key id, or that whole token): it is
    refused from the next request on. Revoking twice keeps the first time."""
    match = _TOKEN.match(which)
    key_id = match.group(1) if match else which
    with database.transaction() as tx:
        row = store.find_token(tx, name=which) or store.find_token(tx, key_id=key_id)
        if row is None:
            raise AccessError(f"no token named {which!r}: `postroom tokens list` shows them")
        store.revoke_token(tx, row.id, now=now)
        row = store.find_token(tx, key_id=row.key_id)
    assert row is not None
    return _info(row)


class TokenRefusal(enum.StrEnum):
    """Why a presented token is not accepted."""

    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The answer for a presented token: ``info`` when accepted, ``refusal`` otherwise."""

    info: TokenInfo | None
    refusal: TokenRefusal | None = None


def check_token(database: Database, token: str, *, now: datetime) -> TokenCheck:
    """Whether ``token`` is a live token of this database (and which)."""
    match = _TOKEN.match(token)
    if match is None:
        return TokenCheck(None, TokenRefusal.MALFORMED)
    with database.transaction() as tx:
        row = store.find_token(tx, key_id=match.group(1))
        if row is None or not hmac.compare_digest(row.secret_hash, digest(token)):
            return TokenCheck(None, TokenRefusal.UNKNOWN)
        info = _info(row)
        state = info.state(now)
        if state != "active":
            return TokenCheck(info, TokenRefusal(state))
        if info.last_used_at is None or now - info.last_used_at >= LAST_USED_GRANULARITY:
            store.touch_token(tx, row.id, now=now)
    return TokenCheck(info)
