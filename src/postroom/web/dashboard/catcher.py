"""The catcher's pages: every recipient's inbox, each message (headers, text, the HTML body
and the raw message in sandboxed frames) and the recipient's actions on it: open, click a
link, reply, bounce. A failed action (``postroom serve`` not answering the pixel) is shown
on the message's page with what to do."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from postroom.catcher import actions
from postroom.catcher.mail import body_text, parse
from postroom.errors import CatcherError, PostroomError
from postroom.store import catcher as store
from postroom.web.dashboard.shell import PAGE_SIZE, Shell, form_of, harden
from postroom.web.dashboard.views import raw_response

_SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")


class CatcherViews:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.room = shell.room

    def _boxes(self, address: str | None, recipient: str | None, start: Any) -> Any:
        with self.room.database.transaction() as tx:
            boxes = store.inboxes(tx, address=address)
            page = store.caught_page(tx, recipient=recipient, start=start, limit=PAGE_SIZE)
        return boxes, page

    async def inboxes(self, request: Request) -> Response:
        params = request.query_params
        address = (params.get("address") or "")[:500] or None
        recipient = (params.get("inbox") or "")[:500] or None
        start = self.shell.cursor(request, "caught", timed=False)
        boxes, page = await self.shell.blocking(self._boxes, address, recipient, start)
        cursor = self.shell.next_cursor("caught", page.next)
        query = {k: v for k, v in (("inbox", recipient), ("cursor", cursor)) if v}
        return self.shell.render(
            request,
            "catcher_inboxes.html",
            boxes=boxes,
            page=page,
            address=address or "",
            inbox=recipient,
            next_link=f"/catcher?{urlencode(query)}" if cursor else None,
        )

    def _message(self, caught_id: int) -> Any:
        with self.room.database.transaction() as tx:
            return store.get_caught(tx, caught_id)

    async def message(
        self, request: Request, *, result: str = "", error: str = "", status: int = 200
    ) -> Response:
        caught_id = int(request.path_params["caught_id"])
        caught = await self.shell.blocking(self._message, caught_id)
        if caught is None or caught.raw is None:
            return self.shell.refuse(request, 404, f"The catcher holds no message #{caught_id}.")
        parsed = parse(caught.raw)
        headers = []
        for name in _SHOWN_HEADERS:
            for value in parsed.get_all(name, failobj=[]):
                headers.append((name, str(value)))
        urls = actions.urls_of(self.room, caught)
        return self.shell.render(
            request,
            "catcher_message.html",
            status=status,
            caught=caught,
            headers=headers,
            text=body_text(parsed, "plain"),
            has_html=body_text(parsed, "html") is not None,
            urls=urls,
            result=result,
            error=error,
        )

    async def raw(self, request: Request) -> Response:
        caught = await self.shell.blocking(self._message, int(request.path_params["caught_id"]))
        if caught is None or caught.raw is None:
            return self.shell.refuse(request, 404, "The catcher holds no such message.")
        return raw_response(caught.raw)

    async def body(self, request: Request) -> Response:
        """The HTML body, for a sandboxed frame: no script, no remote image (viewing it here
        must not count as an open)."""
        caught = await self.shell.blocking(self._message, int(request.path_params["caught_id"]))
        if caught is None or caught.raw is None:
            return self.shell.refuse(request, 404, "The catcher holds no such message.")
        markup = body_text(parse(caught.raw), "html") or ""
        response = Response(markup, media_type="text/html; charset=utf-8")
        return harden(response, framed=True)

    async def act(self, request: Request) -> Response:
        caught_id = int(request.path_params["caught_id"])
        action = str(request.path_params["action"])
        fields = form_of(request)
        try:
            if action == "open":
                done = await self.shell.blocking(
                    actions.open_message, self.room, caught_id, client=fields.get("client", "")
                )
            elif action == "click":
                number = fields.get("link", "")
                if not number.isdigit():
                    raise CatcherError("choose a link to click")
                done = await self.shell.blocking(
                    actions.click_link, self.room, caught_id, int(number)
                )
            elif action == "reply":
                done = await self.shell.blocking(
                    actions.reply_message, self.room, caught_id, fields.get("text", "")[:20000]
                )
            elif action == "bounce":
                done = await self.shell.blocking(
                    actions.bounce_message,
                    self.room,
                    caught_id,
                    hard=fields.get("kind", "hard") != "soft",
                )
            else:
                return self.shell.refuse(request, 404, f"There is no catcher action {action!r}.")
        except PostroomError as exc:
            return await self.message(request, error=str(exc), status=502 if _fetch(exc) else 400)
        return await self.message(request, result=done.summary)


def _fetch(exc: PostroomError) -> bool:
    return isinstance(exc, CatcherError) and "could not fetch" in str(exc)
