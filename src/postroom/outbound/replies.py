"""Sorting every SMTP answer: success, transient, quota, account or permanent, whether a
permanent one means the address does not exist, and how long a limit answer should pause the
sending account.

The rules are a data table (:data:`RULES`), each row with its source, read top to bottom; the
first row that matches decides. Providers' documented texts come first, then RFC 3463's
enhanced codes, then RFC 5321 section 4.2.1's classes (2yz success, 4yz transient, 5yz
permanent). A 421 always means the server is closing the connection (RFC 5321 section 3.8).

Sources (short names used in the table):

- RFC5321, RFC3463 (with the IANA registry of RFC 5248), RFC4954, RFC7505: rfc-editor.org.
- G-ERR: Google, "SMTP errors and codes", support.google.com/a/answer/3726730 (via
  docs BOUNCE-CODES.md section D). G-LIM: Google, "Gmail sending limits in Google Workspace",
  support.google.com/a/answer/166852: after a limit "users can't send new messages for up to
  24 hours"; "limits per day are applied over a rolling 24-hour period".
- MS-SUB: Microsoft Learn, "Message storage and concurrent connection throttling for SMTP
  Authenticated Submission" (learn.microsoft.com, Exchange Online troubleshooting): three
  concurrent connections (432 4.3.2), 30 messages a minute, 10,000 recipients a day (554 5.2.0
  ...SubmissionQuotaExceededException), a full sender mailbox (554 5.2.2 mailbox full).
  MS-RRL: the Exchange Online limits page: the recipient limit is a rolling 24-hour window.
  MS-BA: Microsoft Exchange Team, retirement of Basic authentication for Client Submission
  (550 5.7.30). MS-MFD: Microsoft Learn, "How to set up a multifunction device or application
  to send email using Microsoft 365" (535 5.7.139 SMTP AUTH disabled; 5.7.60 Send As).
  MS-NDR: Microsoft Learn, "Non-delivery reports in Exchange Online" (5.1.90, 5.2.2 sender
  quota; via BOUNCE-CODES.md section C).
- SES: Amazon SES developer guide, "Errors related to the sending quotas for your Amazon SES
  account" (454 Throttling failure: Maximum sending rate exceeded / Daily message quota
  exceeded; a sending quota is per 24-hour period, the rate per second).
- BOUNCE-CODES.md rule 2: a "user unknown" text answering DATA is a content filter, not a
  missing mailbox; answering RCPT it is a missing mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from postroom.outbound.types import Command, CopyResult, Outcome, Reply

__all__ = ["RULES", "ReplyClass", "ReplyKind", "ReplyRule", "classify_reply", "classify_result"]


class ReplyKind(Enum):
    SUCCESS = "success"
    #: Try this copy again later (backoff).
    TRANSIENT = "transient"
    #: The account hit a provider's sending limit: pause the account (``pause``); fail no one.
    QUOTA = "quota"
    #: The account itself cannot send (login, permission, its own mailbox full): an operator
    #: must fix the account; the recipients are not at fault and stay queued.
    ACCOUNT = "account"
    #: This copy will not go through as it is: fail it.
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class ReplyClass:
    kind: ReplyKind
    #: A short label: "user_unknown", "daily_sending_limit", "closing"...
    reason: str
    #: Permanent, and the mailbox does not exist: suppress the address.
    address_gone: bool = False
    #: The server is closing the connection (421): reconnect before the next copy.
    closing: bool = False
    #: For QUOTA: how long to pause the account (until the provider's window resets).
    pause: timedelta | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class ReplyRule:
    """One row: it matches when every condition given holds. ``enhanced`` is a code such as
    ``"5.4.5"`` or, with ``X`` as class, any class (``"X.1.1"``); ``texts`` are lower-case
    fragments of which one must occur; ``stages`` limits the row to answers to those
    commands (a reply with no known stage matches rows for RCPT)."""

    kind: ReplyKind
    reason: str
    source: str
    code: int | None = None
    code_class: int | None = None
    enhanced: str | None = None
    texts: tuple[str, ...] = ()
    stages: tuple[Command, ...] = ()
    address_gone: bool = False
    pause: timedelta | None = None

    def matches(self, reply: Reply, text: str, stage: Command | None) -> bool:
        if self.code is not None and reply.code != self.code:
            return False
        if self.code_class is not None and reply.code // 100 != self.code_class:
            return False
        if self.enhanced is not None:
            if reply.enhanced is None:
                return False
            wanted = self.enhanced
            actual = str(reply.enhanced)
            if wanted.startswith("X."):
                if actual.partition(".")[2] != wanted[2:]:
                    return False
            elif actual != wanted:
                return False
        if self.texts and not any(fragment in text for fragment in self.texts):
            return False
        return not self.stages or (stage or Command.RCPT) in self.stages


_DAY = timedelta(hours=24)
_Q, _A, _P, _T = ReplyKind.QUOTA, ReplyKind.ACCOUNT, ReplyKind.PERMANENT, ReplyKind.TRANSIENT
_ENVELOPE = (Command.MAIL, Command.RCPT)

# A table reads best one row to a few lines, so the formatter leaves it alone.
# fmt: off
RULES: tuple[ReplyRule, ...] = (
    # --- providers' limit answers: pause the account, fail no one --------------------------
    ReplyRule(_Q, "daily_sending_limit", "G-ERR 550 5.4.5 Daily user sending limit exceeded; "
              "G-LIM rolling 24 h", enhanced="5.4.5", texts=("sending limit", "relay limit"),
              pause=_DAY),
    ReplyRule(_Q, "relay_rate_limit", "G-ERR 450 4.2.1 Peak SMTP relay limit exceeded "
              "(a temporary rate limit; window not published: 15 min, judgement)",
              enhanced="4.2.1", texts=("relay limit",), pause=timedelta(minutes=15)),
    ReplyRule(_Q, "rate_limited", "G-ERR 421 4.7.0 Try again later, closing connection "
              "(window not published: 15 min, judgement)", code=421, enhanced="4.7.0",
              texts=("try again later",), pause=timedelta(minutes=15)),
    ReplyRule(_Q, "rate_limited", "G-ERR rate limited answers; Microsoft 451 4.7.650 "
              "temporarily rate limited (BOUNCE-CODES.md C; 15 min, judgement)", code_class=4,
              texts=("rate limited", "rate-limited", "rate limit exceeded"),
              pause=timedelta(minutes=15)),
    ReplyRule(_Q, "rate_limited", "G-ERR 550 5.7.1 This email has been rate limited "
              "(window not published: 1 h, judgement)", code_class=5,
              texts=("rate limited", "rate-limited"), pause=timedelta(hours=1)),
    ReplyRule(_Q, "too_many_recipients", "G-ERR 452 4.5.3 Your message has too many "
              "recipients; with one recipient per transaction it is the account's recipient "
              "count (1 h, judgement)", enhanced="4.5.3", pause=timedelta(hours=1)),
    ReplyRule(_Q, "too_many_recipients", "RFC5321 4.5.3.1.10: 552 to RCPT for too many "
              "recipients means 452 (1 h, judgement)", code=552, stages=(Command.RCPT,),
              texts=("too many recipients",), pause=timedelta(hours=1)),
    ReplyRule(_Q, "connection_limit", "MS-SUB 432 4.3.2 STOREDRV.ClientSubmit; sender thread "
              "limit exceeded / Concurrent connections limit exceeded (retry after a short "
              "delay: 1 min)", code=432, pause=timedelta(minutes=1)),
    ReplyRule(_Q, "connection_limit", "Exchange 421 4.3.2 maximum number of concurrent "
              "connections exceeded; Comcast 421 Too many sessions opened (1 min, judgement)",
              code=421, texts=("concurrent", "too many connections", "too many sessions"),
              pause=timedelta(minutes=1)),
    ReplyRule(_Q, "daily_recipient_limit", "MS-SUB 554 5.2.0 STOREDRV.Submission.Exception:"
              "SubmissionQuotaExceededException; MS-RRL rolling 24 h",
              texts=("submissionquotaexceeded",), pause=_DAY),
    ReplyRule(_Q, "daily_recipient_limit", "MS-NDR 5.2.2 Submission quota exceeded; 5.1.90 "
              "daily limit for message recipients (rolling 24 h)",
              texts=("submission quota", "daily limit for message recipients"), pause=_DAY),
    ReplyRule(_Q, "daily_sending_limit", "SES 454 Throttling failure: Daily message quota "
              "exceeded (a 24-hour period)", texts=("daily message quota",), pause=_DAY),
    ReplyRule(_Q, "rate_limited", "SES 454 Throttling failure: Maximum sending rate exceeded "
              "(a per-second rate: 1 s)", texts=("maximum sending rate",),
              pause=timedelta(seconds=1)),
    # --- the sending account cannot send: fix the account ----------------------------------
    ReplyRule(_A, "sender_mailbox_full", "MS-SUB 554 5.2.2 mailbox full; STOREDRV.Submission."
              "Exception:QuotaExceededException (empty Sent Items)",
              texts=("storedrv.submission.exception:quotaexceeded",)),
    ReplyRule(_A, "basic_auth_disabled", "MS-BA 550 5.7.30 Basic authentication is not "
              "supported for Client Submission", enhanced="5.7.30",
              texts=("basic authentication",)),
    ReplyRule(_A, "smtp_auth_disabled", "MS-MFD 535 5.7.139 Authentication unsuccessful",
              enhanced="5.7.139"),
    ReplyRule(_A, "send_as_denied", "MS-MFD 550 5.7.60 SMTP; Client does not have "
              "permissions to send as this sender", enhanced="5.7.60"),
    ReplyRule(_A, "auth_required", "RFC4954 6: 530 5.7.0 Authentication required; Microsoft "
              "530 5.7.57 Client not authenticated", code=530),
    ReplyRule(_A, "auth_failed", "RFC4954 6: 535 5.7.8 Authentication credentials invalid",
              code=535),
    ReplyRule(_A, "auth_failed", "RFC4954 6: 534 5.7.9 mechanism too weak (Gmail: "
              "application-specific password required)", code=534),
    ReplyRule(_A, "tls_required", "RFC4954 6: 538 5.7.11 Encryption required for requested "
              "authentication mechanism", code=538),
    ReplyRule(_A, "account_disabled", "RFC3463/IANA X.7.13 User account disabled",
              enhanced="X.7.13"),
    ReplyRule(_A, "auth_failed", "RFC3463/IANA X.7.8 Authentication credentials invalid",
              enhanced="X.7.8"),
    ReplyRule(_A, "auth_failed", "RFC3463/IANA X.7.12 A password transition is needed",
              enhanced="X.7.12"),
    ReplyRule(_A, "sending_denied", "G-ERR 550 5.7.0 Email sending denied; relay account "
              "temporarily suspended due to abuse", code_class=5,
              texts=("email sending denied", "suspended due to abuse")),
    # --- the address does not exist: suppress it -------------------------------------------
    ReplyRule(_P, "user_unknown", "RFC3463 X.1.1 Bad destination mailbox address",
              enhanced="X.1.1", code_class=5, address_gone=True),
    ReplyRule(_P, "null_mx", "RFC7505 / RFC3463 X.1.10 recipient address has null MX; "
              "Microsoft 5.1.10 RecipientNotFound", enhanced="X.1.10", code_class=5,
              address_gone=True),
    ReplyRule(_P, "mailbox_moved", "RFC3463 X.1.6 Destination mailbox has moved, no "
              "forwarding address", enhanced="X.1.6", code_class=5, address_gone=True),
    ReplyRule(_P, "bad_domain", "RFC3463 X.1.2 Bad destination system address",
              enhanced="X.1.2", code_class=5, address_gone=True),
    ReplyRule(_P, "bad_address_syntax", "RFC3463 X.1.3 Bad destination mailbox address syntax",
              enhanced="X.1.3", code_class=5, address_gone=True),
    ReplyRule(_P, "user_unknown", "RFC5321 4.2.2 / BOUNCE-CODES.md rule 2: 550 user unknown "
              "at RCPT (the stock texts of Postfix, Exim, Sendmail, qmail, Exchange, Gmail)",
              code_class=5, stages=(Command.RCPT,), address_gone=True,
              texts=("user unknown", "unknown user", "no such user", "user not found",
                     "mailbox not found", "no mailbox here", "recipient not found",
                     "recipnotfound", "does not exist", "invalid recipient",
                     "address rejected: user unknown")),
    ReplyRule(_P, "mailbox_moved", "RFC5321 4.2.2: 551 User not local", code=551,
              address_gone=True),
    ReplyRule(_P, "null_mx", "RFC7504/RFC7505: 556 domain does not accept mail", code=556,
              address_gone=True),
    # --- RFC 3463 codes that override the class --------------------------------------------
    ReplyRule(_T, "congestion", "RFC3463 X.4.5 Mail system congestion: \"useful only as a "
              "persistent transient error\"", enhanced="5.4.5"),
    ReplyRule(_P, "message_too_big", "RFC1870 6.1 / RFC3463 X.3.4 message too big for system",
              enhanced="X.3.4", code_class=5),
    # --- RFC 5321 section 4.2.1: the class decides -----------------------------------------
    ReplyRule(_T, "closing", "RFC5321 3.8: 421 service not available, closing the channel",
              code=421),
    ReplyRule(ReplyKind.SUCCESS, "accepted", "RFC5321 4.2.1: 2yz positive completion",
              code_class=2),
    ReplyRule(ReplyKind.SUCCESS, "accepted", "RFC5321 4.2.1: 3yz positive intermediate",
              code_class=3),
    ReplyRule(_T, "transient", "RFC5321 4.2.1: 4yz transient negative completion",
              code_class=4),
    ReplyRule(_P, "permanent", "RFC5321 4.2.1: 5yz permanent negative completion",
              code_class=5),
)
# fmt: on


def _classes(rule: ReplyRule) -> tuple[int, ...]:
    """The reply classes (2, 4, 5) a rule can match, from its code, class or enhanced code."""
    if rule.code is not None:
        return (rule.code // 100,)
    if rule.code_class is not None:
        return (rule.code_class,)
    if rule.enhanced is not None and not rule.enhanced.startswith("X."):
        return (int(rule.enhanced[0]),)
    return (2, 3, 4, 5)


# The table's rows per reply class, in table order: a reply is tried only against the rows
# that could match it (every copy's 250 would otherwise walk the whole table).
_BY_CLASS: dict[int, tuple[ReplyRule, ...]] = {
    klass: tuple(rule for rule in RULES if klass in _classes(rule)) for klass in (2, 3, 4, 5)
}


def classify_reply(reply: Reply, stage: Command | None = None) -> ReplyClass:
    """Sort one reply; ``stage`` is the command it answers when known (a "user unknown" text
    in answer to DATA is a filter, not a missing mailbox)."""
    text = reply.text.lower()
    for rule in _BY_CLASS.get(reply.code // 100, RULES):
        if rule.matches(reply, text, stage):
            return ReplyClass(
                kind=rule.kind,
                reason=rule.reason,
                address_gone=rule.address_gone,
                closing=reply.code == 421,
                pause=rule.pause,
                source=rule.source,
            )
    # Unreachable for codes 200-599 (the reader accepts no others); kept total for safety.
    return ReplyClass(ReplyKind.PERMANENT, "permanent", source="RFC5321 4.2.1")


def classify_result(result: CopyResult) -> ReplyClass:
    """Sort a copy's result by the reply that decided it."""
    if result.outcome is Outcome.UNSUPPORTED:
        return ReplyClass(
            ReplyKind.PERMANENT,
            "extension_missing",
            source="RFC6531 3.4 / RFC6152 3: the account's server lacks what the copy needs",
        )
    reply = result.reply
    if result.outcome is Outcome.CONNECTION_LOST:
        if reply is not None and not reply.is_success:
            found = classify_reply(reply, result.stage)
            if found.kind is not ReplyKind.SUCCESS:
                return found
        return ReplyClass(
            ReplyKind.TRANSIENT,
            "connection_lost",
            closing=True,
            source="RFC5321 6.1: no reply means no responsibility taken; retry",
        )
    if reply is None:
        return ReplyClass(ReplyKind.TRANSIENT, "connection_lost", closing=True)
    return classify_reply(reply, result.stage)
