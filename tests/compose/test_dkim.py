"""DKIM signatures per copy, verified with dkimpy's own verifier.

dkimpy's ``dnsfunc`` hook stands for the DNS TXT lookup of ``<selector>._domainkey.<domain>``:
it serves the record :meth:`DkimKey.dns_record` says to publish.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from postroom.compose import CopyValues, Email, Mailbox, Unsubscribe, build_template
from postroom.compose.dkim import DkimKey, sign_copy
from postroom.errors import ConfigError


def pem(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def small_rsa_key() -> rsa.RSAPrivateKey:
    """A 508-bit RSA key (cryptography only generates 1024 bits and up): two known primes,
    2^255 - 19 and the order of the Ed25519 group."""
    p = 2**255 - 19
    q = 2**252 + 27742317777372353535851937790883648493
    e = 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    return numbers.private_key()


def dns_for(key: DkimKey) -> Callable[..., bytes | None]:
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        wanted = key.record_name.encode() + b"."
        return key.dns_record().encode() if name in (wanted, wanted[:-1]) else None

    return lookup


def copy() -> bytes:
    template = build_template(
        Email(
            account="news",
            to=["ada@example.net"],
            subject="Week 47",
            bulk=True,
            text="Read https://example.org/a\n",
            html='<a href="https://example.org/a">a</a>',
        ),
        sender=Mailbox("news@bücher.example", "News"),
        date=datetime(2026, 11, 21, tzinfo=UTC),
        email_token="e1",
    )
    return template.personalise(
        CopyValues(
            message_id="c1@example.org",
            click_urls=["https://t.example/c/1"],
            pixel_url="https://t.example/o/1",
            unsubscribe=Unsubscribe("mailto:u@example.org", "https://t.example/u/1"),
        )
    )


@pytest.mark.parametrize("kind", ["rsa-pkcs8", "rsa-pkcs1", "ed25519"])
def test_signed_copies_verify(kind: str, rsa_key: rsa.RSAPrivateKey) -> None:
    if kind == "ed25519":
        key = DkimKey("Bücher.example", "s2026", pem(ed25519.Ed25519PrivateKey.generate()))
        assert key.dns_record().startswith("v=DKIM1; k=ed25519; p=")
    else:
        fmt = (
            serialization.PrivateFormat.PKCS8
            if kind == "rsa-pkcs8"
            else serialization.PrivateFormat.TraditionalOpenSSL
        )
        key = DkimKey("bücher.example", "s2026", pem(rsa_key, fmt).decode())
        assert key.dns_record().startswith("v=DKIM1; k=rsa; p=")
    assert key.domain == "xn--bcher-kva.example"
    assert key.record_name == "s2026._domainkey.xn--bcher-kva.example"
    signed = sign_copy(copy(), key)
    assert signed.startswith(b"DKIM-Signature: ")
    assert dkim.verify(signed, dnsfunc=dns_for(key))
    header = signed.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ")
    signed_fields = header.split(b"h=", 1)[1].split(b";", 1)[0].replace(b" ", b"").split(b":")
    assert signed_fields == [
        b"from",
        b"to",
        b"cc",
        b"subject",
        b"date",
        b"message-id",
        b"reply-to",
        b"mime-version",
        b"content-type",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
    ]
    assert b"c=relaxed/relaxed" in header


def test_changes_after_signing_break_the_signature(rsa_key: rsa.RSAPrivateKey) -> None:
    key = DkimKey("example.org", "s1", pem(rsa_key))
    signed = sign_copy(copy(), key)
    lookup = dns_for(key)
    tampered = [
        signed.replace(b"https://t.example/u/1>", b"https://evil.example/u>"),
        signed.replace(b"Subject: Week 47", b"Subject: Week 48"),
        # a field that was absent is signed as absent (RFC 6376 §5.4.2)
        signed.replace(b"Message-ID:", b"Reply-To: evil@example.org\r\nMessage-ID:"),
        signed.replace(b"https://t.example/c/1", b"https://evil.example/c/1"),
    ]
    for data in tampered:
        assert data != signed
        assert not dkim.verify(data, dnsfunc=lookup)
    other = DkimKey("example.org", "s1", pem(rsa.generate_private_key(65537, 2048)))
    assert not dkim.verify(signed, dnsfunc=dns_for(other))


def test_bad_keys_fail_when_configured() -> None:
    with pytest.raises(ConfigError) as error:
        DkimKey("example.org", "s1", b"not a key")
    assert error.value.key == "dkim.private_key"
    with pytest.raises(ConfigError) as error:
        DkimKey("example.org", "s1", pem(small_rsa_key()))
    assert "508 bits" in error.value.problem
    with pytest.raises(ConfigError) as error:
        DkimKey("example.org", "s1", pem(ec.generate_private_key(ec.SECP256R1())))
    assert "RSA" in error.value.fix
    with pytest.raises(ConfigError) as error:
        DkimKey("example.org", "bad selector", pem(ed25519.Ed25519PrivateKey.generate()))
    assert error.value.key == "dkim.selector"
    with pytest.raises(ConfigError) as error:
        DkimKey("-bad-.example", "s1", pem(ed25519.Ed25519PrivateKey.generate()))
    assert error.value.key == "dkim.domain"
    key = DkimKey("example.org", "s1", pem(ed25519.Ed25519PrivateKey.generate()))
    assert "PRIVATE" not in repr(key)
