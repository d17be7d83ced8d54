"""The classifier on notices that real mail software writes here, on loopback.

Postfix (two instances), Dovecot LMTP with its quota plugin and Pigeonhole Sieve, Exim and
OpenSMTPD (unpacked from their Debian packages) and vacation(1) are made to bounce, warn,
refuse, report success and answer automatically (see ``tests/support/realbounces.py``). Each
test hands what the software sent back to ``classify_message`` and checks the kind, the
recipients, the status, the reason and hard/soft.

All messages are sent when the module's lab starts, so the waits for delays and expiries
(a few seconds each) overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from postroom.understand.bounces import Classification, MessageKind, classify_message
from support.realbounces import SENDER, BounceLab, start_bounce_lab


@dataclass
class Sent:
    """The Message-IDs of what the lab was given, by case."""

    ids: dict[str, str]
    started: float


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BounceLab]:
    lab = start_bounce_lab(tmp_path_factory.mktemp("bouncelab"))
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def sent(lab: BounceLab) -> Sent:
    started = time.monotonic()
    big = "A long line of text that makes the message larger than the limit.\n" * 400
    # Exim first: its queue runs below are timed from this submission.
    exim_dead = lab.packaged.exim_submit("gone@dead.test", "unreachable")
    exim_started = time.monotonic()
    ids = {
        "exim-dead": exim_dead,
        # Postfix S -> Postfix R
        "unknown": lab.send("nobody@rcpt.test", subject="to nobody"),
        "relay": lab.send("someone@norelay.test", mail_options=["RET=HDRS"]),
        "size": lab.send("alice@rcpt.test", subject="big", body=big),
        "quota": lab.send("full@rcpt.test", subject="quota", body="B" * 70 * 40 + "\n"),
        "success": lab.send(
            "alice@rcpt.test", mail_options=["RET=HDRS"], rcpt_options=["NOTIFY=SUCCESS"]
        ),
        "local-success": lab.send("postmaster@s.test", rcpt_options=["NOTIFY=SUCCESS"]),
        "dead": lab.send("gone@dead.test", rcpt_options=["NOTIFY=DELAY,FAILURE"]),
        "delay-only": lab.send("late@dead.test", rcpt_options=["NOTIFY=DELAY"]),
        # Postfix S -> Exim's SMTP daemon (configure.default's RCPT checks)
        "to-exim-unknown": lab.send("nobody@exim.test"),
        "to-exim-relay": lab.send("someone@eximrelay.test"),
        # Dovecot LMTP + Pigeonhole on R
        "vacation": lab.send("away@rcpt.test", subject="meeting"),
        "reject": lab.send("picky@rcpt.test", subject="offer"),
        # OpenSMTPD
        "smtpd-unknown": lab.send("nobody@rcpt.test", port=lab.packaged.smtpd_port),
        "smtpd-dead": lab.send("gone@dead.test", port=lab.packaged.smtpd_port),
        "smtpd-relay": lab.send("someone@norelay.test", port=lab.packaged.smtpd_port),
        # Exim
        "exim-local": lab.packaged.exim_submit("nobody@exim.test", "local"),
        "exim-remote": lab.packaged.exim_submit("nobody@rcpt.test", "remote"),
        "exim-relay": lab.packaged.exim_submit("someone@norelay.test", "relay"),
        "exim-size": lab.packaged.exim_submit("alice@rcpt.test", "big", body=big),
    }
    # Exim's queue runs: one past delay_warning (2 s) inside the retry rule (F,3s), then past it.
    for at in (2.5, 4.5, 6.5):
        timer = threading.Timer(
            max(0.0, exim_started + at - time.monotonic()), lab.packaged.exim, args=("-qf",)
        )
        timer.daemon = True
        timer.start()
    return Sent(ids, started)


def notices(lab: BounceLab, sent: Sent, case: str, count: int = 1) -> list[Classification]:
    """What came back about one case's message, classified, in order of arrival."""
    found = lab.sink.wait(sent.ids[case].encode(), count, timeout=25)
    return [classify_message(m.data) for m in found]


def only(got: Classification) -> tuple[str, str | None, str | None, str, bool]:
    (rcpt,) = got.recipients
    return rcpt.address, rcpt.action, rcpt.status, rcpt.reason, rcpt.hard


# --- Postfix ---------------------------------------------------------------------------------


