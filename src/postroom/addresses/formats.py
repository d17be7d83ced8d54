"""Address payload formats: the version registry and format 1.

Every payload, in every format past and future, starts with one header byte: the format version in
the high four bits and the signing key id in the low four. That byte is the only layout all formats
share; it lets the codec pick the decoder before it knows anything else, so a later format never
breaks addresses already sitting in inboxes as long as its decoder stays registered.

A :class:`FormatRegistry` is an ordinary object handed to the codec: there is no module-level
registry to mutate. :func:`default_registry` builds a fresh one holding :class:`FormatV1`.

Format 1 (all integers big-endian, sizes in bytes)::

    reply   header 1 | module 2 | user 6 | session key 8 | tag 13   = 30 bytes -> 48 base32 chars
    bounce  header 1 | delivery id 8 | tag 16                      = 25 bytes -> 40 base32 chars

Both sizes are multiples of 5 bytes, so the base32 text (RFC 4648) has no unused bits in its last
character. The tag is HMAC-SHA256 (RFC 2104) truncated to 104 or 128 bits, taken over a label that
names the address kind followed by every byte before the tag, header included. The label keeps a
bounce address from ever verifying as a reply address and the other way round; the header keeps a
payload from being re-read under another version or key.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from postroom.addresses.keys import AddressKey, Keyring
from postroom.errors import ForgedAddress, MalformedAddress, UnknownAddressFormat

MAX_VERSION = 15

# Domain separation for the HMAC input. Distinct per address kind; shared by all versions because
# the version is already inside the signed bytes (the header).
REPLY_LABEL = b"postroom-address:reply\x00"
BOUNCE_LABEL = b"postroom-address:bounce\x00"

# RFC 2104 §5 allows truncation to no fewer than half the hash output or 80 bits; the issue asks for
# at least 80 bits.
MIN_TAG_BYTES = 10


@dataclass(frozen=True, slots=True)
class ReplyToken:
    """What a verified reply address says: who replied, to what, and under which session.

    ``session_key`` is the random key of the email session; the caller looks it up (and checks its
    expiry) only after the codec has verified the tag.
    """

    module: int
    user: int
    session_key: bytes
    version: int
    key_id: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for ``postroom address decode``; the session key is in hex."""
        return {
            "kind": "reply",
            "module": self.module,
            "user": self.user,
            "session_key": self.session_key.hex(),
            "version": self.version,
            "key_id": self.key_id,
        }


@dataclass(frozen=True, slots=True)
class BounceToken:
    """What a verified bounce (VERP) return path says: the one delivered copy that bounced."""

    delivery_id: int
    version: int
    key_id: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for ``postroom address decode``."""
        return {
            "kind": "bounce",
            "delivery_id": self.delivery_id,
            "version": self.version,
            "key_id": self.key_id,
        }


class AddressFormat(Protocol):
    """One payload format version: turns fields into signed bytes and verified bytes into tokens.

    ``encode_*`` return the raw payload (the codec base32-encodes it); its first byte must be
    :func:`header` of ``version`` and the key id. ``decode_*`` receive the raw payload whose header
    names this version and must raise :class:`MalformedAddress`, :class:`UnknownKey` or
    :class:`ForgedAddress` rather than return an unverified token.
    """

    @property
    def version(self) -> int: ...

    @property
    def reply_size(self) -> int:
        """Bytes in a reply payload (fixes the address length)."""
        ...

    @property
    def bounce_size(self) -> int:
        """Bytes in a bounce payload (fixes the address length)."""
        ...

    def encode_reply(
        self, key: AddressKey, *, module: int, user: int, session_key: bytes
    ) -> bytes: ...

    def encode_bounce(self, key: AddressKey, *, delivery_id: int) -> bytes: ...

    def decode_reply(self, payload: bytes, keyring: Keyring) -> ReplyToken: ...

    def decode_bounce(self, payload: bytes, keyring: Keyring) -> BounceToken: ...


def header(version: int, key_id: int) -> int:
    """The first payload byte: version in the high nibble, key id in the low nibble."""
    return (version << 4) | key_id


def header_version(payload: bytes) -> int:
    """The format version named by a payload's first byte."""
    return payload[0] >> 4


def header_key_id(payload: bytes) -> int:
    """The key id named by a payload's first byte."""
    return payload[0] & 0x0F


def sign(key: AddressKey, label: bytes, signed: bytes, size: int) -> bytes:
    """HMAC-SHA256 (RFC 2104) of ``label + signed`` under ``key``, truncated to ``size`` bytes."""
    return hmac.digest(key.secret, label + signed, "sha256")[:size]


def verify(key: AddressKey, label: bytes, signed: bytes, tag: bytes) -> None:
    """Raise :class:`ForgedAddress` unless ``tag`` is the truncated HMAC of ``label + signed``.

    The comparison is constant-time so the time taken reveals nothing about how many leading tag
    bytes were right.
    """
    if not hmac.compare_digest(sign(key, label, signed, len(tag)), tag):
        raise ForgedAddress("the address signature does not verify")


