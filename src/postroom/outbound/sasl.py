"""The SASL mechanisms postroom logs in with (RFC 4954 profile of SASL): what the client sends
first and how it answers each challenge. Pure: no I/O, no knowledge of SMTP framing."""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from postroom.outbound.types import AuthMethod

__all__ = ["Login", "Plain", "SaslMechanism", "XOAuth2", "build_mechanism"]


class SaslMechanism(Protocol):
    """One login exchange. ``respond`` gets each decoded 334 challenge and returns the decoded
    answer; ``details`` keeps what a failing server explained, for the error message."""

    name: str
    details: str | None

    def initial_response(self) -> bytes | None: ...

    def respond(self, challenge: bytes) -> bytes: ...


class Plain:
    """PLAIN (RFC 4616 section 2): ``[authzid] NUL authcid NUL passwd`` in one message, so the
    client sends it as the initial response and no challenge follows."""

    name = "PLAIN"

    def __init__(self, username: str, password: str, authzid: str = "") -> None:
        self._message = f"{authzid}\0{username}\0{password}".encode()
        self.details: str | None = None

    def initial_response(self) -> bytes | None:
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        # A server that ignored the initial response asks with an empty challenge
        # (RFC 4954 section 4); anything else is unexpected: cancel (RFC 4954 section 4, "*").
        return self._message if not challenge else b"*"


class Login:
    """LOGIN (draft-murchison-sasl-login-00): the server asks "Username:" then "Password:".
    Servers word the prompts differently, so the first challenge gets the username and the
    second the password."""

    name = "LOGIN"

    def __init__(self, username: str, password: str) -> None:
        self._answers = [username.encode(), password.encode()]
        self.details: str | None = None

    def initial_response(self) -> bytes | None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        return self._answers.pop(0) if self._answers else b"*"


class XOAuth2:
    """XOAUTH2, as Google ("OAuth 2.0 Mechanism", developers.google.com/gmail/imap/xoauth2-protocol)
    and Microsoft ("Authenticate an IMAP, POP or SMTP connection using OAuth") define it: the
    initial response is ``user=U^Aauth=Bearer TOKEN^A^A``. A refused token comes back as a 334
    challenge holding a base64 JSON error; the client answers with an empty line and the
    server then sends its 535."""

    name = "XOAUTH2"

    def __init__(self, username: str, access_token: str) -> None:
        self._message = f"user={username}\x01auth=Bearer {access_token}\x01\x01".encode()
        self.details: str | None = None

    def initial_response(self) -> bytes | None:
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        if not challenge:
            # The server wants the initial response now (it was too long for the AUTH line).
            return self._message
        self.details = challenge.decode("utf-8", "replace")
        return b""


def build_mechanism(method: AuthMethod, username: str, secret: str) -> SaslMechanism:
    if method is AuthMethod.PLAIN:
        return Plain(username, secret)
    if method is AuthMethod.LOGIN:
        return Login(username, secret)
    if method is AuthMethod.XOAUTH2:
        return XOAuth2(username, secret)
    raise ValueError(f"no SASL mechanism for {method}")


def encode_response(response: bytes) -> bytes:
    """A SASL message on the SMTP wire: base64 (RFC 4954 section 4); the empty message is an
    empty line, except as an initial response, where it is "=" (the caller handles that)."""
    return base64.b64encode(response)


def decode_challenge(text: str) -> bytes | None:
    """The decoded text of a 334 reply, or None when it is not base64 (a broken server)."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
