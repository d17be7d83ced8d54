"""``room.send``: turn one logical :class:`~postroom.compose.email.Email` into queued copies.

Everything is checked before anything is queued (the account, every address and header, the
reply handler, the size against the server's SIZE), then one transaction writes the email and
its template, the original links, one delivery per recipient with its Message-ID (recorded in
``message_ids``, so replies and bounces find the copy without the application calling
``remember_sent``), one session and reply address per copy when replies go to a handler, and a
``queued`` event per copy. Suppressed recipients are skipped and reported, never queued.

Message-IDs (docs/sending.md): every copy has one of its own, so a reply's In-Reply-To or a
bounce's quoted Message-ID names the very copy, hence the recipient; the clean copy the Mailbox
part appends to the sender's Sent folder has one more, recorded with the email's others, so a
thread the sender continues from Sent is tied back to the email too.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, select, update

from postroom.addresses import new_session_key
from postroom.addresses.base32 import encode as base32
from postroom.compose import ComposeOptions, Mailbox, build_template
from postroom.compose.email import Email, Recipient, ReplyAddress, ReplyTo
from postroom.errors import AccountError, AddressError, ComposeError, QueueError
from postroom.store import Database, repos
from postroom.store.accounts import get_account
from postroom.store.models import (
    DeliveryRow,
    EmailRow,
    EventRow,
    LinkRow,
    MessageIdRow,
    SessionRow,
    SuppressionRow,
)

if TYPE_CHECKING:
    from postroom.app import Postroom

EMAILS = cast(Table, EmailRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
LINKS = cast(Table, LinkRow.__table__)
SESSIONS = cast(Table, SessionRow.__table__)
SUPPRESSIONS = cast(Table, SuppressionRow.__table__)
MESSAGE_IDS = cast(Table, MessageIdRow.__table__)
EVENTS = cast(Table, EventRow.__table__)


@dataclass(frozen=True, slots=True)
class QueuedCopy:
    """A recipient's copy as queued: its delivery id and Message-ID."""

    id: int
    address: str
    role: str
    user_id: int | None
    message_id: str
    reply_address: str | None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A recipient postroom did not queue, and why (``suppressed: bounces``, ``duplicate``)."""

    address: str
    role: str
    reason: str


@dataclass(frozen=True, slots=True)
class SendResult:
    """What ``room.send`` did: the email's id, the queued copies, the skipped recipients."""

    email_id: int
    message_id: str
    deliveries: tuple[QueuedCopy, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True, slots=True)
class CopyState:
    """One recipient's copy as it stands now (``room.email(id)``)."""

    id: int
    address: str
    role: str
    user_id: int | None
    status: str
    attempts: int
    last_code: int | None
    last_reply: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None
    message_id: str
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EmailState:
    """A sent email and every recipient's state."""

    id: int
    subject: str
    account: str
    created_at: datetime
    message_id: str
    copies: tuple[CopyState, ...]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for copy in self.copies:
            out[copy.status] = out.get(copy.status, 0) + 1
        return out

    @property
    def done(self) -> bool:
        """True when no copy is still waiting to be sent or retried."""
        return all(c.status in ("sent", "failed", "skipped") for c in self.copies)


def new_message_id(domain: str) -> str:
    """A fresh Message-ID (RFC 5322 section 3.6.4) on the sender's domain: 120 random bits,
    so nothing about the email, the recipient or the sequence can be read from it."""
    return f"{base32(secrets.token_bytes(15))}@{domain}"


def new_email_token() -> str:
    """The ``X-Postroom-Email`` value shared by all copies of one email (Sent folder search)."""
    return base32(secrets.token_bytes(15))


def _normal(address: str) -> str:
    return address.strip().lower()


