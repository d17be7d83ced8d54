"""Named, table-driven cases for the tricky corners of bounce classification."""

from __future__ import annotations

import dataclasses
import email

import pytest

from postroom.understand.bounces import Classification, MessageKind, classify_message


def dsn(
    status: str, diagnostic: str, action: str = "failed", reporting: str = "dns; mx.example.net"
) -> bytes:
    """A minimal RFC 3464 report for rcpt@example.org with the given per-recipient fields."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
        "To: sender@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n'
        "\n"
        "--B\n"
        "Content-Type: text/plain\n"
        "\n"
        "This is the mail system at host mx.example.net.\n"
        "\n"
        "--B\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        f"Reporting-MTA: {reporting}\n"
        "\n"
        "Final-Recipient: rfc822; Rcpt@Example.org\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n"
        "\n"
        "--B\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "From: sender@example.com\n"
        "To: rcpt@example.org\n"
        "Message-ID: <copy-1@example.com>\n"
        "Subject: hello\n"
        "\n"
        "--B--\n"
    ).encode()


EXIM_UNROUTEABLE = b"""From: Mail Delivery System <Mailer-Daemon@relay.example.net>
To: sender@example.com
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: gone@nowhere.example.org

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  gone@nowhere.example.org
    Unrouteable address

------ This is a copy of the message, including all the headers. ------

Return-path: <sender@example.com>
Message-ID: <copy-2@example.com>
From: sender@example.com
To: gone@nowhere.example.org
Subject: hi

hi
"""

OOF_FROM_POSTMASTER = b"""From: postmaster@contoso.example
To: sender@example.com
Subject: Automatic reply: Quarterly figures
X-Auto-Response-Suppress: All
Auto-Submitted: auto-generated
Content-Type: text/plain; charset=utf-8

I am out of the office until Monday with limited access to email.
"""

ICLOUD_VACATION = b"""From: Someone <someone@icloud.example>
To: sender@example.com
Subject: Quarterly figures
Content-Type: text/plain; charset=utf-8

I'm currently on vacation and will reply to your email when I return.
"""

HUMAN_REPLY = b"""From: Someone <someone@example.org>
To: sender@example.com
Subject: Re: Quarterly figures
In-Reply-To: <copy-1@example.com>
Content-Type: text/plain; charset=utf-8

Thanks, the figures look right. Could the delivery be moved to Friday?

On Mon, sender@example.com wrote:
> Here are the figures.
"""

ARF = b"""From: feedback@fbl.example.net
To: fbl@example.com
Subject: FW: hello
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.
--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/1.0
Version: 1
Original-Rcpt-To: <Complainer@Example.org>

--F
Content-Type: message/rfc822

From: sender@example.com
To: complainer@example.org
Message-ID: <copy-3@example.com>
Subject: hello

