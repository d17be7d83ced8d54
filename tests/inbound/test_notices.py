"""Item 7: every header of an error email is built from parsed, validated values; what cannot
be carried is dropped (RFC 5322 sections 2.1.1, 3.6.4; RFC 2047 section 5)."""

from __future__ import annotations

from datetime import UTC, datetime

from postroom.inbound.notices import NoticeKind, build_notice, may_answer
from postroom.inbound.parse import parse_message

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def message(headers: str, body: str = "Hello\r\n") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


def notice_for(raw: bytes) -> bytes:
    parsed = parse_message(raw)
    notice = build_notice(
        NoticeKind.EXPIRED_SESSION,
        to="ada@example.net",
        sender="postroom@reply.example.test",
        original=parsed,
        now=NOW,
        context={"reason": "expired", "uses": 0, "ttl_days": 30},
    )
    return bytes(notice)


def header_section(raw: bytes) -> bytes:
    return raw.split(b"\n\n", 1)[0]


def test_an_encoded_subject_cannot_put_text_into_the_body() -> None:
    raw = message(
        "From: Ada <ada@example.net>\nTo: x@reply.example.test\n"
        "Subject: =?utf-8?q?Hi=0D=0ABcc=3A_evil=40example=2Ecom=0D=0A=0D=0AInjected_line?=\n"
        "Message-ID: <a@example.net>"
    )
    notice = notice_for(raw)
    head, body = notice.split(b"\n\n", 1)
    assert b"Bcc" not in head and not body.startswith(b"Injected")
    subject = [line for line in head.splitlines() if line.startswith(b"Subject:")]
    assert len(subject) == 1
    assert not any(line.startswith((b"Bcc", b"Injected")) for line in body.splitlines())


def test_an_encoded_display_name_with_an_at_sign_is_not_the_sender() -> None:
    raw = message(
        "From: =?utf-8?q?victim@evil.example?= <ada@example.net>\n"
        "To: x@reply.example.test\nSubject: hi\nMessage-ID: <b@example.net>"
    )
    parsed = parse_message(raw)
    assert parsed.sender == "ada@example.net"
    assert may_answer(parsed, None, "normal") == "ada@example.net"


def test_a_sender_that_is_no_mailbox_is_not_answered() -> None:
    raw = message(
        "From: =?utf-8?q?victim@evil.example?=\nTo: x@reply.example.test\nSubject: hi\n"
        "Message-ID: <c@example.net>"
    )
    assert may_answer(parse_message(raw), None, "normal") is None
    assert may_answer(parse_message(raw), "a@b@c.example", "normal") is None


def test_an_over_long_message_id_is_dropped_not_encoded() -> None:
    raw = message(
        "From: Ada <ada@example.net>\nTo: x@reply.example.test\nSubject: hi\n"
        f"Message-ID: <{'a' * 5000}@example.net>"
    )
    head = header_section(notice_for(raw))
    assert b"In-Reply-To" not in head and b"References" not in head and b"=?" not in head
    assert all(len(line) <= 998 for line in notice_for(raw).splitlines())


def test_a_long_but_valid_message_id_is_kept_verbatim() -> None:
    mid = "x" * 300 + "@example.net"
    raw = message(
        f"From: Ada <ada@example.net>\nTo: x@reply.example.test\nSubject: hi\nMessage-ID: <{mid}>"
    )
    head = header_section(notice_for(raw))
    assert f"In-Reply-To: <{mid}>".encode() in head and b"=?" not in head


def test_a_message_id_that_is_no_msg_id_is_dropped() -> None:
    raw = message(
        "From: Ada <ada@example.net>\nTo: x@reply.example.test\nSubject: hi\n"
        "Message-ID: <no at sign here>"
    )
    assert b"In-Reply-To" not in header_section(notice_for(raw))