def queue_email(room: Postroom, email: Email) -> SendResult:
    """Validate ``email``, build its template once and queue one copy per recipient."""
    settings = room.settings
    database: Database = room.database
    now = room.clock()
    with database.transaction() as tx:
        account = get_account(tx, name=email.account)
    if account is None:
        raise AccountError(
            f"no account named {email.account!r}: add one with "
            f"`postroom accounts add {email.account} --from ADDRESS --smtp HOST:PORT ...`"
        )
    spec = None
    fixed_reply: str | None = None
    if isinstance(email.reply, ReplyAddress):
        fixed_reply = email.reply.address.strip()
        try:
            room.codec.decode(fixed_reply)
        except AddressError as exc:
            raise ComposeError(
                "reply.address",
                f"{fixed_reply!r} is not a reply address of this postroom ({exc})",
                "give the address room.create_digest or room.create_session returned",
            ) from None
    elif email.reply is not None:
        try:
            spec = room.handler_spec(email.reply.handler)
        except KeyError as exc:
            raise ComposeError("reply", str(exc.args[0]), "register the handler first") from None
        if email.reply.uses is not None and email.reply.uses < 1:
            raise ComposeError("reply.uses", "must be at least 1", "or None for unlimited")
    token = new_email_token()
    if not settings.tracking.enabled and email.track is not False:
        email = dataclasses.replace(email, track=False)
    tracking = email.tracking
    template = build_template(
        email,
        sender=Mailbox(account.from_address, account.from_name),
        date=now,
        email_token=token,
        options=ComposeOptions(),
    )
    _check_server_limits(
        account.state.get("capabilities") or {},
        template.size_estimate,
        template.needs_smtputf8,
        account.name,
    )
    recipients = email.recipients()
    if spec is not None:
        for index, (role, recipient) in enumerate(recipients):
            if recipient.user is None:
                raise ComposeError(
                    f"{role}[{_index_in_role(recipients, index)}]",
                    f"{recipient.address} has no user, but replies go to handler "
                    f"{spec.name!r}, whose reply addresses name a user",
                    "give every Recipient a user= (or send without reply=)",
                )
    email_message_id = new_message_id(account.from_domain)
    options = {
        "opens": tracking.opens,
        "clicks": tracking.clicks,
        "bulk": email.bulk,
        "notification": email.notification,
        "reply_handler": spec.name if spec else None,
        "reply_module": spec.module if spec else None,
    }
    skipped: list[Skipped] = []
    with database.transaction() as tx:
        conn = tx.connection()
        suppressed = _suppressed(conn, recipients)
        chosen: list[tuple[str, Recipient]] = []
        seen: set[str] = set()
        for role, recipient in recipients:
            key = _normal(recipient.address)
            if key in seen:
                skipped.append(Skipped(recipient.address, role, "duplicate recipient"))
                continue
            seen.add(key)
            reason = suppressed.get(key) or (
                suppressed.get(f"user:{recipient.user}") if recipient.user is not None else None
            )
            if reason is not None:
                skipped.append(Skipped(recipient.address, role, f"suppressed: {reason}"))
                continue
            chosen.append((role, recipient))
        email_id = int(
            conn.execute(
                EMAILS.insert().returning(EMAILS.c.id),
                {
                    "account_id": account.id,
                    "token": token,
                    "created_at": now,
                    "subject": email.subject,
                    "message_id": email_message_id,
                    "recipients": len(chosen),
                    "options": options,
                    "template": template.to_bytes(),
                },
            ).scalar_one()
        )
        if template.links:
            conn.execute(
                LINKS.insert(),
                [
                    {"email_id": email_id, "number": n, "url": url}
                    for n, url in enumerate(template.links)
                ],
            )
        copies = _insert_copies(
            room,
            conn,
            email,
            account.id,
            account.from_domain,
            email_id,
            chosen,
            spec,
            now,
            fixed_reply,
        )
        repos.remember_message_id(
            conn, message_id=email_message_id, now=now, email_id=email_id, role="clean"
        )
        suppressed_rows = [s for s in skipped if s.reason.startswith("suppressed")]
        if suppressed_rows:
            conn.execute(
                DELIVERIES.insert(),
                [
                    {
                        "email_id": email_id,
                        "account_id": account.id,
                        "role": s.role,
                        "address": _normal(s.address),
                        "message_id": "",
                        "status": "skipped",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "last_reply": s.reason,
                        "created_at": now,
                    }
                    for s in suppressed_rows
                ],
            )
    return SendResult(email_id, email_message_id, tuple(copies), tuple(skipped))


def _index_in_role(recipients: Sequence[tuple[str, Recipient]], index: int) -> int:
    role = recipients[index][0]
    return sum(1 for r, _ in recipients[:index] if r == role)


def _check_server_limits(
    capabilities: dict[str, Any], size: int, needs_smtputf8: bool, account: str
) -> None:
    """What the account's server said it accepts (learned by ``accounts test`` and by every
    connection), checked before queueing: RFC 1870 SIZE and RFC 6531 SMTPUTF8."""
    limit = capabilities.get("size")
    if limit and size > int(limit):
        raise ComposeError(
            "attachments",
            f"the message is about {size:,} bytes, but the server of account {account!r} "
            f"accepts at most {int(limit):,} (its SIZE)",
            "send smaller attachments, or a link to them",
        )
    if needs_smtputf8 and capabilities and not capabilities.get("smtputf8", False):
        raise ComposeError(
            "to",
            f"an address needs SMTPUTF8 (RFC 6531), which the server of account {account!r} "
            "does not offer",
            "use an ASCII address for that recipient, or an account whose server offers SMTPUTF8",
        )


