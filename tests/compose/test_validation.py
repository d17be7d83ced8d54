"""Bad input fails before anything is built, with an error naming the field and the fix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from postroom.compose import Attachment, Email, Inline, Mailbox, Recipient, build_template
from postroom.errors import ComposeError, PostroomError

DATE = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def attempt(
    sender: Mailbox | None = None, date: datetime = DATE, token: str = "e1", **changes: Any
) -> ComposeError:
    fields: dict[str, Any] = {
        "account": "a",
        "to": ["ada@example.net"],
        "subject": "Hi",
        "text": "Hello",
    }
    fields.update(changes)
    with pytest.raises(ComposeError) as error:
        build_template(
            Email(**fields),
            sender=sender or Mailbox("me@example.org"),
            date=date,
            email_token=token,
        )
    assert isinstance(error.value, PostroomError)
    assert error.value.fix
    assert str(error.value).startswith(f"{error.value.field}: ")
    return error.value


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"to": ["ada@example.net", "bob@example.net", "not an address"]}, "to[2]"),
        ({"cc": ["@example.org"]}, "cc[0]"),
        ({"bcc": ["ok@example.org", "x@exa mple.org"]}, "bcc[1]"),
        ({"to": ["a..b@example.org"]}, "to[0]"),
        ({"to": ['"quoted"@example.org']}, "to[0]"),
        ({"to": ["x@[192.0.2.1]"]}, "to[0]"),
        ({"to": ["x@-bad-.example"]}, "to[0]"),
        ({"to": ["x@xn--zz.example"]}, "to[0]"),
        ({"to": ["a" * 65 + "@example.org"]}, "to[0]"),
        ({"to": ["ada@example.net\r\nBcc: evil@example.org"]}, "to[0]"),
        ({"to": [Recipient("ada@example.net", "Ada\r\nBcc: evil@example.org")]}, "to[0].name"),
        ({"to": [], "cc": [], "bcc": []}, "to"),
        ({"subject": "Hi\nBcc: evil@example.org"}, "subject"),
        ({"subject": "nul\x00"}, "subject"),
        ({"text": None, "html": None}, "text"),
        ({"text": "", "html": ""}, "text"),
        ({"text": "bad \udc80 surrogate"}, "text"),
        ({"headers": {"X-Ok": "1", "X-Bad": "a\rb"}}, "headers['X-Bad']"),
        ({"headers": {"Bad:Name": "1"}}, "headers['Bad:Name']"),
        ({"headers": {"Bad Name": "1"}}, "headers['Bad Name']"),
        ({"headers": {"Bcc": "x@example.org"}}, "headers['Bcc']"),
        ({"headers": {"content-type": "text/plain"}}, "headers['content-type']"),
        ({"headers": {"List-Unsubscribe-Post": "x"}}, "headers['List-Unsubscribe-Post']"),
        ({"headers": {"X-Postroom-Email": "x"}}, "headers['X-Postroom-Email']"),
        ({"headers": {"Return-Path": "<x@example.org>"}}, "headers['Return-Path']"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, "headers['x-a']"),
        (
            {"headers": {"Auto-Submitted": "auto-replied"}, "notification": True},
            "headers['Auto-Submitted']",
        ),
        ({"in_reply_to": "parent@example.org\r\nX: y"}, "in_reply_to"),
        ({"in_reply_to": "no brackets or at"}, "in_reply_to"),
        ({"references": ["ok@example.org", "bad\nref@example.org"]}, "references[1]"),
        ({"attachments": [Attachment("a\r\n.pdf", b"x")]}, "attachments[0].filename"),
        ({"attachments": [Attachment("", b"x")]}, "attachments[0].filename"),
        (
            {"attachments": [Attachment("a.eml", b"x", "message/rfc822")]},
            "attachments[0].content_type",
        ),
        ({"attachments": [Attachment("a.pdf", b"x", "pdf")]}, "attachments[0].content_type"),
        (
            {"attachments": [Attachment("a.txt", "text", "text/plain")]},  # type: ignore[arg-type]
            "attachments[0].content",
        ),
        (
            {"html": "<p>no image</p>", "inline": [Inline("logo@x", b"", "image/png")]},
            "inline[0].cid",
        ),
        ({"html": None, "inline": [Inline("logo@x", b"", "image/png")]}, "inline[0]"),
        (
            {"html": '<img src="cid:a b">', "inline": [Inline("a b", b"", "image/png")]},
            "inline[0].cid",
        ),
        (
            {
                "html": '<img src="cid:x@y">',
                "inline": [Inline("x@y", b"", "image/png"), Inline("x@y", b"", "image/png")],
            },
            "inline[1].cid",
        ),
    ],
)
def test_each_error_names_its_field(changes: dict[str, Any], field: str) -> None:
    assert attempt(**changes).field == field


def test_sender_and_date_and_token() -> None:
    assert attempt(sender=Mailbox("not-an-address")).field == "from"
    assert attempt(sender=Mailbox("me@example.org", "Me\nBcc: x")).field == "from.name"
    assert attempt(date=datetime(2026, 1, 1)).field == "date"
    assert attempt(token="has space").field == "email_token"


def test_the_message_says_what_and_how() -> None:
    error = attempt(cc=["ok@example.org", "broken"])
    assert error.field == "cc[1]"
    assert "'broken' is not an email address" in error.problem
    assert "local@domain" in error.fix


def test_long_addresses_at_the_limits() -> None:
    local = "a" * 64
    domain = "b" * 63 + "." + "b" * 63 + "." + "c" * 53 + ".example"  # 254 octets in all
    template = build_template(
        Email(account="a", to=[f"{local}@{domain}"], text="x"),
        sender=Mailbox("me@example.org"),
        date=DATE,
        email_token="e",
    )
    assert len(str(template.recipients[0].address)) == 254
    too_long = "b" * 63 + "." + "b" * 63 + "." + "c" * 54 + ".example"
    assert attempt(to=[f"{local}@{too_long}"]).field == "to[0]"
