"""``/sessions`` and ``/reply-addresses``: issue a session and its signed reply address
(``room.create_session``), read one, and revoke one by id or by its address. A revoked
session ends now: a reply to its address is answered like one to an expired address (the
sender gets the error email), and the daily prune deletes it later."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field, JsonValue

from postroom.access.tokens import Scope
from postroom.addresses.formats import ReplyToken
from postroom.errors import InvalidRequest, NotFound
from postroom.store import api as store
from postroom.web.api.bodies import JsonBody
from postroom.web.api.common import USER_ID, Model, Output
from postroom.web.api.routing import Answer, Call, Endpoint


class SessionIn(Model):
    handler: str = Field(min_length=1, description="The application handler replies go to.")
    user: int = Field(ge=0, lt=1 << 48, description=USER_ID)
    data: JsonValue = Field(
        None,
        description="Any JSON (nested at most 64 levels), handed "
        "back to the handler with each reply.",
    )
    address: str | None = Field(
        None,
        max_length=998,
        description="Where the mail carrying the reply address goes: a bounce or complaint "
        "to the reply address counts against the user only when it names this address.",
    )
    ttl_seconds: int | None = Field(
        None,
        ge=60,
        le=10 * 366 * 86400,
        description="Default: the handler's, else sessions.ttl_days.",
    )
    uses: int | None = Field(
        None,
        ge=1,
        description="Replies the address accepts (default: "
        "the handler's, else any number until it expires).",
    )


class IssuedOut(Output):
    session_id: int
    address: str = Field(description="The signed reply address: put it in Reply-To.")
    expires_at: datetime
    url: str


class SessionOut(Output):
    id: int
    handler: str | None = Field(description="The handler's name (null: none registered now).")
    module: int
    user_id: int
    data: JsonValue
    created_at: datetime
    expires_at: datetime
    uses_left: int | None
    use_count: int
    delivery_id: int | None = Field(description="The copy it was sent in, when postroom sent it.")
    address: str | None
    state: str = Field(description="active, expired (or revoked) or used_up.")


def issue_session(call: Call) -> Answer:
    """Store a session for the handler and answer its signed reply address."""
    body: SessionIn = call.body
    try:
        issued = call.room.create_session(
            body.handler,
            body.user,
            body.data,
            ttl=timedelta(seconds=body.ttl_seconds) if body.ttl_seconds else None,
            uses=body.uses,
            address=body.address,
        )
    except KeyError as exc:
        names = ", ".join(call.room.handlers.names()) or "none"
        raise InvalidRequest(
            f"handler: {exc.args[0]}; the application registers {names}",
            field="handler",
            errors=({"field": "handler", "pointer": "/handler", "detail": str(exc.args[0])},),
        ) from None
    except ValueError as exc:
        raise InvalidRequest(f"data: {exc}", field="data") from None
    url = call.link(f"/sessions/{issued.session_id}")
    body_out = IssuedOut(
        session_id=issued.session_id,
        address=issued.address,
        expires_at=issued.expires_at,
        url=url,
    )
    return Answer(body_out, status=201, headers={"Location": url})


def _session_out(call: Call, info: store.SessionInfo) -> SessionOut:
    spec = call.room.handlers.by_module(info.module)
    handler = spec.name if spec else None
    if handler is None:  # a module served by a URL?
        from postroom.handlers import module_id_for

        served = (e.handler for e in call.room.webhooks.list() if e.handler)
        handler = next((name for name in served if module_id_for(name) == info.module), None)
    if info.expires_at <= call.now:
        state = "expired"
    elif info.uses_left is not None and info.uses_left <= 0:
        state = "used_up"
    else:
        state = "active"
    return SessionOut(
        id=info.id,
        handler=handler,
        module=info.module,
        user_id=info.user_id,
        data=info.data,
        created_at=info.created_at,
        expires_at=info.expires_at,
        uses_left=info.uses_left,
        use_count=info.use_count,
        delivery_id=info.delivery_id,
        address=info.address,
        state=state,
    )


def _load(call: Call, session_id: int) -> store.SessionInfo:
    with call.room.database.transaction() as tx:
        info = store.get_session(tx, session_id)
    if info is None:
        raise NotFound(f"there is no session #{session_id} (pruned, or never issued)")
    return info


def get_session(call: Call) -> Answer:
    """One session: whose, its data, until when, how many replies it took."""
    return Answer(_session_out(call, _load(call, call.id_param("session_id"))))


def _revoke(call: Call, session_id: int) -> Answer:
    _load(call, session_id)
    with call.room.database.transaction() as tx:
        store.expire_session(tx, session_id, now=call.now)
    return Answer(_session_out(call, _load(call, session_id)))


def revoke_session(call: Call) -> Answer:
    """End a session now (replies to its address get the expired-address error email)."""
    return _revoke(call, call.id_param("session_id"))


def revoke_address(call: Call) -> Answer:
    """End the session of a reply address (as given out, any case, with or without <>)."""
    address = str(call.path["address"])
    token = call.room.codec.decode(address)  # AddressError: 422 invalid-address
    if not isinstance(token, ReplyToken):
        raise InvalidRequest(
            f"{address} is a bounce address (it names a copy, not a session); give a reply address",
            field="address",
            problem="invalid-address",
        )
    with call.room.database.transaction() as tx:
        session_id = store.session_id_by_key(tx, token.session_key)
    if session_id is None:
        raise NotFound(f"the session of {address} no longer exists (pruned)")
    return _revoke(call, session_id)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/sessions",
        "issueSession",
        "Issue a session and its reply address",
        issue_session,
        Scope.SEND,
        "sessions",
        body=JsonBody(SessionIn, max_bytes=16 << 20),
        response=IssuedOut,
        status=201,
        problems=(
            "invalid-request",
            "invalid-field",
            "payload-too-large",
            "unsupported-media-type",
        ),
    ),
    Endpoint(
        "GET",
        "/sessions/{session_id:int}",
        "getSession",
        "Read a session",
        get_session,
        Scope.READ,
        "sessions",
        response=SessionOut,
        problems=("not-found",),
    ),
    Endpoint(
        "DELETE",
        "/sessions/{session_id:int}",
        "revokeSession",
        "Revoke a session",
        revoke_session,
        Scope.SEND,
        "sessions",
        response=SessionOut,
        problems=("not-found",),
    ),
    Endpoint(
        "DELETE",
        "/reply-addresses/{address}",
        "revokeReplyAddress",
        "Revoke the session of a reply address",
        revoke_address,
        Scope.SEND,
        "sessions",
        response=SessionOut,
        problems=("not-found", "invalid-address"),
    ),
)
