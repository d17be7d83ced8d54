"""The reply and bounce address codec.

An address is ``<prefix><payload>@<domain>``: the prefix says which kind it is (``reply+`` or
``bounce+`` by default), the payload is the base32 text (RFC 4648) of a signed binary record whose
layout belongs to a format version (see :mod:`postroom.addresses.formats`). The local part must fit
in 64 characters (RFC 5321 §4.5.3.1.1); the codec refuses a configuration that would exceed it.

Decoding is stateless and ordered from cheapest to dearest: prefix and domain, base32, version,
key id, then the HMAC tag (RFC 2104) compared in constant time. Only a verified token comes back;
looking up the email session behind it is the caller's job.

Everything is ASCII case-insensitive, because MTAs may fold local parts to lower case. Only ASCII
letters are folded: Unicode case rules map some non-ASCII characters onto ASCII ones (U+212A KELVIN
SIGN lowers to ``k``), which would let an altered address verify.
"""

from __future__ import annotations

from postroom.addresses import base32
from postroom.addresses.formats import (
    AddressFormat,
    BounceToken,
    FormatRegistry,
    ReplyToken,
    default_registry,
    header_version,
)
from postroom.addresses.keys import Keyring
from postroom.errors import MalformedAddress, NotOurAddress

# RFC 5321 §4.5.3.1.1: "The maximum total length of a user name or other local-part is 64 octets."
MAX_LOCAL_PART = 64

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_WHITESPACE = " \t\r\n"
# RFC 5322 §3.2.3 atext plus ".", i.e. what a prefix may hold without quoting the local part.
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~.")
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


def _ascii_lower(text: str) -> str:
    # str.lower is exact for pure ASCII and much faster than translate; anything else keeps its
    # non-ASCII characters untouched.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _check_prefix(name: str, prefix: str) -> str:
    lowered = _ascii_lower(prefix)
    if not lowered or not set(lowered) <= _PREFIX_CHARS:
        raise ValueError(f"{name} {prefix!r} must be non-empty ASCII atext (RFC 5322 §3.2.3)")
    return lowered


def _check_domain(domain: str) -> str:
    lowered = _ascii_lower(domain)
    if not lowered or not set(lowered) <= _DOMAIN_CHARS or ".." in lowered:
        raise ValueError(f"domain {domain!r} must be an ASCII host name such as 'example.org'")
    return lowered


class AddressCodec:
    """Encodes and verifies reply and bounce addresses for one domain and keyring.

    ``registry`` lists the formats that can be read; new addresses use its default format. Without
    one, :func:`~postroom.addresses.formats.default_registry` (format 1) is used.
    """

    __slots__ = ("_bounce_prefix", "_domain", "_keyring", "_registry", "_reply_prefix")

    def __init__(
        self,
        keyring: Keyring,
        *,
        domain: str,
        reply_prefix: str = "reply+",
        bounce_prefix: str = "bounce+",
        registry: FormatRegistry | None = None,
    ) -> None:
        self._keyring = keyring
        self._domain = _check_domain(domain)
        self._reply_prefix = _check_prefix("reply_prefix", reply_prefix)
        self._bounce_prefix = _check_prefix("bounce_prefix", bounce_prefix)
        if self._reply_prefix.startswith(self._bounce_prefix) or self._bounce_prefix.startswith(
            self._reply_prefix
        ):
            raise ValueError(
                f"reply_prefix {reply_prefix!r} and bounce_prefix {bounce_prefix!r} must not be "
                "prefixes of one another: the prefix alone tells the kinds apart"
            )
        self._registry = registry if registry is not None else default_registry()
        fmt = self._registry.default
        self._check_budget(self._reply_prefix, fmt.reply_size)
        self._check_budget(self._bounce_prefix, fmt.bounce_size)

    @property
    def domain(self) -> str:
        """The (lower-cased) domain of every address this codec writes."""
        return self._domain

    @staticmethod
    def _check_budget(prefix: str, payload_size: int) -> None:
        length = len(prefix) + base32.encoded_length(payload_size)
        if length > MAX_LOCAL_PART:
            raise ValueError(
                f"prefix {prefix!r} makes a {length}-character local part; RFC 5321 §4.5.3.1.1 "
                f"allows {MAX_LOCAL_PART}, so the prefix may have at most "
                f"{MAX_LOCAL_PART - base32.encoded_length(payload_size)} characters"
            )

    def _address(self, prefix: str, payload: bytes) -> str:
        local = prefix + base32.encode(payload)
        if len(local) > MAX_LOCAL_PART:
            raise ValueError(
                f"local part of {len(local)} characters exceeds {MAX_LOCAL_PART} "
                "(RFC 5321 §4.5.3.1.1)"
            )
        return f"{local}@{self._domain}"

    def encode_reply(self, *, module: int, user: int, session_key: bytes) -> str:
        """Return the signed reply address for ``module``, ``user`` and the session's random key."""
        fmt = self._registry.default
        payload = fmt.encode_reply(
            self._keyring.signing, module=module, user=user, session_key=session_key
        )
        return self._address(self._reply_prefix, payload)

    def encode_bounce(self, *, delivery_id: int) -> str:
        """Return the signed VERP return path naming the one delivered copy ``delivery_id``."""
        payload = self._registry.default.encode_bounce(
            self._keyring.signing, delivery_id=delivery_id
        )
        return self._address(self._bounce_prefix, payload)

    def _split(self, address: str) -> tuple[str, str] | None:
        """Return ``(prefix, payload text)`` if the address is ours by prefix and domain."""
        text = address.strip(_ASCII_WHITESPACE)
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1]
        local, at, domain = text.rpartition("@")
        if not at:
            local = text
        elif _ascii_lower(domain) != self._domain:
            return None
        lowered = _ascii_lower(local)
        for prefix in (self._reply_prefix, self._bounce_prefix):
            if lowered.startswith(prefix):
                return prefix, local[len(prefix) :]
        return None

    def is_ours(self, address: str) -> bool:
        """Whether ``address`` has one of our prefixes and our domain (or none). No crypto."""
        return self._split(address) is not None

    def decode(self, address: str) -> ReplyToken | BounceToken:
        """Verify ``address`` and return what it names.

        Accepts any ASCII case, surrounding ``<>`` and whitespace, and a bare local part without
        ``@domain``. Raises :class:`NotOurAddress` (wrong prefix or domain),
        :class:`MalformedAddress` (payload is not canonical base32 of the right size),
        :class:`UnknownAddressFormat`, :class:`UnknownKey` or :class:`ForgedAddress`.
        """
        split = self._split(address)
        if split is None:
            raise NotOurAddress(f"{address!r} has neither our prefix nor our domain")
        prefix, text = split
        # The bound keeps a hostile, huge local part from costing more than a real one.
        if not text or len(prefix) + len(text) > MAX_LOCAL_PART:
            raise MalformedAddress(f"payload of {len(text)} characters cannot be ours")
        try:
            payload = base32.decode(text)
        except ValueError as exc:
            raise MalformedAddress(f"payload is not canonical base32: {exc}") from None
        if not payload:
            raise MalformedAddress("empty payload")
        fmt: AddressFormat = self._registry.get(header_version(payload))
        if prefix == self._reply_prefix:
            return fmt.decode_reply(payload, self._keyring)
        return fmt.decode_bounce(payload, self._keyring)
