"""DKIM signatures (RFC 6376) for each copy, made after the splice, with dkimpy.

Each copy differs (body, Message-ID, Reply-To, List-Unsubscribe), so each is signed on its own.
Canonicalisation is relaxed/relaxed (RFC 6376 §3.4.2 and §3.4.4): it survives the white-space
changes relays make. The signature covers :data:`SIGNED_FIELDS`, List-Unsubscribe and
List-Unsubscribe-Post included, as Gmail's and Yahoo's 2024 bulk-sender rules ask. A field of
that list that a copy lacks is signed as absent (RFC 6376 §5.4.2), so nobody can add a Reply-To
or a List-Unsubscribe on the way without breaking the signature.

Keys: RSA of at least 1024 bits (RFC 8301 §3.2; 2048 is what to generate), or Ed25519
(RFC 8463), given as PEM (PKCS#1, PKCS#8). :meth:`DkimKey.dns_record` gives the TXT record to
publish at ``<selector>._domainkey.<domain>``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postroom.compose.addressing import domain_to_ascii
from postroom.errors import ComposeError, ConfigError

SIGNED_FIELDS = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
MIN_RSA_BITS = 1024
_SELECTOR = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_INCLUDE = tuple(name.encode("ascii") for name in SIGNED_FIELDS)


@dataclass(frozen=True, slots=True)
class DkimKey:
    """An account's signing key: ``d=`` domain, ``s=`` selector and the private key (PEM).

    The key is read when the value is made, so a bad key fails at configuration time, not at
    the first send. The private key stays out of ``repr``.
    """

    domain: str
    selector: str
    private_key_pem: str | bytes = field(repr=False)
    algorithm: bytes = field(init=False, repr=False)
    _signing_key: bytes = field(init=False, repr=False)
    _public_record: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            ascii_domain = domain_to_ascii(self.domain, "dkim.domain")
        except ComposeError as exc:
            raise ConfigError("dkim.domain", exc.problem, exc.fix) from None
        object.__setattr__(self, "domain", ascii_domain)
        if not isinstance(self.selector, str) or not _SELECTOR.fullmatch(self.selector):
            raise ConfigError(
                "dkim.selector",
                f"{self.selector!r} is not a DNS label",
                "use letters, digits and dashes, such as 'postroom2026'",
            )
        pem = self.private_key_pem
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "dkim.private_key",
                f"the key is not an unencrypted PEM private key ({exc})",
                "give the PEM text of an RSA or Ed25519 key, as 'openssl genpkey' writes it",
            ) from None
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < MIN_RSA_BITS:
                raise ConfigError(
                    "dkim.private_key",
                    f"the RSA key has {key.key_size} bits",
                    "generate a 2048-bit key (RFC 8301 §3.2 refuses under 1024)",
                )
            signing = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            algorithm, kind = b"rsa-sha256", "rsa"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            # dkimpy (through PyNaCl) takes the 32-octet seed in base64; the DNS record
            # carries the raw 32-octet public key (RFC 8463 §4.2), not a DER structure.
            seed = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            signing = base64.b64encode(seed)
            public = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            algorithm, kind = b"ed25519-sha256", "ed25519"
        else:
            raise ConfigError(
                "dkim.private_key",
                f"a {type(key).__name__} cannot sign DKIM",
                "use an RSA (2048-bit) or Ed25519 key",
            )
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "_signing_key", signing)
        object.__setattr__(
            self,
            "_public_record",
            f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode('ascii')}",
        )

    @property
    def record_name(self) -> str:
        """Where the public key is published: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"

    def dns_record(self) -> str:
        """The TXT record value of the public key (RFC 6376 §3.6.1)."""
        return self._public_record


def sign_copy(message: bytes, key: DkimKey) -> bytes:
    """``message`` with a DKIM-Signature field prepended (RFC 6376 §5)."""
    try:
        signature = dkim.sign(
            message,
            key.selector.encode("ascii"),
            key.domain.encode("ascii"),
            key._signing_key,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=key.algorithm,
            include_headers=list(_INCLUDE),
            linesep=b"\r\n",
        )
    except dkim.DKIMException as exc:
        raise ComposeError(
            "dkim", f"the copy cannot be signed ({exc})", "sign copies made by Template.personalise"
        ) from None
    return bytes(signature) + message
