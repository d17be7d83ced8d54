"""``/inbound``: received messages with their outcome and raw view, replays, and raw MIME
delivered over HTTP (for MTAs and services that deliver mail that way: ``room.receive``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from postroom.access.tokens import Scope
from postroom.cli.pipe import EX_NOUSER, exit_code
from postroom.errors import Conflict, InvalidRequest, NotFound
from postroom.inbound.types import InboundResult, Outcome
from postroom.store import api as store
from postroom.web.api.bodies import JsonBody, MailBody, RawMail
from postroom.web.api.common import Model, Output, PageQuery, Pages, page_body, start_of
from postroom.web.api.routing import Answer, Call, Endpoint


class InboundQuery(PageQuery):
    status: str | None = Field(
        None, pattern="^(processing|done|failed)$", description="processing, done or failed."
    )
    outcome: Outcome | None = Field(None, description="Only messages with this outcome.")


class InboundOut(Output):
    """A received message: envelope, what was found in it, and what became of it."""

    id: int
    received_at: datetime
    status: str = Field(description="processing, done, or failed (kept for a replay).")
    outcome: str | None = Field(
        description="dispatched, duplicate, bounce_recorded, "
        "session_expired, rejected, ... (null while processing)"
    )
    kind: str | None = Field(description="What the message is: reply, bounce, auto_reply, ...")
    address: str | None = Field(description="Our address it came to.")
    envelope_sender: str | None
    envelope_recipient: str | None
    message_id: str | None
    sender: str | None
    subject: str | None
    module: int | None
    user_id: int | None
    session_id: int | None
    error: str | None = Field(description="Why it failed, or what the sender was told.")
    details: dict[str, Any]
    size: int = Field(description="Bytes kept of the raw message.")


class InboundPage(Pages):
    items: list[InboundOut]


class InboundDetail(InboundOut):
    raw_url: str
    replay_url: str


def list_inbound(call: Call) -> Answer:
    """Received messages, newest first, by status or outcome."""
    query: InboundQuery = call.query
    with call.room.database.transaction() as tx:
        page = store.inbound_page(
            tx,
            start=start_of(call, "inbound", timed=False),
            limit=query.limit,
            status=query.status,
            outcome=str(query.outcome) if query.outcome else None,
        )
    items = [InboundOut.model_validate(r) for r in page.items]
    return Answer(InboundPage(**page_body(call, "inbound", items, page.next)))


def _record(call: Call, inbound_id: int) -> store.InboundRecord:
    with call.room.database.transaction() as tx:
        record = store.get_inbound(tx, inbound_id)
    if record is None:
        raise NotFound(f"there is no inbound message #{inbound_id}")
    return record


def get_inbound(call: Call) -> Answer:
    """One received message and its outcome (the raw bytes are at ``raw_url``)."""
    inbound_id = call.id_param("inbound_id")
    record = _record(call, inbound_id)
    return Answer(
        InboundDetail(
            **InboundOut.model_validate(record).model_dump(),
            raw_url=call.link(f"/inbound/{inbound_id}/raw"),
            replay_url=call.link(f"/inbound/{inbound_id}/replay"),
        )
    )


def get_raw(call: Call) -> Answer:
    """The message exactly as received (``message/rfc822``), as a download: a browser is
    told not to render it (it is mail from anyone)."""
    inbound_id = call.id_param("inbound_id")
    with call.room.database.transaction() as tx:
        raw = store.inbound_raw(tx, inbound_id)
    if raw is None:
        raise NotFound(f"there is no inbound message #{inbound_id}")
    return Answer(
        raw,
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="inbound-{inbound_id}.eml"'},
    )


class ReplayIn(Model):
    dry_run: bool = Field(False, description="Say what would happen; change nothing.")
    force: bool = Field(False, description="Dispatch again a message handled already.")


class ResultOut(Output):
    """What the pipeline did with a message for one of our addresses."""

    outcome: str
    inbound_id: int | None
    address: str | None
    kind: str | None
    module: str | None
    user_id: int | None
    notice: str | None = Field(description="The error email to the sender: queued, throttled.")
    detail: str
    steps: list[str]


def _result(result: InboundResult) -> ResultOut:
    return ResultOut(**result.to_json())


def replay(call: Call) -> Answer:
    """Run a stored message through the pipeline again: a failed one (after a fix of the
    handler), or, with ``force``, one handled already; ``dry_run`` only says what would
    happen."""
    inbound_id = call.id_param("inbound_id")
    body: ReplayIn = call.body
    record = _record(call, inbound_id)
    if record.status != "failed" and not (body.dry_run or body.force):
        raise Conflict(
            f"inbound message #{inbound_id} was handled already ({record.outcome}); send "
            '{"dry_run": true} to see what would happen, or {"force": true} to dispatch it '
            "again",
            problem="already-handled",
        )
    result = call.room.replay(inbound_id, dry_run=body.dry_run, force=body.force)
    return Answer(_result(result))


class ReceiveQuery(Model):
    recipient: str = Field(
        min_length=1,
        max_length=998,
        description="The envelope recipient (RCPT TO): the address the mail is for. For "
        "several, deliver once per recipient.",
    )
    sender: str | None = Field(
        None,
        max_length=998,
        description="The envelope sender (MAIL FROM); empty for a bounce (RFC 5321 section 4.5.5).",
    )


class ReceivedOut(ResultOut):
    refused: bool = Field(
        description="True where an MTA would refuse the recipient (not one "
        "of our addresses, or a forged one): postroom kept nothing to act on."
    )


def receive(call: Call) -> Answer:
    """Deliver one raw message (RFC 5322) for one envelope recipient, as an MTA would over
    LMTP: the answer is the pipeline's outcome. A database outage or the same message in
    progress elsewhere answers 503 with Retry-After: deliver again later, nothing is lost
    and a second delivery is recognised as a duplicate."""
    query: ReceiveQuery = call.query
    mail: RawMail = call.body
    if not mail.raw.strip():
        raise InvalidRequest(
            "the body is empty; POST the whole message (RFC 5322)", problem="unparseable-message"
        )
    result = call.room.receive(
        mail.raw,
        recipients=[query.recipient],
        sender=query.sender,
        size=mail.size,
    )
    reports = call.room.settings.report_addresses
    refused = exit_code(result, query.recipient, reports) == EX_NOUSER
    return Answer(ReceivedOut(**result.to_json(), refused=refused))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/inbound",
        "listInbound",
        "List received messages",
        list_inbound,
        Scope.READ,
        "inbound",
        query=InboundQuery,
        response=InboundPage,
        problems=("invalid-field",),
    ),
    Endpoint(
        "POST",
        "/inbound",
        "receiveMessage",
        "Deliver a raw message over HTTP",
        receive,
        Scope.INBOUND,
        "inbound",
        query=ReceiveQuery,
        body=MailBody(),
        response=ReceivedOut,
        problems=(
            "invalid-field",
            "unparseable-message",
            "payload-too-large",
            "unsupported-media-type",
            "try-again",
        ),
    ),
    Endpoint(
        "GET",
        "/inbound/{inbound_id:int}",
        "getInbound",
        "Read a received message and its outcome",
        get_inbound,
        Scope.READ,
        "inbound",
        response=InboundDetail,
        problems=("not-found",),
    ),
    Endpoint(
        "GET",
        "/inbound/{inbound_id:int}/raw",
        "getInboundRaw",
        "Download a received message as it came",
        get_raw,
        Scope.READ,
        "inbound",
        media_type="message/rfc822",
        problems=("not-found",),
    ),
    Endpoint(
        "POST",
        "/inbound/{inbound_id:int}/replay",
        "replayInbound",
        "Run a received message through the pipeline again",
        replay,
        Scope.ADMIN,
        "inbound",
        body=JsonBody(ReplayIn, required=False),
        response=ResultOut,
        problems=("not-found", "already-handled", "invalid-field"),
    ),
)