def test_postfix_unknown_user_at_rcpt(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "unknown")
    assert got.kind is MessageKind.BOUNCE
    assert only(got) == ("nobody@rcpt.test", "failed", "5.1.1", "userunknown", True)
    assert got.original_message_id == sent.ids["unknown"]


def test_postfix_relay_refused_with_headers_only_returned(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "relay")
    assert only(got) == ("someone@norelay.test", "failed", "5.7.1", "norelaying", False)
    # RET=HDRS (RFC 3461 section 4.3): only the header comes back, and names the copy.
    assert got.original_message_id == sent.ids["relay"]


def test_postfix_message_size_limit(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "size")
    assert only(got) == ("alice@rcpt.test", "failed", "5.3.4", "mesgtoobig", False)


def test_dovecot_quota_refusal_reported_by_postfix(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "quota")
    assert only(got) == ("full@rcpt.test", "failed", "5.2.2", "mailboxfull", False)


def test_postfix_notify_success_is_a_delivery_report(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "success")
    assert got.kind is MessageKind.DELIVERED and not got.is_bounce
    address, action, status, reason, hard = only(got)
    assert (address, reason, hard) == ("alice@rcpt.test", "delivered", False)
    assert action in ("delivered", "relayed") and status is not None and status.startswith("2.")
    assert got.original_message_id == sent.ids["success"]


def test_postfix_local_delivery_report(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "local-success")
    assert got.kind is MessageKind.DELIVERED
    address, action, status, reason, hard = only(got)
    # Dovecot's LMTP announces no DSN, so Postfix reports the hand-over as "relayed"
    # (RFC 3461 section 5.2.2, Postfix's LMTP client).
    assert (address, action, reason, hard) == ("postmaster@s.test", "relayed", "delivered", False)
    assert status is not None and status.startswith("2.")


def test_postfix_delay_warning_then_expiry(lab: BounceLab, sent: Sent) -> None:
    warning, final = notices(lab, sent, "dead", count=2)
    assert warning.kind is MessageKind.BOUNCE
    assert only(warning) == ("gone@dead.test", "delayed", "4.4.1", "networkerror", False)
    # maximal_queue_lifetime passed: Postfix reports the last temporary error as failed.
    assert only(final) == ("gone@dead.test", "failed", "4.4.1", "expired", False)


def test_postfix_notify_delay_sends_the_warning_only(lab: BounceLab, sent: Sent) -> None:
    (warning,) = notices(lab, sent, "delay-only")
    assert only(warning) == ("late@dead.test", "delayed", "4.4.1", "networkerror", False)
    # The failing copy's expiry (6 s) has passed by the time its twin failed: no failure notice.
    notices(lab, sent, "dead", count=2)
    time.sleep(1)
    assert len(lab.sink.wait(sent.ids["delay-only"].encode())) == 1


def test_postfix_reports_exims_unknown_user_at_rcpt(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "to-exim-unknown")
    # Exim answers "550 Unknown user" with no enhanced code; Postfix reports 5.0.0.
    assert only(got) == ("nobody@exim.test", "failed", "5.0.0", "userunknown", True)


def test_postfix_reports_exims_relay_refusal(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "to-exim-relay")
    assert only(got) == ("someone@eximrelay.test", "failed", "5.0.0", "norelaying", False)


# --- Dovecot LMTP and Pigeonhole -------------------------------------------------------------


def test_pigeonhole_vacation_is_an_auto_reply(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "vacation")
    assert got.kind is MessageKind.AUTO_REPLY and not got.is_bounce
    assert only(got) == ("away@rcpt.test", None, None, "vacation", False)
    assert got.original_message_id == sent.ids["vacation"]


def test_pigeonhole_reject_is_a_filtered_refusal(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "reject")
    assert got.kind is MessageKind.BOUNCE
    assert only(got) == ("picky@rcpt.test", "failed", "5.7.1", "filtered", False)
    assert got.recipients[0].diagnostic is not None
    assert "I do not accept messages" in got.recipients[0].diagnostic
    assert got.original_message_id == sent.ids["reject"]


# --- OpenSMTPD -------------------------------------------------------------------------------


def test_opensmtpd_remote_unknown_user(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "smtpd-unknown")
    assert got.kind is MessageKind.BOUNCE
    assert only(got) == ("nobody@rcpt.test", "failed", "5.1.1", "userunknown", True)


