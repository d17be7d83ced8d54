"""Sorting SMTP answers. Each case is a provider's or an RFC's own wording, as cited in the
table (postroom.outbound.replies.RULES)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from postroom.errors import ConnectionLost, ExtensionMissing
from postroom.outbound.replies import RULES, ReplyKind, classify_reply, classify_result
from postroom.outbound.types import Command, CopyResult, Outcome, OutgoingCopy, Reply
from postroom.outbound.wire import ReplyReader


def reply(raw: str) -> Reply:
    reader = ReplyReader()
    reader.feed(raw.encode() + b"\r\n")
    parsed = reader.next_reply()
    assert parsed is not None
    return parsed


DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("raw", "stage", "kind", "reason", "pause"),
    [
        # Google: support.google.com/a/answer/3726730; limits roll over 24 h (answer/166852).
        (
            "550 5.4.5 Daily user sending limit exceeded.",
            Command.MAIL,
            ReplyKind.QUOTA,
            "daily_sending_limit",
            DAY,
        ),
        (
            "550 5.4.5 Daily SMTP relay limit exceeded for user.",
            None,
            ReplyKind.QUOTA,
            "daily_sending_limit",
            DAY,
        ),
        (
            "421 4.7.0 Try again later, closing connection.",
            Command.MAIL,
            ReplyKind.QUOTA,
            "rate_limited",
            timedelta(minutes=15),
        ),
        (
            "452 4.5.3 Your message has too many recipients.",
            Command.RCPT,
            ReplyKind.QUOTA,
            "too_many_recipients",
            timedelta(hours=1),
        ),
        (
            "450 4.2.1 Peak SMTP relay limit exceeded for customer.",
            Command.RCPT,
            ReplyKind.QUOTA,
            "relay_rate_limit",
            timedelta(minutes=15),
        ),
        # Microsoft Learn, SMTP Authenticated Submission throttling.
        (
            "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded",
            Command.MAIL,
            ReplyKind.QUOTA,
            "connection_limit",
            timedelta(minutes=1),
        ),
        (
            "432 4.3.2 Concurrent connections limit exceeded.",
            Command.MAIL,
            ReplyKind.QUOTA,
            "connection_limit",
            timedelta(minutes=1),
        ),
        (
            "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
            Command.DATA,
            ReplyKind.QUOTA,
            "daily_recipient_limit",
            DAY,
        ),
        (
            "554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException."
            "MapiExceptionShutoffQuotaExceeded",
            Command.DATA,
            ReplyKind.ACCOUNT,
            "sender_mailbox_full",
            None,
        ),
        (
            "550 5.7.30 Basic authentication is not supported for Client Submission.",
            Command.MAIL,
            ReplyKind.ACCOUNT,
            "basic_auth_disabled",
            None,
        ),
        (
            "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
            Command.MAIL,
            ReplyKind.ACCOUNT,
            "send_as_denied",
            None,
        ),
        (
            "530 5.7.0 Authentication required",
            Command.MAIL,
            ReplyKind.ACCOUNT,
            "auth_required",
            None,
        ),
        # Amazon SES, errors related to sending quotas.
        (
            "454 Throttling failure: Maximum sending rate exceeded.",
            Command.DATA,
            ReplyKind.QUOTA,
            "rate_limited",
            timedelta(seconds=1),
        ),
        (
            "454 Throttling failure: Daily message quota exceeded.",
            Command.DATA,
            ReplyKind.QUOTA,
            "daily_sending_limit",
            DAY,
        ),
        # RFC 5321 4.2.1 classes and RFC 3463 codes.
        ("250 2.0.0 Ok: queued as 4Xyz", Command.END_OF_DATA, ReplyKind.SUCCESS, "accepted", None),
        (
            "451 4.3.0 Error: queue file write error",
            Command.END_OF_DATA,
            ReplyKind.TRANSIENT,
            "transient",
            None,
        ),
        (
            "421 4.4.2 mail.example.test Error: timeout exceeded",
            None,
            ReplyKind.TRANSIENT,
            "closing",
            None,
        ),
        (
            "552 5.3.4 Error: message file too big",
            Command.END_OF_DATA,
            ReplyKind.PERMANENT,
            "message_too_big",
            None,
        ),
        (
            "554 5.7.1 Service unavailable; Client host blocked",
            Command.RCPT,
            ReplyKind.PERMANENT,
            "permanent",
            None,
        ),
        (
            "552 Too many recipients",
            Command.RCPT,
            ReplyKind.QUOTA,
            "too_many_recipients",
            timedelta(hours=1),
        ),
    ],
)
def test_documented_answers(
    raw: str,
    stage: Command | None,
    kind: ReplyKind,
    reason: str,
    pause: timedelta | None,
) -> None:
    found = classify_reply(reply(raw), stage)
    assert (found.kind, found.reason, found.pause) == (kind, reason, pause)
    assert found.source
    assert not found.address_gone


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            "550 5.1.1 <gone@y.test>: Recipient address rejected: User unknown in virtual mailbox "
            "table",
            "user_unknown",
        ),
        ("550 5.1.1 The email account that you tried to reach does not exist.", "user_unknown"),
        (
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            "null_mx",
        ),
        ("550 5.1.6 recipient no longer on server", "mailbox_moved"),
        ("553 5.1.3 The recipient address is not a valid RFC 5321 address.", "bad_address_syntax"),
        ("550 Requested action not taken: mailbox unavailable (No such user)", "user_unknown"),
        ("551 User not local; please try <x@elsewhere.test>", "mailbox_moved"),
    ],
)
def test_a_missing_address_is_permanent_and_gone(raw: str, reason: str) -> None:
    found = classify_reply(reply(raw), Command.RCPT)
    assert found.kind is ReplyKind.PERMANENT and found.address_gone and found.reason == reason


def test_user_unknown_text_in_answer_to_data_is_a_filter_not_a_missing_mailbox() -> None:
    # BOUNCE-CODES.md rule 2 (docomo's reception filter answers DATA with "Unknown user").
    raw = reply("550 Unknown user x@docomo.ne.jp")
    assert classify_reply(raw, Command.RCPT).address_gone
    after_data = classify_reply(raw, Command.DATA)
    assert after_data.kind is ReplyKind.PERMANENT and not after_data.address_gone


def test_4xx_x11_is_only_transient() -> None:
    found = classify_reply(reply("450 4.1.1 <x@y.test>: Recipient address rejected: unverified"))
    assert found.kind is ReplyKind.TRANSIENT and not found.address_gone


def test_421_always_means_closing() -> None:
    assert classify_reply(reply("421 4.7.0 Try again later, closing connection.")).closing
    assert classify_reply(reply("421 Service not available")).closing
    assert not classify_reply(reply("451 4.3.0 try later")).closing


def test_every_rule_names_its_source() -> None:
    assert all(rule.source for rule in RULES)
    quota_rules = [rule for rule in RULES if rule.kind is ReplyKind.QUOTA]
    assert quota_rules and all(rule.pause for rule in quota_rules)


def test_results_are_sorted_by_their_deciding_reply() -> None:
    copy = OutgoingCopy("a@x.test", "b@y.test", b"x\r\n")
    refused = CopyResult(
        copy,
        Outcome.REFUSED,
        mail=reply("250 2.1.0 Ok"),
        rcpt=reply("550 5.1.1 User unknown"),
        data=reply("554 5.5.1 Error: no valid recipients"),
    )
    assert refused.stage is Command.RCPT
    assert classify_result(refused).address_gone
    lost = CopyResult(copy, Outcome.CONNECTION_LOST, error=ConnectionLost("eof"))
    assert classify_result(lost).kind is ReplyKind.TRANSIENT
    limited = CopyResult(
        copy, Outcome.CONNECTION_LOST, mail=reply("421 4.7.0 Try again later, closing connection.")
    )
    assert classify_result(limited).kind is ReplyKind.QUOTA
    unsupported = CopyResult(copy, Outcome.UNSUPPORTED, error=ExtensionMissing("SMTPUTF8"))
    assert classify_result(unsupported).reason == "extension_missing"
    accepted = CopyResult(
        copy,
        Outcome.ACCEPTED,
        reply("250 Ok"),
        reply("250 Ok"),
        reply("250 2.0.0 Ok: queued as 3ABC"),
    )
    assert classify_result(accepted).kind is ReplyKind.SUCCESS
    assert accepted.queue_id == "3ABC"