hello
--F--
"""


@pytest.mark.parametrize(
    ("name", "message", "kind", "reason", "hard", "status"),
    [
        (
            "dead mailbox",
            dsn("5.1.1", "550 5.1.1 <rcpt@example.org>: User unknown"),
            MessageKind.BOUNCE,
            "userunknown",
            True,
            "5.1.1",
        ),
        (
            "policy block that looks like an unknown user",
            dsn("5.7.1", "550 5.7.1 Client host rejected: blocked using zen.spamhaus.org"),
            MessageKind.BOUNCE,
            "blocked",
            False,
            "5.7.1",
        ),
        (
            "spam block under a mailbox code",
            dsn("5.1.1", "550 5.1.1 Message rejected as spam by content filter"),
            MessageKind.BOUNCE,
            "spamdetected",
            False,
            "5.1.1",
        ),
        (
            "full mailbox is soft",
            dsn("5.2.2", "552 5.2.2 Mailbox full"),
            MessageKind.BOUNCE,
            "mailboxfull",
            False,
            "5.2.2",
        ),
        (
            "delay is a bounce that is never hard",
            dsn("4.4.7", "451 4.4.7 delivery time expired", action="delayed"),
            MessageKind.BOUNCE,
            "expired",
            False,
            "4.4.7",
        ),
        (
            "SES writes 'Reporting-MTA: dsn;'",
            dsn("5.1.1", "550 5.1.1 user unknown", reporting="dsn; a27-80.smtp-out.amazonses.com"),
            MessageKind.BOUNCE,
            "userunknown",
            True,
            "5.1.1",
        ),
        (
            "delivery report",
            dsn("2.0.0", "250 2.0.0 OK", action="delivered"),
            MessageKind.DELIVERED,
            "delivered",
            False,
            "2.0.0",
        ),
    ],
)
def test_reports(
    name: str, message: bytes, kind: MessageKind, reason: str, hard: bool, status: str
) -> None:
    got = classify_message(message)
    assert got.kind is kind, name
    (rcpt,) = got.recipients
    assert (rcpt.address, rcpt.reason, rcpt.hard, rcpt.status) == (
        "rcpt@example.org",
        reason,
        hard,
        status,
    ), name
    assert got.original_message_id == "copy-1@example.com"


def test_delay_keeps_its_action() -> None:
    got = classify_message(dsn("4.4.7", "451 4.4.7 delivery time expired", action="delayed"))
    assert got.is_bounce and got.recipients[0].action == "delayed"


def test_missing_status_is_inferred_from_the_text() -> None:
    got = classify_message(EXIM_UNROUTEABLE)
    assert got.kind is MessageKind.BOUNCE
    (rcpt,) = got.recipients
    assert rcpt.address == "gone@nowhere.example.org"
    assert (rcpt.reason, rcpt.hard, rcpt.status_inferred) == ("hostunknown", True, True)
    assert rcpt.status == "5.1.2"
    assert got.original_message_id == "copy-2@example.com"


@pytest.mark.parametrize(
    ("name", "message", "kind"),
    [
        (
            "Microsoft 365 out-of-office from postmaster@",
            OOF_FROM_POSTMASTER,
            MessageKind.AUTO_REPLY,
        ),
        ("iCloud vacation reply without any header", ICLOUD_VACATION, MessageKind.AUTO_REPLY),
        ("a person's reply", HUMAN_REPLY, MessageKind.NORMAL),
        ("ARF complaint", ARF, MessageKind.COMPLAINT),
        ("empty input", b"", MessageKind.NORMAL),
        ("headers only", b"Subject: x\n", MessageKind.NORMAL),
    ],
)
def test_message_kinds(name: str, message: bytes, kind: MessageKind) -> None:
    got = classify_message(message)
    assert got.kind is kind, name
    assert not got.is_bounce


def test_complaint_names_the_complainer() -> None:
    got = classify_message(ARF)
    assert [r.address for r in got.recipients] == ["complainer@example.org"]
    assert got.recipients[0].reason == "feedback"
    assert got.feedback_type == "abuse"
    assert got.original_message_id == "copy-3@example.com"


def test_vacation_reply_names_its_sender() -> None:
    got = classify_message(OOF_FROM_POSTMASTER)
    assert [(r.address, r.reason, r.hard) for r in got.recipients] == [
        ("postmaster@contoso.example", "vacation", False)
    ]


@pytest.mark.parametrize("message", [EXIM_UNROUTEABLE, ARF, dsn("5.1.1", "550 user unknown")])
def test_crlf_and_lf_read_alike(message: bytes) -> None:
    assert classify_message(message.replace(b"\n", b"\r\n")) == classify_message(message)


def test_accepts_a_parsed_message() -> None:
    parsed = email.message_from_bytes(dsn("5.1.1", "550 5.1.1 User unknown"))
    assert classify_message(parsed) == classify_message(dsn("5.1.1", "550 5.1.1 User unknown"))


def test_result_is_frozen_and_serialises_to_the_cli_contract() -> None:
    got = classify_message(dsn("5.1.1", "550 5.1.1 User unknown"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.kind = MessageKind.NORMAL  # type: ignore[misc]
    data = got.to_json()
    assert set(data) == {"kind", "is_bounce", "recipients", "original_message_id"}
    assert data["kind"] == "bounce" and data["is_bounce"] is True
    rcpt = data["recipients"][0]  # type: ignore[index]
    assert {"address", "action", "status", "reason", "hard"} <= set(rcpt)


def test_truncated_report_is_read_as_far_as_it_goes() -> None:
    whole = dsn("5.1.1", "550 5.1.1 User unknown")
    cut = whole[: whole.index(b"Diagnostic-Code")]
    got = classify_message(cut)
    assert isinstance(got, Classification) and got.is_bounce
    assert got.recipients[0].address == "rcpt@example.org"


def notice(sender_to: str, body: str, subject: str = "failure notice") -> bytes:
    """A qmail-style notice without a report part, addressed to ``sender_to``."""
    return (
        "From: MAILER-DAEMON@mx.example.net\n"
        f"To: {sender_to}\n"
        f"Subject: {subject}\n"
        "\n"
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n"
        "\n" + body
    ).encode()


def test_a_sender_who_wrote_to_themselves_is_the_recipient() -> None:
    got = classify_message(
        notice(
            "self@example.org",
            "<self@example.org>:\n192.0.2.1 does not like recipient.\n"
            "Remote host said: 552 Error: disk quota exceeded\n",
        )
    )
    assert [(r.address, r.reason) for r in got.recipients] == [("self@example.org", "mailboxfull")]


def test_a_quoted_local_part_is_one_address() -> None:
    got = classify_message(dsn("5.1.1", '550 5.1.1 <"a..b"@example.org>... User Unknown'))
    assert got.recipients[0].address == "rcpt@example.org"
    text = notice(
        "sender@example.com",
        '<"a..b"@example.org>:\nRemote host said: 550 5.1.1 User unknown (in reply to RCPT TO)\n',
    )
    assert [r.address for r in classify_message(text).recipients] == ['"a..b"@example.org']


def test_a_display_name_that_looks_like_an_address_is_not_a_recipient() -> None:
    got = classify_message(
        notice(
            "sender@example.com",
            "  wrong@example.com <right@example.net>: 550 5.1.1 user unknown\n",
        )
    )
    assert [r.address for r in got.recipients] == ["right@example.net"]


def test_a_bounce_forwarded_as_an_attachment_is_read_for_its_report() -> None:
    inner = dsn("5.1.1", "550 5.1.1 User unknown").decode()
    outer = (
        "From: MAILER-DAEMON@relay.example.com\n"
        "To: sender@example.com\n"
        "Subject: Returned mail\n"
        'Content-Type: multipart/mixed; boundary="OUT"\n'
        "\n--OUT\nContent-Type: text/plain\n\n"
        "----- The following addresses had permanent delivery errors -----\n"
        "\n--OUT\nContent-Type: message/rfc822\n\n" + inner + "\n--OUT--\n"
    )
    got = classify_message(outer.encode())
    assert [(r.address, r.status) for r in got.recipients] == [("rcpt@example.org", "5.1.1")]


def test_a_returned_header_pasted_as_text_names_the_recipient() -> None:
    message = (
        b"From: MMS NDR Administrator <sysadmin@mms.example.com>\n"
        b"To: sender@example.com\n"
        b"Subject: Undeliverable Message\n"
        b"\n"
        b"Message could not be delivered to mobile.\n"
        b"Error: No valid recipients for this MM\n"
        b"\n"
        b"Original Message:\n"
        b"From: Sender <sender@example.com>\n"
        b"To: 5550100@mms.example.com\n"
        b"Subject: hello\n"
    )
    got = classify_message(message)
    assert [(r.address, r.reason) for r in got.recipients] == [
        ("5550100@mms.example.com", "userunknown")
    ]


def test_quoted_printable_soft_breaks_survive_trailing_white_space() -> None:
    # RFC 2045 section 6.7 (3): white space a transport added at a line end is deleted before
    # decoding, so "=" followed by spaces still joins the lines.
    body = (
        "This message was created automatically by mail delivery software.=\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its recip=\n"
        "ients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        "  gone@exam=\n"
        "ple.org\n"
        "    SMTP error from remote mail server after RCPT TO:<gone@example.org>:\n"
        "    550 5.1.1 No such user here\n"
    )
    head = (
        "From: Mail Delivery System <Mailer-Daemon@relay.example.net>\n"
        "To: sender@example.com\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
    )
    clean = classify_message((head + body).encode())
    padded = classify_message((head + body.replace("=\n", "=  \n")).encode())
    assert [(r.address, r.reason) for r in clean.recipients] == [
        ("gone@example.org", "userunknown")
    ]
    assert padded == clean


def test_every_header_field_the_classifier_reads_is_kept() -> None:
    # MIME parts keep only mime.READ_FIELDS; a field read anywhere else would come back empty.
    import ast
    import re
    from pathlib import Path

    import postroom.understand.bounces as package
    from postroom.understand.bounces.mime import READ_FIELDS

    read: set[str] = set()
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple):
                names = [e.value for e in node.iter.elts if isinstance(e, ast.Constant)]
                fields = [n for n in names if isinstance(n, str) and re.fullmatch("[a-z0-9-]+", n)]
                if fields and len(fields) == len(names) and any("-" in n for n in fields):
                    read.update(fields)  # for name in ("from", "reply-to", ...)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("top", "returned", "part", "header")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                read.add(str(node.args[0].value))
    assert read and read <= READ_FIELDS, sorted(read - READ_FIELDS)