def _suppressed(conn: Any, recipients: Sequence[tuple[str, Recipient]]) -> dict[str, str]:
    """Suppressions that apply to these recipients, keyed by address or ``user:<id>``."""
    addresses = sorted({_normal(r.address) for _, r in recipients})
    users = sorted({r.user for _, r in recipients if r.user is not None})
    c = SUPPRESSIONS.c
    found: dict[str, str] = {}
    for chunk in _chunks(addresses, 500):
        for row in conn.execute(select(c.address, c.reason).where(c.address.in_(chunk))):
            found[row.address] = row.reason
    for chunk in _chunks(users, 500):
        for row in conn.execute(select(c.user_id, c.reason).where(c.user_id.in_(chunk))):
            found[f"user:{row.user_id}"] = row.reason
    return found


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _insert_copies(
    room: Postroom,
    conn: Any,
    email: Email,
    account_id: int,
    domain: str,
    email_id: int,
    chosen: Sequence[tuple[str, Recipient]],
    spec: Any,
    now: datetime,
    fixed_reply: str | None = None,
) -> list[QueuedCopy]:
    if not chosen:
        return []
    reply_addresses: list[str | None] = [fixed_reply] * len(chosen)
    keys: list[bytes] = []
    if spec is not None:
        for n, (_, recipient) in enumerate(chosen):
            key = new_session_key()
            keys.append(key)
            reply_addresses[n] = room.codec.encode_reply(
                module=spec.module, user=cast(int, recipient.user), session_key=key
            )
    rows = [
        {
            "email_id": email_id,
            "account_id": account_id,
            "role": role,
            "address": _normal(recipient.address),
            "name": recipient.name,
            "user_id": recipient.user,
            "data": recipient.data,
            "message_id": new_message_id(domain),
            "reply_address": reply_addresses[n],
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for n, (role, recipient) in enumerate(chosen)
    ]
    ids = [
        int(i)
        for i in conn.execute(
            DELIVERIES.insert().returning(DELIVERIES.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    ]
    if spec is not None and isinstance(email.reply, ReplyTo):
        reply = email.reply
        ttl = reply.ttl or spec.ttl
        expires = now + (ttl or room.settings.session_ttl)
        uses = reply.uses if reply.uses is not None else spec.uses
        session_ids = [
            int(i)
            for i in conn.execute(
                SESSIONS.insert().returning(SESSIONS.c.id, sort_by_parameter_order=True),
                [
                    {
                        "key": keys[n],
                        "module": spec.module,
                        "user_id": recipient.user,
                        "data": reply.data,
                        "created_at": now,
                        "expires_at": expires,
                        "uses_left": uses,
                        "use_count": 0,
                        "address": _normal(recipient.address),
                        "delivery_id": ids[n],
                    }
                    for n, (_, recipient) in enumerate(chosen)
                ],
            ).scalars()
        ]
        conn.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == bindparam("b_id"))
            .values(session_id=bindparam("b_session")),
            [{"b_id": d, "b_session": s} for d, s in zip(ids, session_ids, strict=True)],
        )
    conn.execute(
        MESSAGE_IDS.insert(),
        [
            {
                "message_id": row["message_id"],
                "user_id": row["user_id"],
                "module": spec.module if spec else None,
                "recipient": row["address"],
                "email_id": email_id,
                "delivery_id": ids[n],
                "role": "copy",
                "created_at": now,
            }
            for n, row in enumerate(rows)
        ],
    )
    conn.execute(
        EVENTS.insert(),
        [
            {
                "type": "queued",
                "occurred_at": now,
                "email_id": email_id,
                "delivery_id": ids[n],
                "recipient": row["address"],
                "user_id": row["user_id"],
                "data": {"role": row["role"]},
            }
            for n, row in enumerate(rows)
        ],
    )
    return [
        QueuedCopy(
            ids[n],
            row["address"],
            row["role"],
            row["user_id"],
            row["message_id"],
            row["reply_address"],
        )
        for n, row in enumerate(rows)
    ]


def email_state(room: Postroom, email_id: int) -> EmailState:
    """Every recipient's state of one email (``room.email(id)``)."""
    with room.database.transaction() as tx:
        conn = tx.connection()
        row = conn.execute(select(EMAILS).where(EMAILS.c.id == email_id)).one_or_none()
        if row is None:
            raise QueueError(f"no email #{email_id}")
        account = get_account(conn, id=row.account_id)
        d, e = DELIVERIES.c, EVENTS.c
        copies = conn.execute(select(DELIVERIES).where(d.email_id == email_id).order_by(d.id)).all()
        events: dict[int, list[str]] = {}
        for ev in conn.execute(
            select(e.delivery_id, e.type).where(e.email_id == email_id).order_by(e.id)
        ):
            events.setdefault(ev.delivery_id, []).append(ev.type)
    return EmailState(
        id=row.id,
        subject=row.subject,
        account=account.name if account else f"#{row.account_id}",
        created_at=row.created_at,
        message_id=row.message_id,
        copies=tuple(
            CopyState(
                id=c.id,
                address=c.address,
                role=c.role,
                user_id=c.user_id,
                status=c.status,
                attempts=c.attempts,
                last_code=c.last_code,
                last_reply=c.last_reply,
                sent_at=c.sent_at,
                next_attempt_at=c.next_attempt_at if c.status in ("queued", "deferred") else None,
                message_id=c.message_id,
                events=tuple(events.get(c.id, ())),
            )
            for c in copies
        ),
    )
