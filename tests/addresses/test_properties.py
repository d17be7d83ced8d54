"""Address properties: round trip, case-insensitivity, the 64-character bound, tamper evidence."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.addresses import (
    MAX_LOCAL_PART,
    AddressCodec,
    BounceToken,
    Keyring,
    ReplyToken,
)
from postroom.addresses.base32 import ALPHABET
from postroom.errors import AddressError

SECRETS = {key_id: bytes([key_id]) * 32 for key_id in (0, 7, 15)}
CODECS = {
    key_id: AddressCodec(Keyring.from_secrets(SECRETS, key_id), domain="example.org")
    for key_id in SECRETS
}
CODEC = CODECS[7]

modules = st.integers(0, 2**16 - 1)
users = st.integers(0, 2**48 - 1)
session_keys = st.binary(min_size=8, max_size=8)
delivery_ids = st.integers(0, 2**64 - 1)
key_ids = st.sampled_from(sorted(SECRETS))
# Likely spoilers (the alphabet itself, its upper case, address punctuation) plus any character.
replacements = st.one_of(
    st.sampled_from(ALPHABET + ALPHABET.upper() + string.punctuation + string.digits + " "),
    st.characters(),
)


@st.composite
def addresses(draw: st.DrawFn) -> str:
    codec = CODECS[draw(key_ids)]
    if draw(st.booleans()):
        return codec.encode_reply(
            module=draw(modules), user=draw(users), session_key=draw(session_keys)
        )
    return codec.encode_bounce(delivery_id=draw(delivery_ids))


def fold(char: str) -> str:
    """ASCII-only case folding, the only folding the codec promises."""
    return char.lower() if char.isascii() else char


@given(modules, users, session_keys, key_ids)
def test_reply_round_trip(module: int, user: int, session_key: bytes, key_id: int) -> None:
    address = CODECS[key_id].encode_reply(module=module, user=user, session_key=session_key)
    assert CODEC.decode(address) == ReplyToken(
        module=module, user=user, session_key=session_key, version=1, key_id=key_id
    )


@given(delivery_ids, key_ids)
def test_bounce_round_trip(delivery_id: int, key_id: int) -> None:
    address = CODECS[key_id].encode_bounce(delivery_id=delivery_id)
    assert CODEC.decode(address) == BounceToken(delivery_id=delivery_id, version=1, key_id=key_id)


@given(addresses(), st.randoms(use_true_random=False))
def test_any_ascii_case_decodes_alike(address: str, rnd: random.Random) -> None:
    mixed = "".join(c.upper() if rnd.random() < 0.5 else c for c in address)
    expected = CODEC.decode(address)
    assert CODEC.decode(address.upper()) == expected
    assert CODEC.decode(address.lower()) == expected
    assert CODEC.decode(mixed) == expected


@given(addresses())
def test_local_part_within_64_characters(address: str) -> None:
    local, _, domain = address.rpartition("@")
    assert len(local) <= MAX_LOCAL_PART
    assert domain == "example.org"
    assert local == local.lower()
    assert set(local) <= set(ALPHABET + "replybounce+")


@given(addresses(), st.data())
def test_single_character_change_never_verifies(address: str, data: st.DataObject) -> None:
    local = address.rpartition("@")[0]
    position = data.draw(st.integers(0, len(local) - 1), label="position")
    char = data.draw(
        replacements.filter(lambda c: fold(c) != fold(local[position])), label="replacement"
    )
    changed = local[:position] + char + local[position + 1 :]
    for candidate in (f"{changed}@example.org", changed):
        with pytest.raises(AddressError):
            CODEC.decode(candidate)
