"""Address signing keys and the keyring that rotates them.

Every address carries the 4-bit id of the key that signed it. A :class:`Keyring` names one signing
key (used for every new address) and any number of older keys that still verify, so a secret can be
rotated without breaking the addresses already sitting in people's inboxes: add a new key, make it
the signing key, and drop the old one once its addresses no longer matter (sessions expire after a
month by default).

Secrets are HMAC-SHA256 keys (RFC 2104). RFC 2104 §3 asks for keys no shorter than the hash output,
so a secret must be at least 32 bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from postroom.errors import UnknownKey

MAX_KEY_ID = 15
MIN_SECRET_BYTES = 32


def generate_secret() -> bytes:
    """Return 32 fresh random bytes, suitable as an :class:`AddressKey` secret."""
    return secrets.token_bytes(MIN_SECRET_BYTES)


@dataclass(frozen=True, slots=True)
class AddressKey:
    """One HMAC-SHA256 secret and the id written into the addresses it signs.

    The secret is left out of ``repr`` so it cannot leak into logs or tracebacks.
    """

    key_id: int
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.key_id, bool) or not isinstance(self.key_id, int):
            raise TypeError(f"key_id must be an int, not {type(self.key_id).__name__}")
        if not 0 <= self.key_id <= MAX_KEY_ID:
            raise ValueError(f"key_id must be between 0 and {MAX_KEY_ID}, got {self.key_id}")
        if not isinstance(self.secret, bytes):
            raise TypeError(f"secret must be bytes, not {type(self.secret).__name__}")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"secret must be at least {MIN_SECRET_BYTES} bytes (RFC 2104 §3), "
                f"got {len(self.secret)}"
            )


@dataclass(frozen=True, slots=True)
class Keyring:
    """The signing key plus the older keys that still verify.

    The signing key always verifies too. Two keys may not share an id: an address names its key by
    id only, so a clash would make verification depend on list order.
    """

    signing: AddressKey
    verifying: tuple[AddressKey, ...] = ()
    _by_id: dict[int, AddressKey] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        by_id: dict[int, AddressKey] = {}
        for key in (self.signing, *self.verifying):
            if not isinstance(key, AddressKey):
                raise TypeError(f"keyring entries must be AddressKey, not {type(key).__name__}")
            known = by_id.get(key.key_id)
            if known is not None and known.secret != key.secret:
                raise ValueError(f"two different secrets share key id {key.key_id}")
            by_id[key.key_id] = key
        object.__setattr__(self, "verifying", tuple(self.verifying))
        object.__setattr__(self, "_by_id", by_id)

    @classmethod
    def from_secrets(cls, secrets: Mapping[int, bytes], signing_key_id: int) -> Keyring:
        """Build a keyring from ``{key_id: secret}``; ``signing_key_id`` must be one of them."""
        if signing_key_id not in secrets:
            raise ValueError(f"signing key id {signing_key_id} is not among the secrets given")
        signing = AddressKey(signing_key_id, secrets[signing_key_id])
        verifying = tuple(
            AddressKey(key_id, secret)
            for key_id, secret in sorted(secrets.items())
            if key_id != signing_key_id
        )
        return cls(signing=signing, verifying=verifying)

    @property
    def key_ids(self) -> frozenset[int]:
        """The ids of every key that verifies."""
        return frozenset(self._by_id)

    def key(self, key_id: int) -> AddressKey:
        """Return the key with ``key_id``; raise :class:`UnknownKey` if this keyring lacks it."""
        try:
            return self._by_id[key_id]
        except KeyError:
            raise UnknownKey(f"no key with id {key_id} in the keyring") from None
