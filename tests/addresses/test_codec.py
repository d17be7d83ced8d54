"""Address codec examples: round trips, the error each kind of bad input raises, rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from postroom.addresses import (
    MAX_LOCAL_PART,
    AddressCodec,
    AddressKey,
    BounceToken,
    Keyring,
    ReplyToken,
    base32,
    generate_secret,
    new_session_key,
)
from postroom.errors import (
    ForgedAddress,
    MalformedAddress,
    NotOurAddress,
    UnknownAddressFormat,
    UnknownKey,
)

SECRET = bytes(range(32))
SESSION = bytes.fromhex("0011223344556677")


@pytest.fixture
def codec() -> AddressCodec:
    return AddressCodec(Keyring(AddressKey(2, SECRET)), domain="example.org")


def local_part(address: str) -> str:
    return address.rpartition("@")[0]


def test_reply_known_answer(codec: AddressCodec) -> None:
    # Pinned: addresses already sent must keep decoding, so format 1 output may never change.
    address = codec.encode_reply(module=7, user=123456789, session_key=SESSION)
    assert address == "reply+ciaaoaaaa5n42fiacerdgrcvmz3vqh7t2yksqx2t4glecs42@example.org"
    assert codec.decode(address) == ReplyToken(
        module=7, user=123456789, session_key=SESSION, version=1, key_id=2
    )


def test_reply_layout_matches_an_independent_construction(codec: AddressCodec) -> None:
    signed = bytes([0x12]) + (7).to_bytes(2, "big") + (123456789).to_bytes(6, "big") + SESSION
    tag = hmac.new(SECRET, b"postroom-address:reply\x00" + signed, hashlib.sha256).digest()[:13]
    text = base64.b32encode(signed + tag).decode().lower()
    assert "=" not in text
    assert codec.encode_reply(module=7, user=123456789, session_key=SESSION) == (
        f"reply+{text}@example.org"
    )


def test_bounce_known_answer(codec: AddressCodec) -> None:
    address = codec.encode_bounce(delivery_id=987654321)
    assert address == "bounce+ciaaaaaahlpgrmjjygpdsnnta5cnw5huewgyduvq@example.org"
    assert codec.decode(address) == BounceToken(delivery_id=987654321, version=1, key_id=2)


@pytest.mark.parametrize(
    ("module", "user"), [(0, 0), (2**16 - 1, 2**40), (2**16 - 1, 2**48 - 1), (1, 1)]
)
def test_extreme_ids_fit_in_64_characters(codec: AddressCodec, module: int, user: int) -> None:
    address = codec.encode_reply(module=module, user=user, session_key=new_session_key())
    assert len(local_part(address)) == 54 <= MAX_LOCAL_PART
    token = codec.decode(address)
    assert isinstance(token, ReplyToken)
    assert (token.module, token.user) == (module, user)


@pytest.mark.parametrize("delivery_id", [0, 1, 2**63 - 1, 2**63, 2**64 - 1])
def test_bounce_extremes(codec: AddressCodec, delivery_id: int) -> None:
    address = codec.encode_bounce(delivery_id=delivery_id)
    assert len(local_part(address)) == 47
    assert codec.decode(address) == BounceToken(delivery_id=delivery_id, version=1, key_id=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"module": -1, "user": 0, "session_key": SESSION},
        {"module": 2**16, "user": 0, "session_key": SESSION},
        {"module": 0, "user": 2**48, "session_key": SESSION},
        {"module": 0, "user": 0, "session_key": SESSION[:7]},
        {"module": 0, "user": 0, "session_key": SESSION + b"x"},
    ],
)
def test_encode_reply_rejects_out_of_range(codec: AddressCodec, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        codec.encode_reply(**kwargs)  # type: ignore[arg-type]


def test_encode_rejects_bools_and_out_of_range_delivery(codec: AddressCodec) -> None:
    with pytest.raises(TypeError):
        codec.encode_reply(module=True, user=0, session_key=SESSION)
    with pytest.raises(ValueError):
        codec.encode_bounce(delivery_id=2**64)
    with pytest.raises(ValueError):
        codec.encode_bounce(delivery_id=-1)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda a: a,
        str.upper,
        lambda a: f"<{a}>",
        lambda a: f"  <{a.upper()}>\r\n",
        lambda a: a.rpartition("@")[0],
        lambda a: a.replace("@example.org", "@EXAMPLE.Org"),
        lambda a: "REPLY+" + a[len("reply+") :],
    ],
)
def test_decode_accepts_mta_spellings(codec: AddressCodec, wrap: object) -> None:
    address = codec.encode_reply(module=1, user=2, session_key=SESSION)
    assert callable(wrap)
    token = codec.decode(wrap(address))
    assert isinstance(token, ReplyToken)
    assert token.session_key == SESSION


@pytest.mark.parametrize(
    "address",
    [
        "someone@example.org",
        "reply+abc@example.com",
        "reply+abc@sub.example.org",
        "",
        "@example.org",
        "bounces@example.org",
    ],
)
def test_not_our_address(codec: AddressCodec, address: str) -> None:
    assert not codec.is_ours(address)
    with pytest.raises(NotOurAddress):
        codec.decode(address)


@pytest.mark.parametrize(
    "address",
    [
        "reply+@example.org",
        "reply+abc@example.org",  # impossible base32 length
        "reply+ceaaaaaa@example.org",  # version 1 header, but 5 bytes instead of 30
        "reply+" + "a" * 200 + "@example.org",
        "reply+ciaaoaaaa5n42fiacerdgrcvmz3vqh7t2yksqx2t4glecs4!@example.org",
        "reply+ciaaoaaaa5n42fiacerdgrcvmz3vqh7t2yksqx2t4glecs4=@example.org",
    ],
)
def test_malformed(codec: AddressCodec, address: str) -> None:
    assert codec.is_ours(address)
    with pytest.raises(MalformedAddress):
        codec.decode(address)


def test_non_ascii_look_alike_is_not_folded(codec: AddressCodec) -> None:
    # U+212A KELVIN SIGN lowers to "k" under Unicode rules; it must not stand in for one.
    address = codec.encode_reply(module=7, user=123456789, session_key=SESSION)
    position = local_part(address).index("k")
    forged = address[:position] + "\u212a" + address[position + 1 :]
    assert forged.lower() == address
    with pytest.raises(MalformedAddress):
        codec.decode(forged)
    kelvin_prefix = AddressCodec(
        Keyring(AddressKey(2, SECRET)), domain="example.org", reply_prefix="ok+"
    )
    genuine = kelvin_prefix.encode_reply(module=1, user=2, session_key=SESSION)
    assert kelvin_prefix.is_ours(genuine)
    assert not kelvin_prefix.is_ours("o\u212a" + genuine[2:])
    with pytest.raises(NotOurAddress):
        kelvin_prefix.decode("o\u212a" + genuine[2:])


def test_non_canonical_final_character_is_refused() -> None:
    # 26 bytes leave 2 unused bits in the 42nd character; setting them must not decode alike.
    text = base32.encode(bytes(26))
    assert base32.decode(text) == bytes(26)
    with pytest.raises(ValueError, match="canonical"):
        base32.decode(text[:-1] + "b")


def test_reply_and_bounce_do_not_cross(codec: AddressCodec) -> None:
    reply = codec.encode_reply(module=1, user=2, session_key=SESSION)
    bounce = codec.encode_bounce(delivery_id=5)
    with pytest.raises(MalformedAddress):
        codec.decode(reply.replace("reply+", "bounce+"))
    with pytest.raises(MalformedAddress):
        codec.decode(bounce.replace("bounce+", "reply+"))


def test_forged_tag(codec: AddressCodec) -> None:
    address = codec.encode_reply(module=1, user=2, session_key=SESSION)
    other = AddressCodec(Keyring(AddressKey(2, b"x" * 32)), domain="example.org")
    with pytest.raises(ForgedAddress):
        other.decode(address)


def test_unknown_version(codec: AddressCodec) -> None:
    payload = bytes([0x22]) + bytes(29)
    with pytest.raises(UnknownAddressFormat):
        codec.decode(f"reply+{base32.encode(payload)}@example.org")


def test_rotation_new_key_signs_old_keys_verify() -> None:
    old_secret, new_secret = generate_secret(), generate_secret()
    old = AddressCodec(Keyring.from_secrets({3: old_secret}, 3), domain="example.org")
    old_address = old.encode_reply(module=0, user=9, session_key=SESSION)
    rotated = AddressCodec(
        Keyring.from_secrets({3: old_secret, 4: new_secret}, signing_key_id=4),
        domain="example.org",
    )
    new_address = rotated.encode_reply(module=0, user=9, session_key=SESSION)
    assert rotated.decode(new_address).key_id == 4
    assert rotated.decode(old_address).key_id == 3
    with pytest.raises(UnknownKey):
        old.decode(new_address)
    retired = AddressCodec(Keyring.from_secrets({4: new_secret}, 4), domain="example.org")
    with pytest.raises(UnknownKey):
        retired.decode(old_address)
    assert retired.decode(new_address).key_id == 4


def test_key_validation() -> None:
    with pytest.raises(ValueError):
        AddressKey(16, SECRET)
    with pytest.raises(ValueError):
        AddressKey(0, SECRET[:31])
    with pytest.raises(ValueError):
        Keyring(AddressKey(1, SECRET), (AddressKey(1, b"y" * 32),))
    with pytest.raises(ValueError):
        Keyring.from_secrets({1: SECRET}, signing_key_id=2)
    assert "secret" not in repr(AddressKey(1, SECRET))
    assert SECRET.hex() not in repr(Keyring(AddressKey(1, SECRET)))
    assert len(generate_secret()) == 32
    assert len(new_session_key()) == 8
    assert new_session_key() != new_session_key()


def test_prefix_budget_is_enforced() -> None:
    keyring = Keyring(AddressKey(0, SECRET))
    longest = "r" * (MAX_LOCAL_PART - 48)
    codec = AddressCodec(keyring, domain="example.org", reply_prefix=longest)
    address = codec.encode_reply(module=1, user=1, session_key=SESSION)
    assert len(local_part(address)) == MAX_LOCAL_PART
    assert isinstance(codec.decode(address), ReplyToken)
    with pytest.raises(ValueError, match="RFC 5321"):
        AddressCodec(keyring, domain="example.org", reply_prefix=longest + "r")
    with pytest.raises(ValueError, match="RFC 5321"):
        AddressCodec(keyring, domain="example.org", bounce_prefix="b" * 25)


@pytest.mark.parametrize(
    ("reply_prefix", "bounce_prefix"),
    [("", "bounce+"), ("r+", "r+b"), ("x+", "x+"), ("rép+", "bounce+"), ("a b", "bounce+")],
)
def test_bad_prefixes(reply_prefix: str, bounce_prefix: str) -> None:
    with pytest.raises(ValueError):
        AddressCodec(
            Keyring(AddressKey(0, SECRET)),
            domain="example.org",
            reply_prefix=reply_prefix,
            bounce_prefix=bounce_prefix,
        )


@pytest.mark.parametrize("domain", ["", "a@b", "exa mple.org", "example..org", "bücher.de"])
def test_bad_domains(domain: str) -> None:
    with pytest.raises(ValueError):
        AddressCodec(Keyring(AddressKey(0, SECRET)), domain=domain)


def test_custom_prefixes(codec: AddressCodec) -> None:
    custom = AddressCodec(
        Keyring(AddressKey(2, SECRET)),
        domain="mail.example.org",
        reply_prefix="R-",
        bounce_prefix="vb.",
    )
    reply = custom.encode_reply(module=4, user=5, session_key=SESSION)
    bounce = custom.encode_bounce(delivery_id=6)
    assert reply.startswith("r-") and reply.endswith("@mail.example.org")
    assert bounce.startswith("vb.")
    assert isinstance(custom.decode(reply), ReplyToken)
    assert isinstance(custom.decode(bounce), BounceToken)
    with pytest.raises(NotOurAddress):
        codec.decode(reply)


def test_as_dict_for_operators(codec: AddressCodec) -> None:
    reply = codec.decode(codec.encode_reply(module=7, user=8, session_key=SESSION))
    assert reply.as_dict() == {
        "kind": "reply",
        "module": 7,
        "user": 8,
        "session_key": SESSION.hex(),
        "version": 1,
        "key_id": 2,
    }
    bounce = codec.decode(codec.encode_bounce(delivery_id=9))
    assert bounce.as_dict() == {"kind": "bounce", "delivery_id": 9, "version": 1, "key_id": 2}
