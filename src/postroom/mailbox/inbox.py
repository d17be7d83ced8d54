"""What a message found in a watched mailbox becomes.

First the inbound pipeline, as for mail piped from an MTA: a reply to one of postroom's reply
addresses is dispatched to its handler, a bounce or complaint quoting the Message-ID of a copy
is classified and counted against that copy's recipient (Gmail and Microsoft force the
envelope sender to the account, so bounces land in the sender's own inbox). What the pipeline
finds to be none of its business may still answer an email whose replies go to the sender
(no reply address, the CRM case): its In-Reply-To and References (RFC 5322 section 3.6.4) are
looked up among the recorded Message-IDs, newest reference first, and a match becomes a
``replied`` event (``auto_replied`` for an automatic answer) for that copy, with the text the
person wrote (:mod:`postroom.understand.replies`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from postroom.inbound.parse import parse_message
from postroom.inbound.types import Outcome
from postroom.store import inbound as inbound_store
from postroom.store.repos import driver_of
from postroom.understand.bounces import MessageKind, classify_message
from postroom.understand.replies import extract_message

if TYPE_CHECKING:
    from postroom.app import Postroom

_MSG_ID = re.compile(r"<([^<>\s]+)>")


def referenced_ids(in_reply_to: str | None, references: str | None) -> list[str]:
    """Message-IDs a reply points at: In-Reply-To first, then References newest first."""
    out: list[str] = []
    for value in (in_reply_to, *reversed(_MSG_ID.findall(references or ""))):
        if not value:
            continue
        for found in _MSG_ID.findall(value) or [value.strip()]:
            if found and found not in out:
                out.append(found)
    return out


def handle_message(room: Postroom, raw: bytes, *, mailbox: str) -> str:
    """Run one message through the pipeline, then the reply match; returns the outcome."""
    result = room.receive(raw)
    if result.outcome is not Outcome.NOT_OURS:
        return str(result.outcome)
    parsed = parse_message(raw)
    ids = referenced_ids(parsed.header("In-Reply-To"), parsed.header("References"))
    if not ids:
        return "not_ours"
    record = None
    with room.database.transaction() as tx:
        driver = driver_of(tx)
        for mid in ids:
            record = inbound_store.find_message_id(driver, message_id=mid)
            if record is not None:
                break
    if record is None or record.email_id is None:
        return "not_ours"
    kind = classify_message(parsed.readable).kind
    if kind is MessageKind.NORMAL:
        event = "replied"
    elif kind is MessageKind.AUTO_REPLY:
        event = "auto_replied"
    else:
        return f"ignored_{kind}"
    data: dict[str, Any] = {
        "message_id": parsed.message_id,
        "from": parsed.sender,
        "subject": parsed.subject,
        "in_reply_to": record.message_id,
        "mailbox": mailbox,
    }
    if event == "replied":
        extracted = extract_message(parsed.message)
        data.update(text=extracted.reply, signature=extracted.signature)
    with room.database.transaction() as tx:
        inbound_store.add_event(
            driver_of(tx),
            type=event,
            occurred_at=room.clock(),
            email_id=record.email_id,
            delivery_id=record.delivery_id,
            recipient=record.recipient,
            user_id=record.user_id,
            module=record.module,
            machine=event != "replied",
            data=data,
        )
    return event
