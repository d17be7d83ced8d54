"""The operator's pages: log in and out, emails (search, each with its recipients' states)
and one email's timeline, events, opens and clicks over time with bounces and users over
their threshold, suppressions, the inbound log (raw message, extracted reply, replay),
sessions and accounts."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from postroom.access.users import verify_login
from postroom.errors import PostroomError
from postroom.store import api as api_store
from postroom.store import dashboard as board
from postroom.tracking.engagement import copy_engagement
from postroom.web.dashboard import auth, charts
from postroom.web.dashboard.shell import PAGE_SIZE, Shell, form_of, harden
from postroom.webhooks.payloads import EVENT_TYPES

OUTCOMES = (
    "dispatched",
    "rejected",
    "bounce_recorded",
    "auto_reply_recorded",
    "complaint_recorded",
    "duplicate",
    "expired",
    "not_ours",
    "failed",
)


def _link(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def _safe_next(value: str | None) -> str:
    """Only a path of this site (never ``//host`` or a scheme) is followed after login."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/emails"


class Views:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.room = shell.room

    # -- login ----------------------------------------------------------------------------------

    async def login_form(self, request: Request, *, error: str = "", status: int = 200) -> Response:
        nonce = auth.login_nonce(request) or secrets.token_urlsafe(18)
        response = self.shell.render(
            request,
            "login.html",
            status=status,
            error=error,
            next=_safe_next(request.query_params.get("next")),
            login_csrf=self.shell.signer.tag("login", nonce),
        )
        auth.set_login_nonce(response, request, nonce)
        return response

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return await self.login_form(request)
        fields = await self.shell.form(request)
        nonce = auth.login_nonce(request)
        token = fields.get("csrf", "")
        if not auth.same_origin(request) or not nonce or not token:
            return await self.login_form(
                request,
                error="The form expired or came from another site; try again.",
                status=403,
            )
        if not self.shell.signer.check("login", nonce, token):
            return await self.login_form(
                request,
                error="The form expired or came from another site; try again.",
                status=403,
            )
        user = await self.shell.blocking(
            verify_login,
            self.room.database,
            fields.get("username", ""),
            fields.get("password", ""),
            now=self.room.clock(),
        )
        if user is None:
            return await self.login_form(request, error="Wrong username or password.", status=401)
        value, _ = auth.issue(self.shell.signer, user.id, user.username, self.room.clock())
        response = harden(RedirectResponse(_safe_next(fields.get("next")), status_code=303))
        auth.set_session(response, request, value)
        response.delete_cookie(auth.login_cookie(request), path="/")
        return response

    async def logout(self, request: Request) -> Response:
        response = harden(RedirectResponse("/login", status_code=303))
        auth.clear_session(response, request)
        return response

    async def home(self, request: Request) -> Response:
        return harden(RedirectResponse("/emails", status_code=303))

    # -- emails ---------------------------------------------------------------------------------

    def _emails(self, query: str, start: Any) -> Any:
        with self.room.database.transaction() as tx:
            return board.email_rows(tx, start=start, limit=PAGE_SIZE, query=query or None)

    async def emails(self, request: Request) -> Response:
        query = request.query_params.get("q", "")[:1000]
        start = self.shell.cursor(request, "emails", timed=True)
        page = await self.shell.blocking(self._emails, query, start)
        cursor = self.shell.next_cursor("emails", page.next)
        return self.shell.render(
            request,
            "emails.html",
            q=query,
            page=page,
            next_link=_link("/emails", q=query, cursor=cursor) if cursor else None,
        )

    def _email(self, email_id: int, start: Any) -> Any:
        with self.room.database.transaction() as tx:
            detail = api_store.email_detail(tx, email_id, start=start, limit=PAGE_SIZE)
            if detail is None:
                return None, {}, None
            engagement = api_store.email_engagement(tx, email_id)
            return detail, board.replies_to_copies(tx, detail.copies.items), engagement

    async def email(self, request: Request) -> Response:
        email_id = int(request.path_params["email_id"])
        start = self.shell.cursor(request, "copies", timed=False)
        detail, replies, engagement = await self.shell.blocking(self._email, email_id, start)
        if detail is None:
            return self.shell.refuse(request, 404, f"There is no email #{email_id}.")
        cursor = self.shell.next_cursor("copies", detail.copies.next)
        return self.shell.render(
            request,
            "email.html",
            detail=detail,
            engagement=engagement,
            copy_engagement={
                copy.id: copy_engagement((e.type, e.machine, e.occurred_at) for e in copy.events)
                for copy in detail.copies.items
            },
            timelines={
                copy.id: sorted(
                    [*copy.events, *replies.get(copy.id, ())],
                    key=lambda e: (e.occurred_at, e.id),
                )
                for copy in detail.copies.items
            },
            label=board.event_label,
            next_link=_link(f"/emails/{email_id}", cursor=cursor) if cursor else None,
        )

    # -- events ---------------------------------------------------------------------------------

    def _events(self, where: api_store.EventFilter, start: Any) -> Any:
        with self.room.database.transaction() as tx:
            return api_store.event_page(tx, where, start=start, limit=PAGE_SIZE)

    async def events(self, request: Request) -> Response:
        params = request.query_params
        kind = params.get("type") or None
        kind = kind if kind in EVENT_TYPES else None
        recipient = (params.get("recipient") or "")[:500] or None
        email = params.get("email", "")
        where = api_store.EventFilter(
            type=kind, recipient=recipient, email_id=int(email) if email.isdigit() else None
        )
        start = self.shell.cursor(request, "events", timed=True)
        page = await self.shell.blocking(self._events, where, start)
        cursor = self.shell.next_cursor("events", page.next)
        return self.shell.render(
            request,
            "events.html",
            page=page,
            types=EVENT_TYPES,
            where=where,
            label=board.event_label,
            next_link=_link("/events", type=kind, recipient=recipient, email=email, cursor=cursor)
            if cursor
            else None,
        )

    # -- stats: opens and clicks over time, bounces --------------------------------------------

    def _stats(self, days: int) -> dict[str, Any]:
        now = self.room.clock()
        until = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        since = until - timedelta(days=days)
        threshold = self.room.settings.bounces.threshold
        with self.room.database.transaction() as tx:
            return {
                "opens": board.per_day(tx, "opened", since=since, until=until),
                "clicks": board.per_day(tx, "clicked", since=since, until=until),
                "bounces": board.bounces_by_reason(tx, since=since),
                "over": board.over_threshold(tx, threshold),
                "since": since,
                "until": until,
                "threshold": threshold,
            }

    async def stats(self, request: Request) -> Response:
        days = request.query_params.get("days", "30")
        span = int(days) if days.isdigit() and 1 <= int(days) <= 366 else 30
        data = await self.shell.blocking(self._stats, span)
        labels = charts.day_labels(data["since"], span)
        return self.shell.render(
            request,
            "stats.html",
            days=span,
            opens_chart=charts.stacked_bars("Opens per day", labels, data["opens"]),
            clicks_chart=charts.stacked_bars("Clicks per day", labels, data["clicks"]),
            **data,
        )

    # -- suppressions ---------------------------------------------------------------------------

    def _suppressions(self, address: str | None, start: Any) -> Any:
        with self.room.database.transaction() as tx:
            return api_store.suppression_page(tx, start=start, limit=PAGE_SIZE, address=address)

    async def suppressions(self, request: Request, *, notice: str = "") -> Response:
        address = (request.query_params.get("address") or "")[:500] or None
        start = self.shell.cursor(request, "suppressions", timed=False)
        page = await self.shell.blocking(self._suppressions, address, start)
        cursor = self.shell.next_cursor("suppressions", page.next)
        return self.shell.render(
            request,
            "suppressions.html",
            page=page,
            address=address or "",
            notice=notice,
            next_link=_link("/suppressions", address=address, cursor=cursor) if cursor else None,
        )

    def _lift(self, suppression_id: int, reset: bool) -> bool:
        with self.room.database.transaction() as tx:
            if api_store.get_suppression(tx, suppression_id) is None:
                return False
            api_store.delete_suppression(tx, suppression_id, reset_score=reset)
            return True

    async def lift(self, request: Request) -> Response:
        suppression_id = int(request.path_params["suppression_id"])
        reset = form_of(request).get("reset_score", "yes") == "yes"
        if not await self.shell.blocking(self._lift, suppression_id, reset):
            return self.shell.refuse(request, 404, f"There is no suppression #{suppression_id}.")
        return await self.suppressions(request, notice=f"Suppression #{suppression_id} lifted.")

    # -- inbound --------------------------------------------------------------------------------

    def _inbound_page(self, outcome: str | None, start: Any) -> Any:
        with self.room.database.transaction() as tx:
            return api_store.inbound_page(tx, start=start, limit=PAGE_SIZE, outcome=outcome)

    async def inbound_list(self, request: Request) -> Response:
        outcome = request.query_params.get("outcome") or None
        outcome = outcome if outcome in OUTCOMES else None
        start = self.shell.cursor(request, "inbound", timed=False)
        page = await self.shell.blocking(self._inbound_page, outcome, start)
        cursor = self.shell.next_cursor("inbound", page.next)
        return self.shell.render(
            request,
            "inbound_list.html",
            page=page,
            outcomes=OUTCOMES,
            outcome=outcome,
            next_link=_link("/inbound", outcome=outcome, cursor=cursor) if cursor else None,
        )

    def _inbound(self, inbound_id: int) -> tuple[Any, Any]:
        from postroom.understand.replies import extract_bytes

        with self.room.database.transaction() as tx:
            record = api_store.get_inbound(tx, inbound_id)
            raw = api_store.inbound_raw(tx, inbound_id)
        extracted = None
        if raw is not None:
            try:
                extracted = extract_bytes(raw)
            except (ValueError, LookupError, PostroomError):
                extracted = None
        return record, extracted

    async def inbound(self, request: Request, *, result: Any = None, error: str = "") -> Response:
        inbound_id = int(request.path_params["inbound_id"])
        record, extracted = await self.shell.blocking(self._inbound, inbound_id)
        if record is None:
            return self.shell.refuse(request, 404, f"There is no inbound message #{inbound_id}.")
        return self.shell.render(
            request,
            "inbound.html",
            record=record,
            extracted=extracted,
            result=result,
            error=error,
        )

    async def inbound_raw(self, request: Request) -> Response:
        inbound_id = int(request.path_params["inbound_id"])

        def read() -> bytes | None:
            with self.room.database.transaction() as tx:
                return api_store.inbound_raw(tx, inbound_id)

        raw = await self.shell.blocking(read)
        if raw is None:
            return self.shell.refuse(request, 404, f"There is no inbound message #{inbound_id}.")
        return raw_response(raw)

    async def replay(self, request: Request) -> Response:
        inbound_id = int(request.path_params["inbound_id"])
        mode = form_of(request).get("mode", "dry_run")
        try:
            result = await self.shell.blocking(
                self.room.replay, inbound_id, dry_run=mode == "dry_run", force=mode == "force"
            )
        except PostroomError as exc:
            return await self.inbound(request, error=str(exc))
        return await self.inbound(request, result=result)

    # -- sessions and accounts ------------------------------------------------------------------

    def _sessions(self, user_id: int | None, start: Any) -> Any:
        with self.room.database.transaction() as tx:
            return board.session_page(tx, start=start, limit=PAGE_SIZE, user_id=user_id)

    async def sessions(self, request: Request, *, notice: str = "") -> Response:
        user = request.query_params.get("user", "")
        user_id = int(user) if user.isdigit() and len(user) < 16 else None
        start = self.shell.cursor(request, "sessions", timed=False)
        page = await self.shell.blocking(self._sessions, user_id, start)
        cursor = self.shell.next_cursor("sessions", page.next)
        return self.shell.render(
            request,
            "sessions.html",
            page=page,
            user=user_id,
            now=self.room.clock(),
            notice=notice,
            next_link=_link("/sessions", user=user_id, cursor=cursor) if cursor else None,
        )

    async def expire(self, request: Request) -> Response:
        session_id = int(request.path_params["session_id"])

        def end() -> bool:
            with self.room.database.transaction() as tx:
                if api_store.get_session(tx, session_id) is None:
                    return False
                api_store.expire_session(tx, session_id, now=self.room.clock())
                return True

        if not await self.shell.blocking(end):
            return self.shell.refuse(request, 404, f"There is no session #{session_id}.")
        return await self.sessions(request, notice=f"Session #{session_id} expired now.")

    async def accounts(self, request: Request) -> Response:
        from postroom.accounts.service import list_accounts

        accounts = await self.shell.blocking(list_accounts, self.room.database)
        return self.shell.render(request, "accounts.html", accounts=accounts)

    def _webhooks(self) -> Any:
        from postroom.store import webhooks as hooks

        with self.room.database.transaction() as tx:
            endpoints = hooks.list_endpoints(tx)
            recent = {
                e.id: hooks.list_messages(tx, e.id, limit=WEBHOOK_MESSAGES) for e in endpoints
            }
        return endpoints, recent

    async def webhooks(self, request: Request) -> Response:
        endpoints, recent = await self.shell.blocking(self._webhooks)
        return self.shell.render(request, "webhooks.html", endpoints=endpoints, recent=recent)


#: Recent deliveries shown per webhook endpoint (the API pages through all of them).
WEBHOOK_MESSAGES = 10


def raw_response(raw: bytes) -> Response:
    """Raw bytes of a message as text, for a sandboxed frame (never sniffed as HTML)."""
    response = Response(raw, media_type="text/plain; charset=utf-8")
    return harden(response, framed=True)
