"""The tracking endpoints: a raw ASGI app in front of the web app (a framework route costs
2-4x here, ../shared/docs/PERFORMANCE.md).

- ``GET /t/o/<token>.gif``: the 43-byte transparent GIF, ``Cache-Control: no-store,
  max-age=0``, for every token; only a genuine open token is recorded.
- ``GET /t/c/<token>``: ``302`` to exactly the URL recorded for that link of that copy (the
  ``links`` table), never anywhere else: nothing of the request (query, path tricks, headers)
  takes part. A token that does not verify, or names no recorded link, gets a plain 404.
- ``GET /t/u/<token>``: a page whose button posts the one-click form; a GET changes nothing
  (scanners follow every link).
- ``POST /t/u/<token>`` with ``List-Unsubscribe=One-Click`` (RFC 8058 section 3.2, as
  ``application/x-www-form-urlencoded`` or ``multipart/form-data``): the address is
  suppressed at once, no cookie, no login, no redirect.

Every other path goes to the wrapped app.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import Table, select

from postroom.errors import TokenError
from postroom.outcomes import EventType
from postroom.store.models import DeliveryRow, LinkRow
from postroom.tracking.hits import HitKind, encode_hit
from postroom.tracking.recorder import Recorder
from postroom.tracking.tokens import ClickToken, TokenCodec, TokenKind

if TYPE_CHECKING:
    from postroom.app import Postroom

Scope = dict[str, Any]
ASGI = Any

#: A 1x1 transparent GIF89a (43 bytes): one colour, a transparency extension, one pixel.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
    (b"cache-control", b"no-store, max-age=0"),
]
_PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    ),
]
_NOT_FOUND = b"<!doctype html><title>Not found</title><p>This link is not valid.</p>\n"
MAX_FORM = 8192
LINK_CACHE = 50_000
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def safe_location(url: str) -> bytes | None:
    """``url`` as a Location header value, or None when it must not be one: only http(s)
    with a host, no control characters or spaces, no backslashes (browsers read them as
    slashes). Non-ASCII characters are refused too (compose stores URLs in ASCII)."""
    if not url or any(ord(c) < 0x21 or ord(c) > 0x7E or c == "\\" for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.encode("ascii")


class TrackingApp:
    def __init__(
        self,
        room: Postroom,
        app: ASGI,
        recorder: Recorder | None,
    ) -> None:
        self.room = room
        self.app = app
        self.recorder = recorder
        settings = room.settings.tracking
        self.enabled = settings.enabled
        self.forwarded_for = settings.forwarded_for
        self.codec = TokenCodec(room.codec_keyring())
        self._links: OrderedDict[tuple[int, int], str | None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: ASGI, send: ASGI) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/t/o/"):
                return await self._open(scope, send, path)
            if path.startswith("/t/c/"):
                return await self._click(scope, send, path)
            if path.startswith("/t/u/"):
                return await self._unsubscribe(scope, receive, send, path)
        await self.app(scope, receive, send)

    # -- shared -----------------------------------------------------------------------------

    def _client(self, scope: Scope) -> tuple[str, str]:
        agent = ""
        forwarded = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value.decode("latin-1")
            elif name == b"x-forwarded-for" and self.forwarded_for:
                forwarded = value.decode("latin-1")
        client = scope.get("client")
        ip = client[0] if client else ""
        if forwarded:
            ip = forwarded.rsplit(",", 1)[-1].strip()
        return ip, agent

    def _record(self, scope: Scope, kind: str, delivery: int, link: int | None) -> None:
        if self.recorder is None or not self.enabled:
            return
        ip, agent = self._client(scope)
        self.recorder.record(
            encode_hit(kind, delivery, link, time.time_ns(), scope["method"], ip, agent)
        )

    @staticmethod
    async def _answer(
        send: ASGI, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool
    ) -> None:
        if not any(name == b"content-length" for name, _ in headers):
            headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _not_found(self, send: ASGI, head: bool = False) -> None:
        await self._answer(send, 404, _PAGE_HEADERS, _NOT_FOUND, head)

    async def _not_allowed(self, send: ASGI, allow: bytes) -> None:
        body = b"method not allowed\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", allow)]
        await self._answer(send, 405, headers, body, False)

    # -- the pixel --------------------------------------------------------------------------

    async def _open(self, scope: Scope, send: ASGI, path: str) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            return await self._not_allowed(send, b"GET, HEAD")
        if path.endswith(".gif"):
            try:
                token = self.codec.decode(path[5:-4], now=datetime.now(UTC), kind=TokenKind.OPEN)
            except TokenError:
                pass
            else:
                self._record(scope, HitKind.OPEN, token.delivery_id, None)
        await send({"type": "http.response.start", "status": 200, "headers": _PIXEL_HEADERS})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else PIXEL})

    # -- clicks -----------------------------------------------------------------------------

    def _link_url(self, delivery_id: int, link: int) -> str | None:
        d, li = cast(Table, DeliveryRow.__table__).c, cast(Table, LinkRow.__table__).c
        with self.room.database.connect() as conn:
            url = conn.execute(
                select(li.url)
                .select_from(cast(Table, DeliveryRow.__table__))
                .join(cast(Table, LinkRow.__table__), li.email_id == d.email_id)
                .where(d.id == delivery_id, li.number == link)
            ).scalar_one_or_none()
        return None if url is None else str(url)

    async def _click(self, scope: Scope, send: ASGI, path: str) -> None:
        method = scope["method"]
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            return await self._not_allowed(send, b"GET, HEAD")
        try:
            token = self.codec.decode(path[5:], now=datetime.now(UTC), kind=TokenKind.CLICK)
        except TokenError:
            return await self._not_found(send, head)
        assert isinstance(token, ClickToken)
        key = (token.delivery_id, token.link)
        if key in self._links:
            url = self._links[key]
        else:
            loop = asyncio.get_running_loop()
            url = await loop.run_in_executor(None, self._link_url, *key)
            self._links[key] = url
            while len(self._links) > LINK_CACHE:
                self._links.popitem(last=False)
        location = safe_location(url) if url is not None else None
        if location is None:
            return await self._not_found(send, head)
        self._record(scope, HitKind.CLICK, token.delivery_id, token.link)
        headers = [
            (b"location", location),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
            (b"content-type", b"text/plain; charset=utf-8"),
        ]
        await self._answer(send, 302, headers, b"", head)

    # -- unsubscribe ------------------------------------------------------------------------

    async def _unsubscribe(self, scope: Scope, receive: ASGI, send: ASGI, path: str) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD", "POST"):
            return await self._not_allowed(send, b"GET, HEAD, POST")
        raw = path[5:]
        try:
            token = self.codec.decode(raw, now=datetime.now(UTC), kind=TokenKind.UNSUBSCRIBE)
        except TokenError:
            return await self._not_found(send, method == "HEAD")
        if method != "POST":
            return await self._answer(
                send, 200, _PAGE_HEADERS, _confirm_page(raw), method == "HEAD"
            )
        body = await _read_body(receive, MAX_FORM)
        if body is None or not _is_one_click(scope, body):
            page = _page(
                "Not unsubscribed",
                "This request did not carry the one-click unsubscribe form "
                "(List-Unsubscribe=One-Click). Use the button on the page this link opens.",
            )
            return await self._answer(send, 400, _PAGE_HEADERS, page, False)
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, unsubscribe_copy, self.room, token.delivery_id)
        if not found:
            return await self._not_found(send)
        page = _page("Unsubscribed", "You will not receive these emails any more.")
        await self._answer(send, 200, _PAGE_HEADERS, page, False)


def unsubscribe_copy(room: Postroom, delivery_id: int) -> bool:
    """Suppress the address (and user) of one copy and record ``unsubscribed`` once; False
    when no such copy exists."""
    from postroom.store import repos

    d = cast(Table, DeliveryRow.__table__).c
    now = room.clock()
    anonymous = room.settings.tracking.anonymous
    with room.database.transaction() as tx:
        row = tx.execute(
            select(d.email_id, d.address, d.user_id).where(d.id == delivery_id)
        ).one_or_none()
        if row is None:
            return False
        details = {"delivery_id": delivery_id, "email_id": row.email_id, "via": "one-click"}
        newly = repos.suppress_address(
            tx,
            address=row.address,
            user_id=row.user_id,
            reason="unsubscribe",
            now=now,
            details=details,
        )
        if newly:
            repos.add_event(
                tx,
                type=str(EventType.UNSUBSCRIBED),
                occurred_at=now,
                email_id=row.email_id,
                delivery_id=None if anonymous else delivery_id,
                recipient=None if anonymous else row.address,
                user_id=None if anonymous else row.user_id,
                data={"via": "one-click"},
            )
    return True


async def _read_body(receive: ASGI, limit: int) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += bytes(message.get("body", b""))
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return body


def _is_one_click(scope: Scope, body: bytes) -> bool:
    """RFC 8058 section 3.1: the POST body holds ``List-Unsubscribe=One-Click``."""
    content_type = ""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1").lower()
    text = body.decode("utf-8", "replace")
    if content_type.startswith("multipart/form-data"):
        # One part named List-Unsubscribe whose value is One-Click.
        for part in text.split("\r\n--"):
            head, _, value = part.partition("\r\n\r\n")
            if 'name="list-unsubscribe"' in head.lower() and value.strip() == ONE_CLICK[1]:
                return True
        return False
    return ONE_CLICK in parse_qsl(text, keep_blank_values=True)


def _page(title: str, text: str) -> bytes:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        f"<title>{html.escape(title)}</title>"
        "<body style='font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>\n"
    ).encode()


def _confirm_page(token: str) -> bytes:
    action = html.escape(token, quote=True)
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        "<title>Unsubscribe</title>"
        "<body style='font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em'>"
        "<h1>Unsubscribe</h1><p>Stop receiving these emails at this address?</p>"
        f'<form method=post action="{action}">'
        '<input type=hidden name="List-Unsubscribe" value="One-Click">'
        "<button type=submit>Unsubscribe</button></form></body></html>\n"
    ).encode()