def test_opensmtpd_delay_warning_then_expiry(lab: BounceLab, sent: Sent) -> None:
    # "bounce warn-interval 2s", then "queue ttl 6s": the envelope expires at a scheduler run.
    found = notices(lab, sent, "smtpd-dead", count=2)
    warning, final = found[0], found[-1]
    address, action, _, _, hard = only(warning)
    assert (address, action, hard) == ("gone@dead.test", "delayed", False)
    address, action, _, reason, hard = only(final)
    assert (address, action, reason, hard) == ("gone@dead.test", "failed", "expired", False)


def test_opensmtpd_relay_refused(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "smtpd-relay")
    assert only(got) == ("someone@norelay.test", "failed", "5.7.1", "norelaying", False)


# --- Exim ------------------------------------------------------------------------------------


def test_exim_unknown_local_user(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "exim-local")
    assert got.kind is MessageKind.BOUNCE
    # Exim's own report states only the class (5.0.0); its router's words say the rest.
    assert only(got) == ("nobody@exim.test", "failed", "5.0.0", "userunknown", True)
    assert got.original_message_id == sent.ids["exim-local"]


def test_exim_remote_unknown_user_after_rcpt(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "exim-remote")
    assert only(got) == ("nobody@rcpt.test", "failed", "5.1.1", "userunknown", True)


def test_exim_relay_refused(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "exim-relay")
    assert only(got) == ("someone@norelay.test", "failed", "5.7.1", "norelaying", False)


def test_exim_size_refused_at_mail_from(lab: BounceLab, sent: Sent) -> None:
    (got,) = notices(lab, sent, "exim-size")
    assert only(got) == ("alice@rcpt.test", "failed", "5.3.4", "mesgtoobig", False)


def test_exim_delay_warning_then_retry_timeout(lab: BounceLab, sent: Sent) -> None:
    warning, final = notices(lab, sent, "exim-dead", count=2)
    address, action, _, _, hard = only(warning)
    assert (address, action, hard) == ("gone@dead.test", "delayed", False)
    address, action, _, reason, hard = only(final)
    assert (address, action, reason, hard) == ("gone@dead.test", "failed", "expired", False)


# --- vacation(1) -----------------------------------------------------------------------------


MAIL = (
    f"From {SENDER} Thu Dec  3 18:00:00 2026\n"
    f"Return-Path: <{SENDER}>\nFrom: {SENDER}\nTo: away@rcpt.test\nSubject: plans\n"
    "Message-ID: <vacation-{n}@send.test>\n\nAre you free on Monday?\n"
)


def test_vacation_program_re_subject_with_bulk_precedence(lab: BounceLab) -> None:
    reply = lab.packaged.vacation_reply(
        MAIL.format(n=1).encode(),
        "From: away@rcpt.test\nSubject: Re: $SUBJECT\nPrecedence: bulk\n\n"
        "I am away until Monday and will read your message then.\n",
    )
    assert b"Subject: Re: plans" in reply
    got = classify_message(reply)
    assert got.kind is MessageKind.AUTO_REPLY
    assert only(got) == ("away@rcpt.test", None, None, "vacation", False)


def test_vacation_program_with_its_own_header(lab: BounceLab) -> None:
    reply = lab.packaged.vacation_reply(
        MAIL.format(n=2).encode(),
        "From: away@rcpt.test\nSubject: Away\n"
        "Delivered-By-The-Graces-Of: The Vacation program\nPrecedence: bulk\n\n"
        "Back on Monday.\n",
    )
    got = classify_message(reply)
    assert got.kind is MessageKind.AUTO_REPLY
    assert only(got)[0] == "away@rcpt.test"


def test_lab_left_nothing_behind_in_the_sink_unclassified(lab: BounceLab, sent: Sent) -> None:
    """Every notice the software sent back is understood as something other than a
    person's mail."""
    notices(lab, sent, "dead", count=2)
    with lab.sink.lock:
        messages = list(lab.sink.messages)
    assert messages
    kinds = [classify_message(m.data).kind for m in messages]
    assert MessageKind.NORMAL not in kinds, kinds


def test_sieve_reject_names_the_copy_in_its_mdn(lab: BounceLab, sent: Sent) -> None:
    found = lab.sink.wait(sent.ids["reject"].encode())
    raw = found[0].data
    assert b"message/disposition-notification" in raw
    assert b"automatic-action/MDN-sent-automatically; deleted" in raw


def test_lab_paths_stay_private(lab: BounceLab) -> None:
    assert not Path("/usr/sbin/exim4").exists()
    assert not Path("/var/spool/smtpd").exists()
