"""Tracking tokens: the signed, opaque part of each copy's pixel, click and unsubscribe URLs.

A token names one delivery (one recipient's copy), for a click one link number of the email's
link table, and nothing else: no address, no name, nothing a reader could learn about the
recipient. Layout (format 1), before base64url without padding (RFC 4648 §5)::

    header   1 octet   version (high nibble, 1) | key id (low nibble, as addresses use)
    kind     1 octet   1 open, 2 click, 3 unsubscribe; +0x80 when an expiry follows
    delivery varint    unsigned LEB128, up to 2^63 - 1 (a signed BIGINT id)
    link     varint    click tokens only, up to 2^16 - 1
    expires  varint    only with the expiry flag: Unix seconds
    tag      16 octets HMAC-SHA256 (RFC 2104) over label | everything above, truncated

The tag is 128 bits, half the hash as RFC 2104 §5 recommends (and as NIST SP 800-107 §5.3.3
treats as full strength for a 256-bit hash). A forger can only guess online, one request per
guess at the endpoints, so 2^-128 per try is far past any practical rate; the cost is five
characters of URL over 96 bits. The label (``postroom-tracking:open\\0`` and so on) separates
the three kinds from one another and all of them from the reply and bounce addresses, which
use the same keyring (``postroom-address:...``): rotating the address keys rotates these too,
and no token or address verifies as another.

Decoding is ordered cheapest first and only a verified token is read: length, base64url
(canonical: one string per token), version, key id, tag (``hmac.compare_digest``), then kind
and expiry. An open token of a delivery id under 2^21 is at most 28 characters.
"""

from __future__ import annotations

import binascii
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from postroom.addresses.keys import Keyring
from postroom.errors import (
    ExpiredToken,
    ForgedToken,
    MalformedToken,
    UnknownTokenKey,
    WrongTokenKind,
)

VERSION = 1
TAG_BYTES = 16
MAX_DELIVERY_ID = 2**63 - 1
MAX_LINK = 2**16 - 1
_EXPIRY_FLAG = 0x80
_MAX_EXPIRY = 2**40  # far past any date a datetime holds, so a forged huge varint is refused
_MAX_TOKEN_CHARS = 64
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


class TokenKind(IntEnum):
    OPEN = 1
    CLICK = 2
    UNSUBSCRIBE = 3


_LABELS = {
    TokenKind.OPEN: b"postroom-tracking:open\0",
    TokenKind.CLICK: b"postroom-tracking:click\0",
    TokenKind.UNSUBSCRIBE: b"postroom-tracking:unsubscribe\0",
}
_KINDS = {int(kind): kind for kind in TokenKind}


@dataclass(frozen=True, slots=True)
class OpenToken:
    """The open pixel of one delivery was fetched."""

    delivery_id: int
    key_id: int
    expires: datetime | None = None
    kind = TokenKind.OPEN


@dataclass(frozen=True, slots=True)
class ClickToken:
    """Link number ``link`` (an index into ``Template.links``) of one delivery was clicked."""

    delivery_id: int
    link: int
    key_id: int
    expires: datetime | None = None
    kind = TokenKind.CLICK


@dataclass(frozen=True, slots=True)
class UnsubscribeToken:
    """The recipient of one delivery asks to be unsubscribed."""

    delivery_id: int
    key_id: int
    expires: datetime | None = None
    kind = TokenKind.UNSUBSCRIBE


