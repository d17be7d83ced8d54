"""The token endpoint seam: one POST of a token request, and its answer.

:class:`TokenRequest` and :class:`TokenResponse` are plain values (the refresh logic in
:mod:`postroom.outbound.oauth` builds and reads them without I/O). :class:`TokenTransport` is
the seam: :class:`UrllibTokenTransport` is the real one (urllib.request, TLS certificates
verified, a timeout, no redirects, a bounded answer); :class:`MemoryTokenTransport` is the
public fake for tests.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from postroom.errors import OAuthEndpointError, OAuthError, OAuthUnavailable

__all__ = [
    "MemoryTokenTransport",
    "TokenRequest",
    "TokenResponse",
    "TokenTransport",
    "UrllibTokenTransport",
]

_MAX_ANSWER_BYTES = 1 << 20


@dataclass(frozen=True)
class TokenRequest:
    """One POST to a token endpoint (RFC 6749 section 6): form-encoded ``body``, secrets in it."""

    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)

    def form(self) -> dict[str, str]:
        """The body's fields (``application/x-www-form-urlencoded``), for tests and logs."""
        return dict(urllib.parse.parse_qsl(self.body.decode("ascii"), keep_blank_values=True))

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass(frozen=True)
class TokenResponse:
    """A token endpoint's answer as received: status, body and, for a redirect, Location."""

    status: int
    body: bytes = field(repr=False)
    location: str | None = None

    @classmethod
    def of_json(cls, status: int, payload: Mapping[str, object]) -> TokenResponse:
        return cls(status, json.dumps(payload).encode())


class TokenTransport(Protocol):
    """Sends one token request. Network failures raise :class:`~postroom.errors.OAuthUnavailable`;
    every HTTP answer, error statuses included, comes back as a :class:`TokenResponse`."""

    def post(self, request: TokenRequest) -> TokenResponse: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A token request carries secrets: it is never sent on to another address (a 3xx comes
    # back as an HTTPError, read as a TokenResponse with its Location).
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class UrllibTokenTransport:
    """The real transport: urllib.request, TLS certificates verified, a timeout, no redirects."""

    def __init__(self, *, timeout: float = 15.0, context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(
            _NoRedirect(),
            urllib.request.HTTPSHandler(context=context or ssl.create_default_context()),
        )

    def post(self, request: TokenRequest) -> TokenResponse:
        outgoing = urllib.request.Request(
            request.url, data=request.body, headers=dict(request.headers), method="POST"
        )
        try:
            with self._opener.open(outgoing, timeout=self.timeout) as answer:
                return TokenResponse(answer.status, _read_limited(answer, request.url))
        except urllib.error.HTTPError as error:
            with error:
                body = _read_limited(error, request.url)
            return TokenResponse(error.code, body, error.headers.get("Location"))
        except urllib.error.URLError as error:
            raise _network_error(request.url, error.reason) from error
        except (OSError, http.client.HTTPException) as error:
            raise _network_error(request.url, error) from error


class _Readable(Protocol):
    def read(self, amt: int, /) -> bytes: ...


def _read_limited(answer: _Readable, url: str) -> bytes:
    body = answer.read(_MAX_ANSWER_BYTES + 1)
    if len(body) > _MAX_ANSWER_BYTES:
        raise OAuthEndpointError(
            f"the token endpoint {url} answered with more than {_MAX_ANSWER_BYTES} bytes",
            "check that the account's token URL is the provider's token endpoint",
        )
    return body


def _network_error(url: str, reason: object) -> OAuthError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return OAuthEndpointError(
            f"the TLS certificate of the token endpoint {url} does not verify ({reason})",
            "check the token URL's host name, and that the system's CA certificates are current",
        )
    return OAuthUnavailable(
        f"cannot reach the token endpoint {url} ({reason})",
        "nothing to fix if the network is down: the refresh is tried again later",
    )


class MemoryTokenTransport:
    """The public fake: answers each request with the next queued answer, keeps every request.

    An answer is a :class:`TokenResponse`, or an :class:`~postroom.errors.OAuthError` to raise
    (the transport's own failures: :class:`~postroom.errors.OAuthUnavailable` stands for a
    network that is down, as :class:`UrllibTokenTransport` raises it).
    """

    def __init__(self, answers: Iterable[TokenResponse | OAuthError] = ()) -> None:
        self.requests: list[TokenRequest] = []
        self._answers = list(answers)

    def answer(self, *answers: TokenResponse | OAuthError) -> None:
        self._answers.extend(answers)

    def post(self, request: TokenRequest) -> TokenResponse:
        self.requests.append(request)
        if not self._answers:
            raise LookupError(f"MemoryTokenTransport: no answer queued for POST {request.url}")
        answer = self._answers.pop(0)
        if isinstance(answer, OAuthError):
            raise answer
        return answer
