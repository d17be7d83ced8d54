"""What every dashboard page shares: templates (package data, autoescaped), security
headers, the login guard and the CSRF check of every form.

Pages run no script at all. Their Content-Security-Policy allows styles and images from the
dashboard itself, frames from itself (the sandboxed raw and HTML views) and nothing else;
the framed views get a policy of their own with ``sandbox`` and no script either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from postroom.store.keyset import decode_cursor, encode_cursor
from postroom.web.dashboard import auth, text

if TYPE_CHECKING:
    from postroom.app import Postroom

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Raw messages and HTML bodies: no script, no network, nothing but inline styles and
#: embedded images, in a sandbox (a unique origin) and only inside the dashboard's pages.
FRAMED_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'; sandbox"
)
PAGE_SIZE = 50
MAX_FORM_BYTES = 64 * 1024

Handler = Callable[[Request], Awaitable[Response]]


def harden(response: Response, *, framed: bool = False) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = FRAMED_POLICY if framed else PAGE_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on the
    # dashboard's own forms, and the Origin check needs the real one.
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "SAMEORIGIN" if framed else "DENY"
    headers["Cache-Control"] = "no-store"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


class Shell:
    """One dashboard: the room, its signer and templates."""

    def __init__(self, room: Postroom) -> None:
        self.room = room
        self._signer: auth.Signer | None = None
        env = Environment(
            loader=PackageLoader("postroom.web.dashboard", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["mail"] = text.mail
        env.filters["block"] = text.block
        env.filters["when"] = text.when
        env.filters["as_json"] = text.as_json
        self.env = env

    @property
    def signer(self) -> auth.Signer:
        if self._signer is None:
            self._signer = auth.Signer(self.room)
        return self._signer

    def render(
        self, request: Request, template: str, *, status: int = 200, **context: Any
    ) -> Response:
        login: auth.Login | None = request.scope.get("postroom.login")
        csrf = auth.csrf_token(self.signer, login.nonce) if login else ""
        html = self.env.get_template(template).render(
            request=request, login=login, csrf=csrf, path=request.url.path, **context
        )
        return harden(HTMLResponse(html, status_code=status))

    def cursor(self, request: Request, listing: str, *, timed: bool) -> Any:
        value = request.query_params.get("cursor")
        if not value:
            return None
        try:
            return decode_cursor(listing, value, timed=timed)
        except ValueError:
            return None

    @staticmethod
    def next_cursor(listing: str, key: Any) -> str | None:
        return encode_cursor(listing, key) if key is not None else None

    async def blocking(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a database call off the event loop."""
        return await asyncio.to_thread(func, *args, **kwargs)

    async def form(self, request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return {}
        data = await request.form()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    # -- guards -------------------------------------------------------------------------------

    def page(self, handler: Handler) -> Handler:
        """A page for logged-in users; others are sent to the login form."""

        async def guarded(request: Request) -> Response:
            login = await self.blocking(auth.read_session, self.room, self.signer, request)
            if login is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
                return harden(response)
            request.scope["postroom.login"] = login
            return await handler(request)

        return guarded

    def action(self, handler: Handler) -> Handler:
        """A state-changing POST: logged in, same origin, and the form's CSRF token."""

        async def guarded(request: Request) -> Response:
            login = await self.blocking(auth.read_session, self.room, self.signer, request)
            if login is None:
                return self.refuse(request, 401, "Log in first: this action needs a login.")
            if not auth.same_origin(request):
                return self.refuse(request, 403, "Refused: the form was sent from another site.")
            fields = await self.form(request)
            token = fields.get("csrf", "")
            if not token or not self.signer.check("csrf", login.nonce, token):
                return self.refuse(
                    request,
                    403,
                    "Refused: the form's CSRF token is missing or stale. Reload the page "
                    "and try again.",
                )
            request.scope["postroom.login"] = login
            request.scope["postroom.form"] = fields
            return await handler(request)

        return guarded

    def refuse(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, "error.html", status=status, message=message)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="/")


def form_of(request: Request) -> dict[str, str]:
    fields: dict[str, str] = request.scope.get("postroom.form") or {}
    return fields