Token = OpenToken | ClickToken | UnsubscribeToken


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _read_varint(data: bytes, position: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while position < end and shift <= 63:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and shift:
                raise MalformedToken("a number is written with more octets than it needs")
            return value, position
        shift += 7
    raise MalformedToken("a number runs past the end of the token")


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


class TokenCodec:
    """Encodes and verifies tracking tokens with the address keyring (see the module text)."""

    __slots__ = ("_keyring", "_macs")

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        # One HMAC state per key and kind with the label already absorbed: each token then
        # costs a copy and one update, about 40% less than a one-shot hmac.digest.
        self._macs = {
            (key_id, kind): hmac.new(keyring.key(key_id).secret, label, "sha256")
            for key_id in keyring.key_ids
            for kind, label in _LABELS.items()
        }

    def _tag(self, key_id: int, kind: TokenKind, body: bytes) -> bytes:
        mac = self._macs[key_id, kind].copy()
        mac.update(body)
        return mac.digest()[:TAG_BYTES]

    def _encode(
        self, kind: TokenKind, delivery_id: int, link: int | None, expires: datetime | None
    ) -> str:
        if isinstance(delivery_id, bool) or not 0 <= delivery_id <= MAX_DELIVERY_ID:
            raise ValueError(f"delivery_id must be between 0 and {MAX_DELIVERY_ID}")
        key = self._keyring.signing
        body = bytearray((VERSION << 4 | key.key_id, kind | (_EXPIRY_FLAG if expires else 0)))
        body += _varint(delivery_id)
        if link is not None:
            if isinstance(link, bool) or not 0 <= link <= MAX_LINK:
                raise ValueError(f"link must be between 0 and {MAX_LINK}")
            body += _varint(link)
        if expires is not None:
            if expires.tzinfo is None:
                raise ValueError("expires must be an aware datetime")
            body += _varint(max(0, int(expires.timestamp())))
        return _b64encode(bytes(body) + self._tag(key.key_id, kind, bytes(body)))

    def encode_open(self, delivery_id: int, *, expires: datetime | None = None) -> str:
        """The token of ``delivery_id``'s open pixel."""
        return self._encode(TokenKind.OPEN, delivery_id, None, expires)

    def encode_click(self, delivery_id: int, link: int, *, expires: datetime | None = None) -> str:
        """The token of link number ``link`` in ``delivery_id``'s copy."""
        return self._encode(TokenKind.CLICK, delivery_id, link, expires)

    def encode_unsubscribe(self, delivery_id: int, *, expires: datetime | None = None) -> str:
        """The token of ``delivery_id``'s unsubscribe URL."""
        return self._encode(TokenKind.UNSUBSCRIBE, delivery_id, None, expires)

    def decode(self, token: str, *, now: datetime, kind: TokenKind | None = None) -> Token:
        """Verify ``token`` and return what it names.

        ``kind`` makes any other kind a :class:`WrongTokenKind`. Raises :class:`MalformedToken`,
        :class:`UnknownTokenKey`, :class:`ForgedToken`, :class:`ExpiredToken` (as of ``now``)
        or :class:`WrongTokenKind`, all :class:`~postroom.errors.TokenError`.
        """
        if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_CHARS:
            raise MalformedToken("a token has 1 to 64 characters")
        try:
            text = token.encode("ascii")
            data = binascii.a2b_base64(
                text.translate(_TO_STANDARD) + b"=" * (-len(text) % 4), strict_mode=True
            )
        except (UnicodeEncodeError, binascii.Error):
            raise MalformedToken("the token is not base64url") from None
        if _b64encode(data) != token:
            raise MalformedToken("the token is not in canonical base64url")
        end = len(data) - TAG_BYTES
        if end < 3:
            raise MalformedToken("the token is too short")
        header = data[0]
        if header >> 4 != VERSION:
            raise MalformedToken(f"token format {header >> 4} is not one this version reads")
        key_id = header & 0x0F
        flags = data[1]
        found = _KINDS.get(flags & ~_EXPIRY_FLAG)
        if found is None:
            raise MalformedToken(f"unknown token kind {flags & ~_EXPIRY_FLAG}")
        if (key_id, found) not in self._macs:
            raise UnknownTokenKey(f"no key with id {key_id} in the keyring")
        if not hmac.compare_digest(self._tag(key_id, found, data[:end]), data[end:]):
            raise ForgedToken("the token's tag does not verify")
        delivery_id, position = _read_varint(data, 2, end)
        link = None
        if found is TokenKind.CLICK:
            link, position = _read_varint(data, position, end)
        expires = None
        if flags & _EXPIRY_FLAG:
            seconds, position = _read_varint(data, position, end)
            if seconds >= _MAX_EXPIRY:
                raise MalformedToken("the expiry is out of range")
            expires = datetime.fromtimestamp(seconds, UTC)
        if position != end or delivery_id > MAX_DELIVERY_ID or (link or 0) > MAX_LINK:
            raise MalformedToken("the token's fields do not fit its format")
        if kind is not None and found is not kind:
            raise WrongTokenKind(
                f"a {found.name.lower()} token where a {kind.name.lower()} token belongs"
            )
        if expires is not None and now >= expires:
            raise ExpiredToken(f"the token expired at {expires.isoformat()}")
        if found is TokenKind.OPEN:
            return OpenToken(delivery_id, key_id, expires)
        if found is TokenKind.CLICK:
            assert link is not None
            return ClickToken(delivery_id, link, key_id, expires)
        return UnsubscribeToken(delivery_id, key_id, expires)
