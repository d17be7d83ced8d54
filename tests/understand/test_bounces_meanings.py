"""Documented meanings that decide a reason: vendors' own codes, kinds of refusal, expiry."""

from __future__ import annotations

import pytest

from postroom.understand.bounces import classify_message


def report(
    status: str,
    diagnostic: str,
    *,
    action: str = "failed",
    remote: str | None = None,
    reporting: str = "mx.example.net",
) -> bytes:
    remote_line = f"Remote-MTA: dns; {remote}\n" if remote else ""
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting}>\nTo: sender@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nThe mail system could not deliver your message.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {reporting}\n\n"
        f"Final-Recipient: rfc822; rcpt@example.org\nAction: {action}\nStatus: {status}\n"
        f"{remote_line}Diagnostic-Code: smtp; {diagnostic}\n\n--B--\n"
    ).encode()


@pytest.mark.parametrize(
    ("name", "raw", "reason", "hard"),
    [
        (
            "Microsoft 5.2.2 is the sender's quota, not a full mailbox",
            report(
                "5.2.2",
                "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException; "
                "Submission quota exceeded",
                remote="mail.protection.outlook.com",
            ),
            "speeding",
            False,
        ),
        (
            "Microsoft 5.1.10 is an unknown recipient",
            report(
                "5.1.10",
                "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
                "address lookup",
                remote="eur.prod.protection.outlook.com",
            ),
            "userunknown",
            True,
        ),
        (
            "5.1.10 elsewhere keeps RFC 7505's null MX",
            report("5.1.10", "556 5.1.10 Recipient address has null MX"),
            "notaccept",
            True,
        ),
        (
            "Microsoft's edge blocking answer is an unknown recipient",
            report(
                "5.4.1",
                "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
                "[DB5EUR03FT010.eop-EUR03.prod.protection.outlook.com]",
            ),
            "userunknown",
            True,
        ),
        (
            "Google 5.7.29 is a missing TLS, not ARC",
            report(
                "5.7.29",
                "550 5.7.29 This mail has been blocked because the sender is "
                "unauthenticated. TLS is required - gsmtp",
            ),
            "failedstarttls",
            False,
        ),
        (
            "Google 5.4.5 is the daily sending limit",
            report("5.4.5", "550 5.4.5 Daily user sending limit exceeded. - gsmtp"),
            "speeding",
            False,
        ),
        (
            "rate limited because of reputation",
            report(
                "4.7.650",
                "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited "
                "due to IP reputation.",
                action="delayed",
            ),
            "badreputation",
            False,
        ),
        (
            "rate limited, no reputation",
            report("4.7.0", "421 4.7.0 Rate limit exceeded, slow down", action="delayed"),
            "speeding",
            False,
        ),
        (
            "SPF failure behind Postfix's generic prefix",
            report(
                "5.7.1",
                "550 5.7.1 <rcpt@example.org>: Recipient address rejected: Message rejected "
                "due to: SPF fail - not authorized (in reply to RCPT TO command)",
            ),
            "authfailure",
            False,
        ),
        (
            "LDAP failure on the receiving side is its own fault",
            report(
                "4.4.3",
                "451 Temporary failure in LDAP lookup (#4.4.3)",
                action="failed",
            ),
            "systemerror",
            False,
        ),
        (
            "a temporary DNS failure that expired",
            report(
                "4.4.3",
                "X-Postfix; Host or domain name not found. Name service error for "
                "name=example.org type=MX: Host not found, try again",
            ),
            "expired",
            False,
        ),
        (
            "a temporary DNS failure, still queued",
            report(
                "4.4.3",
                "X-Postfix; Host or domain name not found. Name service error for "
                "name=example.org type=MX: Host not found, try again",
                action="delayed",
            ),
            "networkerror",
            False,
        ),
        (
            "a host that does not exist",
            report(
                "5.4.4",
                "X-Postfix; Host or domain name not found. Name service error for "
                "name=example.org type=A: Host not found",
            ),
            "hostunknown",
            True,
        ),
        (
            "qmail's transient #4.1.2 is DNS trouble",
            report(
                "4.1.2",
                "Sorry, I couldn't find any host named example.org. (#4.1.2)",
                action="delayed",
            ),
            "networkerror",
            False,
        ),
        (
            "user unknown after RCPT",
            report("5.0.0", "550 User unknown (in reply to RCPT TO command)"),
            "userunknown",
            True,
        ),
        (
            "user unknown after DATA is a filter's words",
            report("5.0.0", "550 User unknown (in reply to end of DATA command)"),
            "filtered",
            False,
        ),
        (
            "a generic status read from the words",
            report("5.0.0", "554 5.0.0 Message size exceeds fixed maximum message size"),
            "mesgtoobig",
            False,
        ),
        (
            "T-Online's refusal of an unknown sender",
            report(
                "5.5.0",
                "554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster for help or to "
                "contact tosa@rx.t-online.de to clarify.) (BL)",
            ),
            "blocked",
            False,
        ),
        (
            "Barracuda's reputation list is a block list",
            report("5.7.1", "554 5.7.1 Service unavailable; blocked using Barracuda Reputation"),
            "blocked",
            False,
        ),
    ],
)
def test_documented_meanings(name: str, raw: bytes, reason: str, hard: bool) -> None:
    (rcpt,) = classify_message(raw).recipients
    assert (rcpt.reason, rcpt.hard) == (reason, hard), name


