"""Logging in to the dashboard: a signed session cookie and CSRF tokens.

The cookie holds the user's id and name, when it was issued and a random nonce, signed with
HMAC-SHA256 (RFC 2104) under a key derived from the current address key (its own label, so
nothing else postroom signs verifies as a session). It is ``HttpOnly``, ``SameSite=Lax``,
``Path=/``, and ``Secure`` (named with the ``__Host-`` prefix, RFC 6265bis section 4.1.3.2)
whenever the dashboard is reached over HTTPS. A session ends after :data:`SESSION_AGE`, when
the user is removed, or when their password changes (sessions issued before are refused).

Every form carries a CSRF token (OWASP's synchronizer token pattern): the HMAC of the
session's nonce, checked on every POST; POSTs whose ``Origin`` names another site are refused
too. The login form, which has no session yet, takes its token from a short-lived random
cookie of its own (the double-submit pattern).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from postroom.store import credentials

if TYPE_CHECKING:
    from postroom.app import Postroom

SESSION_AGE = timedelta(hours=12)
LOGIN_AGE = timedelta(minutes=30)
_LABEL = b"postroom-dashboard:"


@dataclass(frozen=True, slots=True)
class Login:
    """Who is logged in, and the nonce their CSRF tokens are made from."""

    user_id: int
    username: str
    issued: datetime
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMACs under the dashboard's key (derived from the current address key)."""

    def __init__(self, room: Postroom) -> None:
        settings = room.settings
        settings.require_keys()
        secret = settings.address_keys[settings.signing_key_id]
        self._key = hmac.new(secret, _LABEL + b"key", hashlib.sha256).digest()

    def tag(self, purpose: str, value: str) -> str:
        message = purpose.encode("ascii") + b"\0" + value.encode("utf-8")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def check(self, purpose: str, value: str, tag: str) -> bool:
        return hmac.compare_digest(self.tag(purpose, value), tag)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def session_cookie(request: Request) -> str:
    return "__Host-postroom" if secure(request) else "postroom_session"


def login_cookie(request: Request) -> str:
    return "__Host-postroom-login" if secure(request) else "postroom_login"


def issue(signer: Signer, user_id: int, username: str, now: datetime) -> tuple[str, Login]:
    login = Login(user_id, username, now, secrets.token_urlsafe(18))
    body = _b64(
        json.dumps(
            {"u": user_id, "n": username, "i": int(now.timestamp()), "c": login.nonce},
            separators=(",", ":"),
        ).encode("utf-8")
    )
    return f"{body}.{signer.tag('session', body)}", login


def read_session(room: Postroom, signer: Signer, request: Request) -> Login | None:
    """The login the request's cookie proves, or None (absent, forged, expired, or issued
    before the user's password changed or for a user who is gone)."""
    value = request.cookies.get(session_cookie(request), "")
    body, _, tag = value.partition(".")
    if not body or not tag or not signer.check("session", body, tag):
        return None
    try:
        data = json.loads(_unb64(body))
        issued = datetime.fromtimestamp(int(data["i"]), tz=room.clock().tzinfo)
        login = Login(int(data["u"]), str(data["n"]), issued, str(data["c"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    now = room.clock()
    if not issued <= now + timedelta(minutes=1) or now - issued > SESSION_AGE:
        return None
    with room.database.transaction() as tx:
        user = credentials.find_user(tx, login.username)
    if user is None or user.id != login.user_id:
        return None
    if user.password_changed_at.timestamp() > issued.timestamp() + 1:
        return None
    return login


def set_session(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        session_cookie(request),
        value,
        max_age=int(SESSION_AGE.total_seconds()),
        path="/",
        secure=secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        session_cookie(request), path="/", secure=secure(request), httponly=True, samesite="lax"
    )


def csrf_token(signer: Signer, nonce: str) -> str:
    return signer.tag("csrf", nonce)


def login_nonce(request: Request) -> str | None:
    value = request.cookies.get(login_cookie(request))
    return value if value and len(value) < 100 else None


def set_login_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        login_cookie(request),
        nonce,
        max_age=int(LOGIN_AGE.total_seconds()),
        path="/",
        secure=secure(request),
        httponly=True,
        samesite="strict",
    )


def same_origin(request: Request) -> bool:
    """False when the request says it comes from another site (``Origin``, or for browsers
    that send none on a POST, ``Sec-Fetch-Site``)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        return origin.split("://", 1)[-1] == host
    site = request.headers.get("sec-fetch-site")
    if origin == "null":  # an opaque origin: only a browser's own word that it is ours
        return site == "same-origin"
    return site is None or site in ("same-origin", "none")
