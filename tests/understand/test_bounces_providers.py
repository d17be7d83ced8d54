"""Provider formats: the same words that mean different things at different mail systems."""

from __future__ import annotations

import pytest

from postroom.understand.bounces import classify_message
from postroom.understand.bounces.providers import Origin, provider_reason
from support.messages import bounce


def report(recipient: str, diagnostic: str, *, status: str = "5.0.0", **fields: str) -> bytes:
    """An RFC 3464 report on one recipient (see :func:`support.messages.bounce`)."""
    return bounce("sender@example.com", recipient, status=status, diagnostic=diagnostic, **fields)


def only(message: bytes) -> tuple[str, bool]:
    (r,) = classify_message(message).recipients
    return r.reason, r.hard


@pytest.mark.parametrize(
    ("name", "message", "reason", "hard"),
    [
        (
            "KDDI au: a reply that names the mailbox says it does not exist",
            report("taro@ezweb.ne.jp", "550 <taro@ezweb.ne.jp>: User unknown"),
            "userunknown",
            True,
        ),
        (
            "KDDI au: the same words naming nobody are the recipient's refusal settings",
            report(
                "taro@ezweb.ne.jp",
                "550 5.1.351 Remote server returned unknown recipient -> 550 : User unknown",
                status="5.1.351",
                remote="msmx.au.com",
            ),
            "filtered",
            False,
        ),
        (
            "the unnamed form elsewhere is an unknown user with a mailbox code",
            report("taro@example.org", "550 5.1.1 : User unknown", status="5.1.1"),
            "userunknown",
            True,
        ),
        (
            "NTT docomo: 'Unknown user' after DATA under a generic code refuses the sender",
            report(
                "hanako@docomo.ne.jp",
                "550 Unknown user hanako@docomo.ne.jp (in reply to end of DATA command)",
                remote="mfsmax.docomo.ne.jp",
            ),
            "rejected",
            False,
        ),
        (
            "NTT docomo: X.2.0 is the recipient's reception settings",
            report(
                "hanako@docomo.ne.jp",
                "550 Unknown user hanako@docomo.ne.jp",
                status="5.2.0",
                remote="mfsmax.docomo.ne.jp",
            ),
            "filtered",
            False,
        ),
        (
            "NTT docomo: X.1.1 is the address",
            report(
                "hanako@docomo.ne.jp",
                "550 5.1.1 Unknown user hanako@docomo.ne.jp",
                status="5.1.1",
                remote="mfsmax.docomo.ne.jp",
            ),
            "userunknown",
            True,
        ),
        (
            "NTT docomo: 'too much mail data' is a full mailbox",
            report("hanako@docomo.ne.jp", "552 Too Much Mail Data", remote="mfsmax.docomo.ne.jp"),
            "mailboxfull",
            False,
        ),
        (
            "Yahoo: a TSS04 deferral from its own hosts is its verdict on the sender",
            report(
                "jo@yahoo.example",
                "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to "
                "unexpected volume or user complaints",
                status="4.7.0",
                remote="mta5.am0.yahoodns.net",
            ),
            "rejected",
            False,
        ),
        (
            "the same deferral quoted with no Yahoo host reads as reputation",
            report(
                "jo@yahoo.example",
                "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to "
                "unexpected volume or user complaints",
                status="4.7.0",
            ),
            "badreputation",
            False,
        ),
        (
            "Yahoo's 'dd' delivery error names a missing mailbox even after DATA",
            report(
                "jo@yahoo.example",
                "554 delivery error: dd This user doesn't have a yahoo.example account "
                "(jo@yahoo.example) [0] - mta1.mail.example (in reply to end of DATA command)",
            ),
            "userunknown",
            True,
        ),
        (
            "Outlook.com reporting its own mailbox: RFC 5321's 'mailbox unavailable'",
            report(
                "kim@hotmail.example",
                "550 Requested action not taken: mailbox unavailable (-1:2:-1)",
                status="5.5.0",
                reporting="dns;BAY0-MC1.hotmail.com",
                sender="postmaster@hotmail.com",
            ),
            "userunknown",
            True,
        ),
    ],
)
def test_provider_formats(name: str, message: bytes, reason: str, hard: bool) -> None:
    assert only(message) == (reason, hard), name


def test_rfc5321_mailbox_unavailable_alone_is_a_filters_words() -> None:
    # Without a mailbox code, the RCPT stage or a reporter that owns the mailbox, the RFC's
    # generic text for 550 says no more than the code.
    message = (
        b"From: mailer-daemon@mail.example.net\n"
        b"To: sender@example.com\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"\n"
        b"A message that you sent could not be delivered. This is a permanent error.\n"
        b"\n"
        b"rcpt@example.org Invalid Address, ERROR_CODE :550, "
        b"ERROR_CODE :Requested action not taken: mailbox unavailable\n"
    )
    assert only(message) == ("filtered", False)


def test_imail_states_its_own_verdict() -> None:
    message = (
        b"From: Postmaster <postmaster@mail.example.org>\n"
        b"To: sender@example.com\n"
        b"Subject: Undeliverable Mail\n"
        b"X-Mailer: <SMTP32 v8.22>\n"
        b"\n"
        b"Unknown user: rcpt@example.org\n"
        b"\n"
        b"\n"
        b"Original message follows.\n"
        b"\n"
        b"From: sender@example.com\n"
        b"To: rcpt@example.org\n"
        b"Subject: hi\n"
        b"\n"
        b"hello\n"
    )
    assert only(message) == ("userunknown", True)
    # The same words from another mail system, with no stage or code, are a filter's.
    other = message.replace(b"X-Mailer: <SMTP32 v8.22>\n", b"")
    assert only(other) == ("filtered", False)


def test_provider_rules_stay_silent_elsewhere() -> None:
    nobody = Origin()
    assert provider_reason(nobody, "a@example.org", None, "550 : user unknown", None, None) is None
    assert (
        provider_reason(nobody, "a@docomo.ne.jp", "mx.example.net", "mailbox full", None, "data")
        is None
    )
    assert Origin.of("dns; MX1.Example.NET", "x@y.example", None).reporter == "mx1.example.net"
    assert Origin.of(None, "postmaster@hotmail.com", "<SMTP32 v8>").mailer == "<smtp32 v8>"