def check_int(name: str, value: int, bits: int) -> None:
    """Raise unless ``value`` is an int in ``0 .. 2**bits - 1`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} must be between 0 and 2**{bits} - 1, got {value}")


@dataclass(frozen=True, slots=True)
class FormatV1:
    """Format 1: fixed-width fields, a 104-bit reply tag and a 128-bit bounce tag."""

    MODULE_BITS = 16
    USER_BITS = 48
    SESSION_KEY_BYTES = 8
    DELIVERY_BITS = 64
    REPLY_TAG_BYTES = 13
    BOUNCE_TAG_BYTES = 16

    @property
    def version(self) -> int:
        return 1

    @property
    def reply_size(self) -> int:
        return 1 + 2 + 6 + self.SESSION_KEY_BYTES + self.REPLY_TAG_BYTES

    @property
    def bounce_size(self) -> int:
        return 1 + 8 + self.BOUNCE_TAG_BYTES

    def encode_reply(self, key: AddressKey, *, module: int, user: int, session_key: bytes) -> bytes:
        check_int("module", module, self.MODULE_BITS)
        check_int("user", user, self.USER_BITS)
        if not isinstance(session_key, bytes) or len(session_key) != self.SESSION_KEY_BYTES:
            raise ValueError(f"session_key must be exactly {self.SESSION_KEY_BYTES} bytes")
        signed = (
            bytes((header(self.version, key.key_id),))
            + module.to_bytes(2, "big")
            + user.to_bytes(6, "big")
            + session_key
        )
        return signed + sign(key, REPLY_LABEL, signed, self.REPLY_TAG_BYTES)

    def encode_bounce(self, key: AddressKey, *, delivery_id: int) -> bytes:
        check_int("delivery_id", delivery_id, self.DELIVERY_BITS)
        signed = bytes((header(self.version, key.key_id),)) + delivery_id.to_bytes(8, "big")
        return signed + sign(key, BOUNCE_LABEL, signed, self.BOUNCE_TAG_BYTES)

    def decode_reply(self, payload: bytes, keyring: Keyring) -> ReplyToken:
        if len(payload) != self.reply_size:
            raise MalformedAddress(
                f"a version 1 reply payload has {self.reply_size} bytes, not {len(payload)}"
            )
        key = keyring.key(header_key_id(payload))
        cut = self.reply_size - self.REPLY_TAG_BYTES
        # Verify before reading any field: nothing unauthenticated reaches the caller.
        verify(key, REPLY_LABEL, payload[:cut], payload[cut:])
        return ReplyToken(
            module=int.from_bytes(payload[1:3], "big"),
            user=int.from_bytes(payload[3:9], "big"),
            session_key=payload[9:cut],
            version=self.version,
            key_id=key.key_id,
        )

    def decode_bounce(self, payload: bytes, keyring: Keyring) -> BounceToken:
        if len(payload) != self.bounce_size:
            raise MalformedAddress(
                f"a version 1 bounce payload has {self.bounce_size} bytes, not {len(payload)}"
            )
        key = keyring.key(header_key_id(payload))
        cut = self.bounce_size - self.BOUNCE_TAG_BYTES
        verify(key, BOUNCE_LABEL, payload[:cut], payload[cut:])
        return BounceToken(
            delivery_id=int.from_bytes(payload[1:cut], "big"),
            version=self.version,
            key_id=key.key_id,
        )


class FormatRegistry:
    """The payload formats a codec can read, and the one it writes.

    Register every format whose addresses may still be in circulation. The default (the format new
    addresses use) is the one registered with ``default=True`` last, or else the highest version.
    """

    __slots__ = ("_default", "_formats")

    def __init__(
        self, formats: Iterable[AddressFormat] = (), *, default: int | None = None
    ) -> None:
        self._formats: dict[int, AddressFormat] = {}
        self._default: int | None = None
        for fmt in formats:
            self.register(fmt)
        if default is not None:
            self.get(default)
            self._default = default

    def register(self, fmt: AddressFormat, *, default: bool = False) -> None:
        """Add ``fmt``; make it the default for new addresses if ``default`` is true.

        Raises :class:`ValueError` if its version is out of range or already registered: replacing
        a decoder silently would strand the addresses it used to read.
        """
        version = fmt.version
        check_int("version", version, 4)
        if version in self._formats:
            raise ValueError(f"format version {version} is already registered")
        if min(fmt.reply_size, fmt.bounce_size) < 1:
            raise ValueError("a format payload holds at least the header byte")
        self._formats[version] = fmt
        if default:
            self._default = version

    def get(self, version: int) -> AddressFormat:
        """Return the format for ``version``; raise :class:`UnknownAddressFormat` if none."""
        try:
            return self._formats[version]
        except KeyError:
            raise UnknownAddressFormat(
                f"no decoder registered for address format version {version}"
            ) from None

    @property
    def default(self) -> AddressFormat:
        """The format new addresses are written in."""
        if not self._formats:
            raise LookupError("the format registry is empty")
        version = self._default if self._default is not None else max(self._formats)
        return self._formats[version]

    @property
    def versions(self) -> tuple[int, ...]:
        """Every registered version, ascending."""
        return tuple(sorted(self._formats))


def default_registry() -> FormatRegistry:
    """A fresh registry holding format 1 as the default."""
    return FormatRegistry((FormatV1(),), default=1)
