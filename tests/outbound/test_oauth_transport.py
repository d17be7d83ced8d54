"""The real token transport (urllib.request) against HTTP servers of the test on loopback.

The token endpoint is tests/support/oauth.py's TokenServer; a few one-purpose servers stand for
the failures a network gives: a closed port, a server that never answers, a redirect, and an
https server whose certificate nobody signed.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from postroom.errors import OAuthClientRejected, OAuthEndpointError, OAuthRevoked, OAuthUnavailable
from postroom.outbound.oauth import (
    ClientAuth,
    OAuthCredentials,
    UrllibTokenTransport,
    refresh_credentials,
)
from support.mailservers import free_port
from support.oauth import SettableClock, TokenServer


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    with TokenServer(clock=SettableClock()) as running:
        yield running


def now(server: TokenServer) -> datetime:
    clock = server.clock
    assert isinstance(clock, SettableClock)
    return clock.datetime()


def test_a_refresh_over_http(server: TokenServer) -> None:
    creds = server.authorise("alice@example.test")
    before = server.refreshes
    refreshed = refresh_credentials(creds, UrllibTokenTransport(timeout=5), now(server))
    assert server.refreshes == before + 1
    assert refreshed.access_token != creds.access_token
    assert refreshed.refresh_token == creds.refresh_token


def test_basic_client_authentication_is_accepted(server: TokenServer) -> None:
    creds = server.authorise("alice@example.test")
    basic = OAuthCredentials.from_json(creds.to_json() | {"client_auth": ClientAuth.BASIC.value})
    refreshed = refresh_credentials(basic, UrllibTokenTransport(timeout=5), now(server))
    assert refreshed.access_token != creds.access_token


def test_rotation_retires_the_old_refresh_token(server: TokenServer) -> None:
    creds = server.authorise("alice@example.test")
    transport = UrllibTokenTransport(timeout=5)
    server.rotate_refresh_tokens = True
    try:
        rotated = refresh_credentials(creds, transport, now(server))
    finally:
        server.rotate_refresh_tokens = False
    assert rotated.refresh_token != creds.refresh_token
    refresh_credentials(rotated, transport, now(server))
    with pytest.raises(OAuthRevoked):
        refresh_credentials(creds, transport, now(server))


@pytest.mark.parametrize("client_auth", [ClientAuth.BODY, ClientAuth.BASIC])
def test_a_wrong_client_secret_is_rejected(server: TokenServer, client_auth: ClientAuth) -> None:
    creds = server.authorise("alice@example.test")
    wrong = OAuthCredentials.from_json(
        creds.to_json() | {"client_secret": "wrong", "client_auth": client_auth.value}
    )
    with pytest.raises(OAuthClientRejected, match="client id and secret"):
        refresh_credentials(wrong, UrllibTokenTransport(timeout=5), now(server))


def test_a_revoked_grant_comes_back_as_revoked(server: TokenServer) -> None:
    creds = server.authorise("alice@example.test")
    server.revoke(creds.refresh_token)
    with pytest.raises(OAuthRevoked, match="Token has been expired or revoked"):
        refresh_credentials(creds, UrllibTokenTransport(timeout=5), now(server))


def loopback_credentials(url: str) -> OAuthCredentials:
    return OAuthCredentials(
        access_token="a",
        expires_at=datetime(2026, 11, 21, tzinfo=UTC),
        refresh_token="r",
        refresh_expires_at=None,
        token_url=url,
        client_id="c",
        client_secret="s",
        scope="",
    )


def test_a_closed_port_is_transient() -> None:
    creds = loopback_credentials(f"http://127.0.0.1:{free_port()}/token")
    with pytest.raises(OAuthUnavailable, match="cannot reach the token endpoint") as raised:
        refresh_credentials(creds, UrllibTokenTransport(timeout=5), datetime.now(UTC))
    assert raised.value.transient


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        creds = loopback_credentials(f"http://127.0.0.1:{silent.getsockname()[1]}/token")
        with pytest.raises(OAuthUnavailable, match="timed out"):
            refresh_credentials(creds, UrllibTokenTransport(timeout=0.3), datetime.now(UTC))


class _Redirect(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", "https://elsewhere.example/token")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


def test_a_redirect_is_not_followed() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        creds = loopback_credentials(f"http://127.0.0.1:{httpd.server_address[1]}/token")
        with pytest.raises(OAuthEndpointError, match="HTTP 307 to https://elsewhere"):
            refresh_credentials(creds, UrllibTokenTransport(timeout=5), datetime.now(UTC))
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl comes with Postfix's ssl-cert)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_certificates_are_verified(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with TokenServer(tls=tls) as secure:
        creds = secure.authorise("alice@example.test")
        assert creds.token_url.startswith("https://127.0.0.1:")
        # The default transport trusts the system's CAs only: nobody signed this certificate.
        with pytest.raises(OAuthEndpointError, match="does not verify"):
            refresh_credentials(creds, UrllibTokenTransport(timeout=5), datetime.now(UTC))
        # Trusting it explicitly works: the check is what failed, not the server.
        trusting = UrllibTokenTransport(timeout=5, context=ssl.create_default_context(cafile=cert))
        refreshed = refresh_credentials(creds, trusting, datetime.now(UTC))
        assert refreshed.access_token != creds.access_token
