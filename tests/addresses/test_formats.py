"""The format registry: older formats keep decoding after a newer one becomes the default."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from postroom.addresses import (
    AddressCodec,
    AddressKey,
    BounceToken,
    FormatRegistry,
    FormatV1,
    Keyring,
    ReplyToken,
    default_registry,
)
from postroom.addresses.formats import header, header_key_id, sign, verify
from postroom.errors import MalformedAddress, UnknownAddressFormat

SESSION = bytes.fromhex("8899aabbccddeeff")
KEYRING = Keyring(AddressKey(5, b"k" * 32))


@dataclass(frozen=True, slots=True)
class ToyV0:
    """A stand-in for a retired format: narrower ids, a shorter tag, its own labels."""

    reply_size: int = 1 + 1 + 4 + 8 + 11
    bounce_size: int = 1 + 4 + 10

    @property
    def version(self) -> int:
        return 0

    def encode_reply(self, key: AddressKey, *, module: int, user: int, session_key: bytes) -> bytes:
        signed = bytes((header(0, key.key_id), module)) + user.to_bytes(4, "big") + session_key[:8]
        return signed + sign(key, b"toy0-reply", signed, 11)

    def encode_bounce(self, key: AddressKey, *, delivery_id: int) -> bytes:
        signed = bytes((header(0, key.key_id),)) + delivery_id.to_bytes(4, "big")
        return signed + sign(key, b"toy0-bounce", signed, 10)

    def decode_reply(self, payload: bytes, keyring: Keyring) -> ReplyToken:
        if len(payload) != self.reply_size:
            raise MalformedAddress("not a toy v0 reply")
        key = keyring.key(header_key_id(payload))
        verify(key, b"toy0-reply", payload[:14], payload[14:])
        return ReplyToken(
            module=payload[1],
            user=int.from_bytes(payload[2:6], "big"),
            session_key=payload[6:14],
            version=0,
            key_id=key.key_id,
        )

    def decode_bounce(self, payload: bytes, keyring: Keyring) -> BounceToken:
        if len(payload) != self.bounce_size:
            raise MalformedAddress("not a toy v0 bounce")
        key = keyring.key(header_key_id(payload))
        verify(key, b"toy0-bounce", payload[:5], payload[5:])
        return BounceToken(
            delivery_id=int.from_bytes(payload[1:5], "big"), version=0, key_id=key.key_id
        )


def test_older_format_still_decodes_after_v1_becomes_default() -> None:
    registry = FormatRegistry()
    registry.register(ToyV0())
    legacy = AddressCodec(KEYRING, domain="example.org", registry=registry)
    old_reply = legacy.encode_reply(module=3, user=77, session_key=SESSION)
    old_bounce = legacy.encode_bounce(delivery_id=1234)
    assert legacy.decode(old_reply).version == 0

    registry.register(FormatV1(), default=True)
    current = AddressCodec(KEYRING, domain="example.org", registry=registry)
    new_reply = current.encode_reply(module=3, user=77, session_key=SESSION)
    assert new_reply != old_reply
    assert current.decode(new_reply) == ReplyToken(
        module=3, user=77, session_key=SESSION, version=1, key_id=5
    )
    assert current.decode(old_reply) == ReplyToken(
        module=3, user=77, session_key=SESSION, version=0, key_id=5
    )
    assert current.decode(old_bounce.upper()) == BounceToken(delivery_id=1234, version=0, key_id=5)

    # Without the old decoder registered the same address is refused, not misread as v1.
    v1_only = AddressCodec(KEYRING, domain="example.org")
    with pytest.raises(UnknownAddressFormat):
        v1_only.decode(old_reply)
    with pytest.raises(UnknownAddressFormat):
        legacy_only = AddressCodec(
            KEYRING, domain="example.org", registry=FormatRegistry((ToyV0(),))
        )
        legacy_only.decode(new_reply)


def test_default_is_explicit_or_highest_version() -> None:
    assert FormatRegistry((ToyV0(), FormatV1())).default.version == 1
    assert FormatRegistry((ToyV0(), FormatV1()), default=0).default.version == 0
    assert FormatRegistry((FormatV1(), ToyV0())).versions == (0, 1)
    with pytest.raises(UnknownAddressFormat):
        FormatRegistry((FormatV1(),), default=0)


def test_registry_refuses_duplicates_and_empty_default() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(FormatV1())
    with pytest.raises(LookupError):
        AddressCodec(KEYRING, domain="example.org", registry=FormatRegistry())


def test_default_registry_is_fresh_each_time() -> None:
    first = default_registry()
    first.register(ToyV0())
    assert first.versions == (0, 1)
    assert default_registry().versions == (1,)


def test_format_too_long_for_the_local_part_is_refused() -> None:
    wide = ToyV0(reply_size=40)  # 64 base32 characters before any prefix
    with pytest.raises(ValueError, match="RFC 5321"):
        AddressCodec(KEYRING, domain="example.org", registry=FormatRegistry((wide,)))


def test_v1_sizes_have_no_unused_base32_bits() -> None:
    v1 = FormatV1()
    assert v1.reply_size % 5 == 0
    assert v1.bounce_size % 5 == 0
    assert v1.REPLY_TAG_BYTES * 8 >= 80
    assert v1.BOUNCE_TAG_BYTES * 8 >= 80
    assert v1.SESSION_KEY_BYTES * 8 >= 64
