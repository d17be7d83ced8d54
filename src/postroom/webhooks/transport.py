"""The webhook seam: one signed POST and its answer.

:class:`WebhookRequest` and :class:`WebhookResponse` are plain values; :class:`WebhookTransport`
is the seam. :class:`UrllibWebhookTransport` is the real one (urllib.request: a timeout, no
redirects, since a 3xx is a failure by the Standard Webhooks convention, and a bounded answer);
:class:`MemoryWebhookTransport` is the public fake for tests.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from postroom.errors import WebhookFailed

__all__ = [
    "MemoryWebhookTransport",
    "UrllibWebhookTransport",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookTransport",
]

#: The most of an answer that is read: a handler's JSON answer, or an error page's start.
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "postroom-webhooks/1"


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass(frozen=True)
class WebhookResponse:
    """An endpoint's answer: status, the beginning of the body, ``Retry-After`` if given."""

    status: int
    body: bytes = b""
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class WebhookTransport(Protocol):
    """POSTs one request. A network failure or timeout raises
    :class:`~postroom.errors.WebhookFailed`; every HTTP answer comes back as a response."""

    def post(self, request: WebhookRequest, *, timeout: float) -> WebhookResponse: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class UrllibWebhookTransport:
    def __init__(self, *, context: ssl.SSLContext | None = None) -> None:
        self._opener = urllib.request.build_opener(
            _NoRedirect(),
            urllib.request.HTTPSHandler(context=context or ssl.create_default_context()),
        )

    def post(self, request: WebhookRequest, *, timeout: float) -> WebhookResponse:
        headers = {"User-Agent": USER_AGENT, **dict(request.headers)}
        outgoing = urllib.request.Request(
            request.url, data=request.body, headers=headers, method="POST"
        )
        try:
            with self._opener.open(outgoing, timeout=timeout) as answer:
                body = answer.read(MAX_ANSWER_BYTES)
                return WebhookResponse(answer.status, body, answer.headers.get("Retry-After"))
        except urllib.error.HTTPError as error:
            with error:
                body = error.read(MAX_ANSWER_BYTES)
            return WebhookResponse(error.code, body, error.headers.get("Retry-After"))
        except urllib.error.URLError as error:
            raise WebhookFailed(f"POST {request.url} failed: {error.reason}") from error
        except (OSError, http.client.HTTPException) as error:
            raise WebhookFailed(f"POST {request.url} failed: {error}") from error


Answerer = Callable[[WebhookRequest], WebhookResponse]


class MemoryWebhookTransport:
    """The fake: keeps every request and answers with ``answer(request)`` (default 204)."""

    def __init__(self, answer: Answerer | None = None) -> None:
        self.requests: list[WebhookRequest] = []
        self.answer = answer or (lambda request: WebhookResponse(204))

    def post(self, request: WebhookRequest, *, timeout: float) -> WebhookResponse:
        self.requests.append(request)
        return self.answer(request)
