"""An OAuth 2.0 authorisation server of the test, on 127.0.0.1, for the real-server XOAUTH2 rig.

:class:`TokenServer` runs stdlib ``http.server`` in a thread and is two endpoints at once:

- ``POST /token``: the token endpoint (RFC 6749 section 6, refresh_token grant). It checks the
  client (HTTP Basic or the body, section 2.3.1), answers as section 5.1 says, or with a
  section 5.2 error. Access tokens live ``access_lifetime`` seconds (settable at any time);
  with ``rotate_refresh_tokens`` every refresh issues a new refresh token and retires the old.
- ``POST /introspect``: token introspection as Dovecot's oauth2 passdb asks for it
  (``introspection_mode = post``: the form field ``token``; the server authenticates Dovecot
  with HTTP Basic, RFC 7662 section 2.1) and answers RFC 7662 section 2.2 JSON: ``active``,
  ``email``, ``username``, ``exp``, ``scope``.

Time is the server's ``clock`` (seconds, ``time.time`` by default): a test that hands it a
settable clock makes tokens expire without sleeping. :meth:`TokenServer.authorise` stands for a
user's consent: it issues a grant and returns the :class:`OAuthCredentials` the account would
store. :meth:`TokenServer.revoke` revokes a refresh token (and the access tokens it issued).
Every refresh and every introspection is counted. With ``tls`` (a server-side SSL context) the
server speaks https, for tests of certificate checks; Dovecot's rig uses plain http.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from postroom.outbound.oauth import OAuthCredentials
from support.mailservers import OAuth2Rig

__all__ = ["SettableClock", "TokenServer"]

_HOST = "127.0.0.1"
GMAIL_SCOPE = "https://mail.google.com/"


class SettableClock:
    """Seconds since the epoch that move only when told (a test's clock for the token server)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class _Grant:
    user: str
    scope: str
    refresh_token: str
    revoked: bool = False


@dataclass
class _AccessToken:
    grant: _Grant
    expires: float


@dataclass
class _State:
    grants: dict[str, _Grant] = field(default_factory=dict)  # by refresh token
    tokens: dict[str, _AccessToken] = field(default_factory=dict)  # by access token
    refreshes: int = 0
    introspections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class TokenServer:
    """The test's token and introspection endpoints; use as a context manager or start/stop."""

    def __init__(
        self,
        *,
        client_id: str = "postroom-test-client",
        client_secret: str | None = None,
        access_lifetime: float = 3600.0,
        rotate_refresh_tokens: bool = False,
        clock: Callable[[], float] = time.time,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(16)
        self.access_lifetime = access_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.clock = clock
        self.tls = tls
        # Dovecot's own credentials at the introspection endpoint (RFC 7662 section 2.1).
        self.introspection_client = "dovecot"
        self.introspection_secret = secrets.token_urlsafe(16)
        self._state = _State()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> TokenServer:
        handler = type("_BoundHandler", (_Handler,), {"token_server": self})
        server = ThreadingHTTPServer((_HOST, 0), handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        # Dovecot keeps its HTTP connection open; closing must not wait for it.
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the token server is not running"
        port: int = self._server.server_address[1]
        return port

    @property
    def token_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{_HOST}:{self.port}/token"

    def rig(self) -> OAuth2Rig:
        """The option of ``start_mail_servers(oauth2=...)`` that points Dovecot at this server."""
        return OAuth2Rig(
            introspection_url=f"http://{_HOST}:{self.port}/introspect",
            client_id=self.introspection_client,
            client_secret=self.introspection_secret,
        )

    # --- what tests do ------------------------------------------------------------------------

    def authorise(self, user: str, scope: str = GMAIL_SCOPE) -> OAuthCredentials:
        """A user's consent: a new grant, and the credentials an account would store for it."""
        grant = _Grant(user.lower(), scope, secrets.token_urlsafe(24))
        with self._state.lock:
            self._state.grants[grant.refresh_token] = grant
            access, expires = self._issue(grant)
        return OAuthCredentials(
            access_token=access,
            expires_at=datetime.fromtimestamp(expires, UTC),
            refresh_token=grant.refresh_token,
            refresh_expires_at=None,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=scope,
        )

    def revoke(self, refresh_token: str) -> None:
        """Revoke a grant: its refresh token and every access token it issued stop working."""
        with self._state.lock:
            self._state.grants[refresh_token].revoked = True

    @property
    def refreshes(self) -> int:
        """How many refresh requests were answered with a new access token."""
        return self._state.refreshes

    @property
    def introspections(self) -> int:
        return self._state.introspections

    # --- the endpoints (called by the handler thread) ----------------------------------------

    def _issue(self, grant: _Grant) -> tuple[str, float]:
        access = secrets.token_urlsafe(24)
        expires = self.clock() + self.access_lifetime
        self._state.tokens[access] = _AccessToken(grant, expires)
        return access, expires

    def _token(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, object]]:
        # RFC 6749 section 2.3.1: Basic or the body, never both.
        body_client = (form.get("client_id"), form.get("client_secret"))
        if basic is not None and body_client[1] is not None:
            return _error(400, "invalid_request", "client authenticated twice")
        client_id, client_secret = basic if basic is not None else body_client
        if client_id != self.client_id or client_secret != self.client_secret:
            status = 401 if basic is not None else 400
            return _error(status, "invalid_client", "unknown client or wrong secret")
        if form.get("grant_type") != "refresh_token":
            return _error(400, "unsupported_grant_type", "only refresh_token is served")
        refresh_token = form.get("refresh_token", "")
        with self._state.lock:
            grant = self._state.grants.get(refresh_token)
            if grant is None or grant.revoked:
                return _error(400, "invalid_grant", "Token has been expired or revoked.")
            scope = form.get("scope") or grant.scope
            if not set(scope.split()) <= set(grant.scope.split()):
                return _error(400, "invalid_scope", "scope exceeds the grant")
            if self.rotate_refresh_tokens:
                retired = self._state.grants.pop(grant.refresh_token)
                grant = _Grant(retired.user, retired.scope, secrets.token_urlsafe(24))
                self._state.grants[grant.refresh_token] = grant
            access, _ = self._issue(grant)
            self._state.refreshes += 1
        answer: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_lifetime),
            "scope": grant.scope,
        }
        if self.rotate_refresh_tokens:
            answer["refresh_token"] = grant.refresh_token
        return 200, answer

    def _introspect(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, object]]:
        if basic != (self.introspection_client, self.introspection_secret):
            return 401, {"error": "invalid_client"}
        with self._state.lock:
            self._state.introspections += 1
            token = self._state.tokens.get(form.get("token", ""))
            if token is None:
                return 200, {"active": False}
            grant = token.grant
            active = not grant.revoked and token.expires > self.clock()
        if not active:
            # RFC 7662 section 2.2: nothing but the flag for an expired or revoked token.
            # Dovecot 2.3 refuses such a token itself ("Provided token is not valid").
            return 200, {"active": False}
        return 200, {
            "active": True,
            "email": grant.user,
            "username": grant.user,
            "scope": grant.scope,
            "exp": int(token.expires),
            "client_id": self.client_id,
            "token_type": "Bearer",
        }


def _error(status: int, code: str, description: str) -> tuple[int, dict[str, object]]:
    return status, {"error": code, "error_description": description}


class _Handler(BaseHTTPRequestHandler):
    token_server: TokenServer
    protocol_version = "HTTP/1.1"  # keep-alive, as Dovecot's HTTP client expects
    timeout = 30

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        basic = _basic_credentials(self.headers.get("Authorization"))
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token":
            status, payload = self.token_server._token(form, basic)
        elif path == "/introspect":
            status, payload = self.token_server._introspect(form, basic)
        else:
            status, payload = 404, {"error": "not_found"}
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # RFC 6749 section 5.1: token answers are never cached.
        self.send_header("Cache-Control", "no-store")
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Basic realm="postroom-test"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Quiet: pytest shows the tests' own output only.
        return None


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        user, _, password = decoded.partition(":")
        return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
    return None
