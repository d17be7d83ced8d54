"""Tracking tokens: round trips, and every way a token can be untrustworthy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.addresses import Keyring, generate_secret
from postroom.errors import (
    ExpiredToken,
    ForgedToken,
    MalformedToken,
    TokenError,
    UnknownTokenKey,
    WrongTokenKind,
)
from postroom.tracking import ClickToken, OpenToken, TokenCodec, TokenKind, UnsubscribeToken
from postroom.tracking.tokens import MAX_DELIVERY_ID, MAX_LINK

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
OLD, NEW = generate_secret(), generate_secret()
URL_SAFE = frozenset(string.ascii_letters + string.digits + "-_")


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(Keyring.from_secrets({3: OLD, 4: NEW}, 4))


def test_round_trips(codec: TokenCodec) -> None:
    expires = NOW + timedelta(days=30)
    assert codec.decode(codec.encode_open(42), now=NOW) == OpenToken(42, 4)
    assert codec.decode(codec.encode_click(42, 7), now=NOW) == ClickToken(42, 7, 4)
    assert codec.decode(codec.encode_unsubscribe(42, expires=expires), now=NOW) == UnsubscribeToken(
        42, 4, expires
    )
    assert codec.decode(codec.encode_click(MAX_DELIVERY_ID, MAX_LINK), now=NOW) == ClickToken(
        MAX_DELIVERY_ID, MAX_LINK, 4
    )


def test_tokens_are_short_url_safe_and_say_nothing_readable(codec: TokenCodec) -> None:
    token = codec.encode_open(123_456)
    assert len(token) == 28
    assert set(token) <= URL_SAFE
    assert len(codec.encode_click(123_456, 3)) == 30
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    # Neither the id nor an address in the clear (a lone byte such as "@" can occur by chance
    # in the MAC: 21 random bytes hold one about 8 % of the time).
    assert b"123456" not in raw and b"example" not in raw
    assert codec.encode_open(123_456) == token  # one delivery, one token


@given(
    st.integers(0, MAX_DELIVERY_ID),
    st.integers(0, MAX_LINK),
    st.one_of(st.none(), st.integers(0, 2**34)),
)
def test_property_round_trip(delivery: int, link: int, expiry: int | None) -> None:
    codec = TokenCodec(Keyring.from_secrets({4: NEW}, 4))
    expires = datetime.fromtimestamp(expiry, UTC) if expiry is not None else None
    token = codec.encode_click(delivery, link, expires=expires)
    assert set(token) <= URL_SAFE
    now = datetime.fromtimestamp(0, UTC) - timedelta(days=1)
    assert codec.decode(token, now=now) == ClickToken(delivery, link, 4, expires)


def test_every_single_character_change_is_refused(codec: TokenCodec) -> None:
    for token in (
        codec.encode_open(987_654_321),
        codec.encode_click(5, 2),
        codec.encode_unsubscribe(77, expires=NOW + timedelta(days=1)),
    ):
        for position in range(len(token)):
            for char in "Aa0-_Zz9":
                if char == token[position]:
                    continue
                changed = token[:position] + char + token[position + 1 :]
                with pytest.raises(TokenError):
                    codec.decode(changed, now=NOW)


def test_truncated_and_garbage_tokens_are_malformed(codec: TokenCodec) -> None:
    token = codec.encode_open(42)
    for bad in (
        token[:-1],
        token[:-4],
        token[:3],
        "",
        "x" * 65,
        token + "A",
        "ab cd",
        "é" * 10,
        token.replace(token[5], "+"),
        token + "=",
    ):
        with pytest.raises((MalformedToken, ForgedToken)):
            codec.decode(bad, now=NOW)
    with pytest.raises(MalformedToken):
        codec.decode(token[:-1], now=NOW)


def _signed(secret: bytes, label: bytes, body: bytes) -> str:
    tag = hmac.new(secret, label + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()


def test_re_signed_with_another_key_is_forged(codec: TokenCodec) -> None:
    stranger = TokenCodec(Keyring.from_secrets({4: generate_secret()}, 4))
    with pytest.raises(ForgedToken):
        codec.decode(stranger.encode_open(42), now=NOW)
    unknown = TokenCodec(Keyring.from_secrets({9: generate_secret()}, 9))
    with pytest.raises(UnknownTokenKey):
        codec.decode(unknown.encode_open(42), now=NOW)


def test_kind_and_fields_are_inside_the_tag(codec: TokenCodec) -> None:
    open_token = codec.encode_open(42)
    raw = bytearray(base64.urlsafe_b64decode(open_token + "=" * (-len(open_token) % 4)))
    raw[1] = TokenKind.UNSUBSCRIBE  # same bytes, claimed as an unsubscribe token
    relabelled = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(ForgedToken):
        codec.decode(relabelled, now=NOW)
    # A record signed with the right key but without the tracking label (as an address
    # signer would) does not verify: the labels separate the domains.
    body = bytes([0x14, TokenKind.OPEN, 42])
    with pytest.raises(ForgedToken):
        codec.decode(_signed(NEW, b"postroom-address:bounce\0", body), now=NOW)
    assert codec.decode(_signed(NEW, b"postroom-tracking:open\0", body), now=NOW) == OpenToken(
        42, 4
    )
    # An overlong number is refused even with a genuine tag.
    overlong = bytes([0x14, TokenKind.OPEN, 0xAA, 0x80, 0x00])
    with pytest.raises(MalformedToken):
        codec.decode(_signed(NEW, b"postroom-tracking:open\0", overlong), now=NOW)
    # Trailing bytes inside the signed part are refused too.
    with pytest.raises(MalformedToken):
        codec.decode(_signed(NEW, b"postroom-tracking:open\0", body + b"\x01"), now=NOW)


def test_expiry(codec: TokenCodec) -> None:
    expires = NOW + timedelta(hours=1)
    token = codec.encode_open(42, expires=expires)
    assert codec.decode(token, now=NOW).expires == expires.replace(microsecond=0)
    with pytest.raises(ExpiredToken):
        codec.decode(token, now=expires)
    with pytest.raises(ExpiredToken):
        codec.decode(token, now=NOW + timedelta(days=3))
    with pytest.raises(ValueError):
        codec.encode_open(42, expires=datetime(2027, 1, 1))


def test_rotation_keeps_old_tokens_valid_until_the_key_is_dropped() -> None:
    before = TokenCodec(Keyring.from_secrets({3: OLD}, 3))
    token = before.encode_click(42, 1)
    rotated = TokenCodec(Keyring.from_secrets({3: OLD, 4: NEW}, 4))
    assert rotated.decode(token, now=NOW) == ClickToken(42, 1, 3)
    assert rotated.decode(rotated.encode_click(42, 1), now=NOW).key_id == 4
    dropped = TokenCodec(Keyring.from_secrets({4: NEW}, 4))
    with pytest.raises(UnknownTokenKey):
        dropped.decode(token, now=NOW)


def test_wrong_kind(codec: TokenCodec) -> None:
    click = codec.encode_click(42, 0)
    with pytest.raises(WrongTokenKind):
        codec.decode(click, now=NOW, kind=TokenKind.OPEN)
    with pytest.raises(WrongTokenKind):
        codec.decode(codec.encode_open(42), now=NOW, kind=TokenKind.UNSUBSCRIBE)
    assert codec.decode(click, now=NOW, kind=TokenKind.CLICK) == ClickToken(42, 0, 4)


def test_out_of_range_values_are_refused_when_encoding(codec: TokenCodec) -> None:
    for bad in (-1, MAX_DELIVERY_ID + 1, True):
        with pytest.raises(ValueError):
            codec.encode_open(bad)
    with pytest.raises(ValueError):
        codec.encode_click(1, MAX_LINK + 1)