@pytest.mark.parametrize(
    "address",
    [
        "a@b.co",
        "x@a.b.c.de",
        "user@xn--80ak6aa92e.com",
        "me@mx.t-online.de",
        "q@e.io",
        "n@163.com",
        "user@example.xn--p1ai",
        "u@xn--e1afmkfd.xn--p1ai",
    ],
)
def test_short_but_valid_domain_labels_are_kept(address: str) -> None:
    raw = (
        "From: MAILER-DAEMON@mx.example.net\nTo: sender@example.com\n"
        "Subject: Mail delivery failed: returning message to sender\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {address}\n    SMTP error from remote mail server after RCPT TO:<{address}>:\n"
        "    550 5.1.1 No such user here\n"
    ).encode()
    assert [r.address for r in classify_message(raw).recipients] == [address]


def test_the_reports_own_return_address_is_never_the_failed_recipient() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: bounces+x1@app.example.com\n"
        b"Return-Path: <>\nSubject: failure notice\n\n"
        b"Hi. This is the qmail-send program at mx.example.net.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        b"<gone@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        b"--- Below this line is a copy of the message.\n\n"
        b"Return-Path: <bounces+x1@app.example.com>\nFrom: app@app.example.com\n"
        b"To: gone@example.org\n"
    )
    assert [r.address for r in classify_message(raw).recipients] == ["gone@example.org"]


def test_the_return_address_in_a_mail_from_line_is_never_the_failed_recipient() -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: app@app.example.com\n"
        b"Subject: Mail delivery failed: returning message to sender\n\n"
        b"A message that you sent could not be delivered to one or more of its recipients.\n"
        b"SMTP error from remote mail server after MAIL FROM:<bounces+x3@app.example.com>\n"
        b"SIZE=2048: 550 5.7.1 Sender address rejected: not allowed\n\n"
        b"------ This is a copy of the message's headers. ------\n\n"
        b"Return-Path: <bounces+x3@app.example.com>\nFrom: app@app.example.com\n"
        b"To: gone@example.org\nSubject: news\n"
    )
    got = classify_message(raw)
    assert [(r.address, r.reason) for r in got.recipients] == [("gone@example.org", "rejected")]


def qmail(body: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: sender@example.com\nSubject: failure notice\n\n"
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n" + body
    ).encode()


def test_qmail_names_the_stage_in_prose() -> None:
    after_data = qmail(
        "<rcpt@example.org>:\n192.0.2.1 failed after I sent the message.\n"
        "Remote host said: 554 5.0.0 User unknown\n"
    )
    at_rcpt = qmail(
        "<rcpt@example.org>:\n192.0.2.1 does not like recipient.\n"
        "Remote host said: 550 5.0.0 User unknown\n"
    )
    helo = qmail(
        "<rcpt@example.org>:\nConnected to 192.0.2.1 but my name was rejected.\n"
        "Remote host said: 550 Go away\n"
    )
    assert classify_message(after_data).recipients[0].reason == "filtered"
    assert classify_message(at_rcpt).recipients[0].reason == "userunknown"
    # Refused at the greeting (RFC 5321 section 4.3.2): the sending host is blocked.
    assert classify_message(helo).recipients[0].reason == "blocked"
