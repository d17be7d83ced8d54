"""Account secrets encrypted at rest.

Passwords and OAuth tokens are kept as one JSON object per account, encrypted with Fernet
(AES-128-CBC with HMAC-SHA256, from the ``cryptography`` package) under the keys of
``[accounts] keys``. Rotation works as for the address keys: add a key with a new id, make it
``encryption_key`` (new secrets are written with it), run ``postroom accounts rotate-keys``
(:meth:`SecretBox.rotate` re-encrypts every stored secret), then drop the old key. Secrets are
never printed or logged: :class:`AccountSecrets` hides them from ``repr``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from postroom.errors import ConfigError, SecretError


@dataclass(frozen=True, slots=True)
class AccountSecrets:
    """An account's secrets. ``oauth`` is the OAuth credentials' JSON form."""

    password: str | None = field(default=None, repr=False)
    oauth: dict[str, Any] | None = field(default=None, repr=False)
    imap_password: str | None = field(default=None, repr=False)
    dkim_private_key: str | None = field(default=None, repr=False)
    dkim: dict[str, str] | None = None  # selector and domain: not secret

    def to_json(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("password", self.password),
                ("oauth", self.oauth),
                ("imap_password", self.imap_password),
                ("dkim_private_key", self.dkim_private_key),
                ("dkim", self.dkim),
            )
            if v is not None
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountSecrets:
        return cls(
            password=data.get("password"),
            oauth=data.get("oauth"),
            imap_password=data.get("imap_password"),
            dkim_private_key=data.get("dkim_private_key"),
            dkim=data.get("dkim"),
        )

    def __bool__(self) -> bool:
        return bool(self.to_json())


class SecretBox:
    """Encrypts and decrypts account secrets with the configured keyring."""

    def __init__(self, keys: Mapping[int, bytes], primary: int) -> None:
        if primary not in keys:
            raise ConfigError(
                "accounts.keys",
                f"no key with id {primary} (accounts.encryption_key) is configured",
                "run `postroom init` for a config with fresh keys, or add "
                "'1 = \"<base64 of 32 random bytes>\"' under [accounts] keys",
            )
        ordered = [keys[primary], *(v for k, v in sorted(keys.items()) if k != primary)]
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(raw[:32])) for raw in ordered])

    def encrypt(self, secrets: AccountSecrets) -> bytes:
        return self._fernet.encrypt(json.dumps(secrets.to_json()).encode())

    def decrypt(self, blob: bytes) -> AccountSecrets:
        try:
            data = json.loads(self._fernet.decrypt(blob))
        except InvalidToken:
            raise SecretError(
                "an account secret was encrypted with a key that is not in [accounts] keys: "
                "put the old key back (keep it until `postroom accounts rotate-keys` has run)"
            ) from None
        return AccountSecrets.from_json(data)

    def rotate(self, blob: bytes) -> bytes:
        """The same secret encrypted under the primary key."""
        try:
            return self._fernet.rotate(blob)
        except InvalidToken:
            raise SecretError(
                "an account secret cannot be decrypted with any key in [accounts] keys"
            ) from None
