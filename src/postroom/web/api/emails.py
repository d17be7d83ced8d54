"""``/emails``: send an email (the model of ``room.send``), list emails, read one with every
recipient's timeline."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, JsonValue, WithJsonSchema, model_validator

from postroom.access.tokens import Scope
from postroom.compose.email import Attachment, Email, Inline, Recipient, ReplyTo, Track
from postroom.errors import NotFound
from postroom.store import api as store
from postroom.tracking.engagement import copy_engagement
from postroom.web.api.bodies import EmailBody, EmailForm
from postroom.web.api.common import (
    USER_ID,
    EventOut,
    Model,
    Output,
    PageQuery,
    Pages,
    TimeWindow,
    page_body,
    start_of,
)
from postroom.web.api.routing import Answer, Call, Endpoint

MAX_RECIPIENTS = 10_000


def decode_base64(value: object) -> object:
    """Base64 (RFC 4648 section 4) as MIME writes it: line breaks allowed, nothing else."""
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "is not base64 (RFC 4648 section 4); encode the file's bytes, or send it as a "
            "multipart/form-data file part"
        ) from None


Base64 = Annotated[
    bytes,
    BeforeValidator(decode_base64),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]


def _address_or_object(schema: dict[str, Any]) -> None:
    # The model also takes a bare address string (see RecipientIn._from_text): say so.
    copy = dict(schema)
    schema.clear()
    schema["anyOf"] = [{"type": "string", "description": "An address alone."}, copy]


class RecipientIn(Model):
    """A recipient: an address alone, or an object with address, name, user and data."""

    model_config = Model.model_config | {"json_schema_extra": _address_or_object}

    address: str = Field(min_length=1, max_length=998)
    name: str | None = Field(None, max_length=998)
    user: int | None = Field(None, ge=0, lt=1 << 48, description=USER_ID)
    data: JsonValue = Field(None, description="Kept with the copy for the application.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"address": value} if isinstance(value, str) else value


class AttachmentIn(Model):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = "application/octet-stream"
    content: Base64


class InlineIn(Model):
    cid: str = Field(min_length=1, max_length=250, description="What the HTML names as cid:.")
    content_type: str
    content: Base64
    filename: str | None = None


class ReplyIn(Model):
    """Replies go to a handler: every copy gets a session and a reply address of its own."""

    handler: str = Field(min_length=1)
    data: JsonValue = Field(None, description="The session data the handler receives.")
    ttl_seconds: int | None = Field(None, ge=60, le=10 * 366 * 86400)
    uses: int | None = Field(None, ge=1)


def _track(schema: dict[str, Any]) -> None:
    copy = dict(schema)
    schema.clear()
    schema["anyOf"] = [{"type": "boolean", "description": "true: both; false: neither."}, copy]


class TrackIn(Model):
    model_config = Model.model_config | {"json_schema_extra": _track}

    opens: bool = True
    clicks: bool = True

    @model_validator(mode="before")
    @classmethod
    def _from_flag(cls, value: Any) -> Any:
        return {"opens": value, "clicks": value} if isinstance(value, bool) else value


class EmailIn(Model):
    """One logical email, as for ``room.send``: one copy per To, Cc and Bcc recipient."""

    account: str = Field(min_length=1, description="The sending account's name.")
    to: list[RecipientIn] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    cc: list[RecipientIn] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    bcc: list[RecipientIn] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list)
    inline: list[InlineIn] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    reply: ReplyIn | None = None
    track: TrackIn = Field(default_factory=TrackIn)
    bulk: bool = Field(False, description="List-Unsubscribe and one-click (RFC 8058).")
    notification: bool = Field(False, description="Auto-Submitted: auto-generated.")


def to_email(body: EmailIn, form: EmailForm | None = None) -> Email:
    """The compose model of ``body`` (and of a multipart body's files)."""
    attachments = [Attachment(a.filename, a.content, a.content_type) for a in body.attachments]
    inline = [Inline(i.cid, i.content, i.content_type, i.filename) for i in body.inline]
    for file in form.files if form else ():
        if file.field == "attachments":
            attachments.append(Attachment(file.filename, file.content, file.content_type))
        else:
            cid = file.field.removeprefix("inline:")
            inline.append(Inline(cid, file.content, file.content_type, file.filename))

    def recipients(items: list[RecipientIn]) -> list[Recipient]:
        return [Recipient(r.address, r.name, r.user, r.data) for r in items]

    reply = None
    if body.reply is not None:
        ttl = body.reply.ttl_seconds
        reply = ReplyTo(
            body.reply.handler,
            body.reply.data,
            timedelta(seconds=ttl) if ttl else None,
            body.reply.uses,
        )
    return Email(
        account=body.account,
        to=recipients(body.to),
        cc=recipients(body.cc),
        bcc=recipients(body.bcc),
        subject=body.subject,
        text=body.text,
        html=body.html,
        attachments=attachments,
        inline=inline,
        headers=body.headers,
        in_reply_to=body.in_reply_to,
        references=body.references,
        reply=reply,
        track=Track(opens=body.track.opens, clicks=body.track.clicks),
        bulk=body.bulk,
        notification=body.notification,
    )


class QueuedCopyOut(Output):
    id: int
    address: str
    role: str
    user_id: int | None
    message_id: str
    reply_address: str | None


class SkippedOut(Output):
    address: str
    role: str
    reason: str = Field(description="'duplicate recipient' or 'suppressed: <reason>'.")


class SentOut(Output):
    email_id: int
    message_id: str
    deliveries: list[QueuedCopyOut]
    skipped: list[SkippedOut]
    url: str = Field(description="Where the email's state is read.")


def send_email(call: Call) -> Answer:
    """Queue one copy per recipient and answer at once (202): a worker sends them. Everything
    is checked first (account, addresses, headers, reply handler, the server's SIZE) and an
    invalid email is refused naming its field, with nothing queued. Suppressed and duplicate
    recipients are reported in ``skipped``."""
    if isinstance(call.body, EmailForm):
        email = to_email(call.body.email, call.body)  # type: ignore[arg-type]
    else:
        email = to_email(call.body)
    result = call.room.send(email)
    url = call.link(f"/emails/{result.email_id}")
    body = SentOut(
        email_id=result.email_id,
        message_id=result.message_id,
        deliveries=[QueuedCopyOut.model_validate(c) for c in result.deliveries],
        skipped=[SkippedOut.model_validate(s) for s in result.skipped],
        url=url,
    )
    return Answer(body, status=202, headers={"Location": url})


class EmailListQuery(TimeWindow):
    account: str | None = Field(None, description="Only this account's emails.")
    recipient: str | None = Field(None, description="Only emails with a copy to this address.")


class EmailSummaryOut(Output):
    id: int
    account: str
    subject: str
    message_id: str
    created_at: datetime
    recipients: int = Field(description="Copies queued (suppressed and duplicates excluded).")
    counts: dict[str, int] = Field(
        description="Copies by status: queued, sending, deferred, sent, failed, skipped."
    )


class EmailPage(Pages):
    items: list[EmailSummaryOut]


def list_emails(call: Call) -> Answer:
    """Emails, newest first, with their copies counted by status."""
    query: EmailListQuery = call.query
    with call.room.database.transaction() as tx:
        account_id = None
        if query.account is not None:
            account_id = store.account_id(tx, query.account)
            if account_id is None:
                raise NotFound(
                    f"there is no account {query.account!r}; GET /api/accounts lists them"
                )
        page = store.email_page(
            tx,
            start=start_of(call, "emails", timed=True),
            limit=query.limit,
            account_id=account_id,
            recipient=query.recipient,
            since=query.since,
            until=query.until,
        )
    items = [EmailSummaryOut.model_validate(e) for e in page.items]
    return Answer(EmailPage(**page_body(call, "emails", items, page.next)))


class CopyEngagementOut(Output):
    """One copy's opens and clicks; a person's are those not judged a machine's (Apple's
    prefetch, proxies' prefetches, scanners)."""

    opens: int
    human_opens: int
    clicks: int
    human_clicks: int
    first_open_at: datetime | None
    first_human_open_at: datetime | None = Field(description="When a person first opened it.")


class EngagementOut(Output):
    """The email's opens and clicks: ``unique_*`` count copies (opened or clicked at least
    once); anonymous-mode events count in the totals only (they name no copy)."""

    opens: int
    human_opens: int
    clicks: int
    human_clicks: int
    unique_opens: int
    unique_human_opens: int
    unique_clicks: int
    unique_human_clicks: int
    first_human_open_at: datetime | None
    anonymous_opens: int
    anonymous_clicks: int


class CopyOut(Output):
    """One recipient's copy, its state and its timeline (events oldest first)."""

    id: int
    address: str
    name: str | None
    role: str
    user_id: int | None
    status: str
    attempts: int
    last_code: int | None
    last_reply: str | None = Field(description="The server's last answer for this copy.")
    message_id: str
    reply_address: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    events: list[EventOut]
    engagement: CopyEngagementOut


def copy_out(copy: store.CopyTimeline) -> CopyOut:
    derived = copy_engagement((e.type, e.machine, e.occurred_at) for e in copy.events)
    return CopyOut.model_validate(
        {
            **{name: getattr(copy, name) for name in CopyOut.model_fields if name != "engagement"},
            "engagement": CopyEngagementOut.model_validate(derived),
        }
    )


class EmailOut(EmailSummaryOut):
    """The email, its events counted by type, and a page of its copies (by delivery id)."""

    events: dict[str, int] = Field(description="The email's events counted by type.")
    engagement: EngagementOut
    options: dict[str, Any]
    copies: list[CopyOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next copies.")
    next: str | None = Field(description="The next page of copies (path and query).")


def get_email(call: Call) -> Answer:
    """One email and every recipient's timeline; the copies come a page at a time (``limit``,
    ``cursor``) for emails to many recipients."""
    email_id = call.id_param("email_id")
    with call.room.database.transaction() as tx:
        detail = store.email_detail(
            tx, email_id, start=start_of(call, "copies", timed=False), limit=call.query.limit
        )
        engagement = store.email_engagement(tx, email_id) if detail is not None else None
    if detail is None or engagement is None:
        raise NotFound(f"there is no email #{email_id}")
    paging = page_body(call, "copies", [], detail.copies.next)
    body = EmailOut(
        **EmailSummaryOut.model_validate(detail.email).model_dump(),
        events=detail.events,
        engagement=EngagementOut.model_validate(engagement),
        options=detail.options,
        copies=[copy_out(c) for c in detail.copies.items],
        next_cursor=paging["next_cursor"],
        next=paging["next"],
    )
    return Answer(body)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/emails",
        "sendEmail",
        "Send an email",
        send_email,
        Scope.SEND,
        "emails",
        body=EmailBody(EmailIn),
        response=SentOut,
        status=202,
        problems=(
            "invalid-request",
            "invalid-field",
            "invalid-email",
            "unknown-account",
            "payload-too-large",
            "unsupported-media-type",
        ),
    ),
    Endpoint(
        "GET",
        "/emails",
        "listEmails",
        "List emails",
        list_emails,
        Scope.READ,
        "emails",
        query=EmailListQuery,
        response=EmailPage,
        problems=("invalid-field", "not-found"),
    ),
    Endpoint(
        "GET",
        "/emails/{email_id:int}",
        "getEmail",
        "Read an email with every recipient's timeline",
        get_email,
        Scope.READ,
        "emails",
        query=PageQuery,
        response=EmailOut,
        problems=("invalid-field", "not-found"),
    ),
)
