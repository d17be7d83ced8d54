"""From an enhanced status code, a diagnostic text and an SMTP command to a reason; hard or soft.

The decision, in order of how much each signal proves:

1. A precise RFC 3463 code (:mod:`.statuses`): ``X.2.2`` is a full mailbox whatever the text adds.
   Then a provider's own error code where its table is known (Orange's ``OFR005_505``): the
   same words carry different codes.
2. A specific phrase (:data:`.phrases.SPECIFIC`): servers send ``5.1.1`` or ``5.7.1`` for spam
   blocks, block lists and full mailboxes alike, so the wording outranks a vague code.
3. A mailbox code (``X.1.0``, ``X.1.1``, ``X.1.3``): the address is unknown.
4. "User unknown" wording (:data:`.phrases.MAILBOX_UNKNOWN`) is read with the SMTP command that
   drew it. RFC 5321 section 3.3 has the server check the mailbox when it answers ``RCPT``; the
   same words after ``DATA`` come from a content filter speaking after the fact, and after
   ``MAIL`` they are about the sender's address.
5. A general phrase (:data:`.phrases.GENERAL`), then what a vague code names.
6. The stage alone: a refusal at the greeting or ``EHLO`` (RFC 5321 section 4.3.2) is a block
   on the sending host; one at ``MAIL`` a refusal of the sender, even under a vague code
   (``550 5.7.1 Access denied``), and so is "access denied" after ``DATA``.

A notice that quotes a remote reply after a code of its own (Amazon SES) is read from the
remote's code on: the words before it are the wrapper's guess.

When the reply says no more than "user unknown" (those words, an ``X.1.x`` code, PowerMTA's
``bad-mailbox``), a mailbox condition that the ``Status`` field's comment or the notice's
opening lines name (full, suspended, moved, ...) outranks it: Sisimai tests those first.

Weaker evidence, read only where the above is silent: a vendor's bounce category field
(PowerMTA's ``X-PowerMTA-BounceCategory``, right after a precise code); an RFC 3464 section
2.3.6 diagnostic of type ``X-Unix`` (a local program's exit status: ``mailererror``); the
notice's own lines about the recipient when the report's diagnostic and code say nothing (or
only "user unknown" at an unknown stage); and a delay nothing explains (``expired``).

Phrases are matched through :class:`.matching.PhraseIndex`: one shared scan for literal
trigger words decides which reasons' expressions run at all.

``hard`` follows the reason rather than the class digit: an unknown mailbox or domain, a moved
mailbox and a domain that takes no mail will fail again; a full mailbox or a block may not.
"""

from __future__ import annotations

from postroom.understand.lazyre import lazy

from .dialects import scrub
from .matching import PhraseIndex, find_command
from .phrases import GENERAL, MAILBOX_UNKNOWN, SPECIFIC
from .statuses import (
    REPLY_CODE,
    STATUS,
    find_reply_code,
    find_status,
    infer_status,
    is_precise,
    reason_from_status,
)

__all__ = [
    "REPLY_CODE",
    "STATUS",
    "decide_reason",
    "find_command",
    "find_reply_code",
    "find_status",
    "infer_status",
    "is_hard",
    "reason_from_category",
    "reason_from_status",
    "reason_from_text",
]

HARD = frozenset({"userunknown", "hostunknown", "hasmoved"})

# The verdict is in the first lines; scanning further only costs time on long notices.
_SAMPLE = 3072


_INDEX = PhraseIndex(
    {"specific": SPECIFIC, "unknown": (("userunknown", MAILBOX_UNKNOWN),), "general": GENERAL}
)

# Connecting failed, or a lookup failed for now (Postfix smtp/smtp_connect.c and
# dns/dns_strerror.c, qmail-remote.c): the causes a queue gives up on when they last.
_CONNECT_FAILED = lazy(
    r"connect(?:ion)? to .{0,120}(?:refused|timed out)|connection (?:refused|timed out)"
    r"|no route to host|network (?:is )?unreachable|(?:unable to|could not|couldn't) connect"
    r"|establish an? (?:smtp )?connection|host not found, try again"
    r"|temporary failure in name resolution"
)

# SMTP stages at which a refusal the words do not explain is the sender's (step 6).
_SENDER_STAGES = frozenset({"mail", "data"})

# Reasons an address-existence verdict can take, which the SMTP stage re-reads (step 4).
_ADDRESS_VERDICTS = frozenset({"userunknown", "hostunknown", "filtered"})


def _sample(text: str | None) -> str:
    """The lower-cased, whitespace-collapsed start of a diagnostic."""
    if not text:
        return ""
    # Microsoft writes "wasn\u2019t": fold typographic apostrophes so phrases need one spelling.
    return " ".join(text[:_SAMPLE].lower().replace("\u2019", "'").split())


def _remote_reply(status: str | None, text: str | None) -> str | None:
    """The remote server's own reply, when a notice wraps it in a summary of its own.

    Amazon SES writes its classification first and quotes the remote reply after it
    (``5.1.0 - Unknown address error 550-'5.7.1 ... Access denied'``). The status chosen is
    the remote's code; the wrapper's words before it describe SES's guess, not the refusal.
    """
    if not status or not text:
        return text
    at = text.find(status)
    if at <= 0:
        return text
    first = STATUS.search(text, 0, at)
    return text[at:] if first is not None and first.group(0) != status else text


def reason_from_text(text: str | None) -> str | None:
    """The reason a diagnostic's wording names, ignoring status codes and SMTP stage."""
    sample = _sample(text)
    if not sample:
        return None
    hits = _INDEX.scan(sample)
    found = _INDEX.first("specific", sample, hits)
    if found is None and _INDEX.first("unknown", sample, hits):
        return "userunknown"
    return found or _INDEX.first("general", sample, hits)


def _mailbox_unknown(by_status: str | None, command: str | None) -> str:
    """What "user unknown" means, given the code beside it and the command that drew it.

    Only an answer to RCPT (RFC 5321 section 3.3) or an addressing code (RFC 3463 X.1.x) says
    the mailbox does not exist; the words alone, after DATA or with a mailbox-status code such
    as X.2.1, are a filter's.
    """
    if command == "mail":
        return "rejected"
    if by_status == "userunknown" or command in ("rcpt", "local"):
        return "userunknown"
    return "filtered"


# PowerMTA's X-PowerMTA-BounceCategory values (its documented bounce categories) that name a
# reason; "other", "bad-configuration" and the like name none.
_CATEGORIES = {
    "bad-mailbox": "userunknown",
    "inactive-mailbox": "suspend",
    "bad-domain": "hostunknown",
    "quota-issues": "mailboxfull",
    "spam-related": "spamdetected",
    "virus-related": "virusdetected",
    "content-related": "contenterror",
    "policy-related": "policyviolation",
    "relaying-issues": "norelaying",
    "invalid-sender": "rejected",
    "message-expired": "expired",
    "no-answer-from-host": "networkerror",
    "bad-connection": "networkerror",
    "routing-errors": "networkerror",
    "protocol-errors": "syntaxerror",
}


# Orange and La Poste (France) end each refusal with an error code of their own ("OFR_416
# [416]", "LPN007_426", "OFR005_505 [505]"). Its last three digits name the condition where the
# words do not: "Service refused, please try later" is a block as LPN001_108 and a fault of
# their own system as OFR005_505. The codes whose meaning the notices show:
_PROVIDER_CODE = lazy(r"\b(?:ofr|lpn)[0-9]{0,3}_([0-9]{3})\b")
_PROVIDER_CODES = {
    "107": "blocked",
    "108": "blocked",
    "416": "userunknown",
    "426": "suspend",
    "505": "systemerror",
    "506": "spamdetected",
    "630": "policyviolation",
}


def reason_from_provider_code(sample: str) -> str | None:
    """The reason an Orange / La Poste error code in a lower-cased diagnostic names, if known."""
    if "ofr" not in sample and "lpn" not in sample:
        return None
    m = _PROVIDER_CODE.search(sample)
    return _PROVIDER_CODES.get(m.group(1)) if m else None


def reason_from_category(category: str | None) -> str | None:
    """The reason a vendor's bounce category field names (PowerMTA's documented set)."""
    return _CATEGORIES.get((category or "").strip().lower())


def _from_words(
    sample: str, by_status: str | None, command: str | None
) -> tuple[str | None, bool, bool]:
    """Steps 2 to 5 of the module docstring on one lower-cased sample: the reason, whether it
    is only a guess ("user unknown" at an unknown stage, read as a filter's words), and whether
    it rests on no more than "user unknown" (the words of the unknown tier, or an X.1.x code)."""
    hits = _INDEX.scan(sample)
    reason = _INDEX.first("specific", sample, hits)
    if reason is not None:
        return reason, False, False
    if by_status == "userunknown":
        return by_status, False, True
    if _INDEX.first("unknown", sample, hits):
        # The caller's command may come from a wider text; qmail names the stage in prose
        # ("does not like recipient") right in the diagnostic.
        stage = command or find_command(sample)
        verdict = _mailbox_unknown(by_status, stage)
        return verdict, stage is None and verdict == "filtered", True
    return _INDEX.first("general", sample, hits), False, False


# Conditions of a mailbox that Sisimai tests before it settles on an unknown user (its reason
# order): a notice that names one of them says more than a bare "user unknown" does.
_BEFORE_UNKNOWN = frozenset(
    {"mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved", "norelaying", "authfailure"}
)


_CONDITIONS = PhraseIndex(
    {"conditions": tuple((r, p) for r, p in SPECIFIC if r in _BEFORE_UNKNOWN)}
)

# A notice states what it has to say of the whole message in its opening lines.
_OPENING = 1024


def _named_condition(notice: str | None) -> str | None:
    """The mailbox condition (:data:`_BEFORE_UNKNOWN`) a notice's own words name, if any."""
    words = _sample(scrub(notice[:_OPENING])) if notice else ""
    if not words:
        return None
    return _CONDITIONS.first("conditions", words, _CONDITIONS.scan(words))


def decide_reason(
    status: str | None,
    text: str | None,
    command: str | None = None,
    *,
    context: str | None = None,
    action: str | None = None,
    mailer: bool = False,
    category: str | None = None,
    notice: str | None = None,
) -> str:
    """The reason for one failed recipient (see the module docstring for the order).

    ``status`` is the RFC 3463 code (stated or None), ``text`` the diagnostic with addresses
    and URLs removed, ``command`` what :func:`find_command` found (``conn``, ``mail``, ``rcpt``,
    ``data`` or None). Optional evidence, each used only where the diagnostic is silent:
    ``context`` the notice's own lines about the recipient, unscrubbed (a short diagnostic often
    leaves the words to the notice); ``action`` the RFC 3464 section 2.3.3 action (a delay
    nothing else explains has outlived its retries: ``expired``); ``mailer`` whether the
    section 2.3.6 diagnostic type says a local program answered (``X-Unix``) rather than an
    SMTP server; ``category`` a vendor's bounce category field; ``notice`` what the notice
    says of the message as a whole (its opening statement, the ``Status`` field's comment),
    read only against a bare "user unknown".
    """
    by_status = reason_from_status(status)
    if by_status is not None and is_precise(status):
        return by_status
    by_category = reason_from_category(category)
    if by_category is not None:
        # "bad-mailbox" is a bare "user unknown" too: a condition the report names outranks it.
        named = _named_condition(notice) if by_category in _ADDRESS_VERDICTS else None
        return named or by_category
    sample = _sample(_remote_reply(status, text))
    by_provider = reason_from_provider_code(sample)
    if by_provider is not None:
        return by_provider
    reason, guess, bare = (
        _from_words(sample, by_status, command) if sample else (None, False, False)
    )
    if bare and notice:
        # "User unknown" is all the reply says; a notice that names the mailbox's condition
        # ("Not enough disk space", "The user(s) account is disabled") says more.
        named = _named_condition(notice)
        if named is not None:
            reason, guess = named, False
    if reason is None and mailer:
        # RFC 3464 section 2.3.6: not an SMTP reply but a local delivery program's exit status.
        return "mailererror"
    if (reason is None and by_status is None) or guess:
        # The code says nothing (X.0.0, X.3.0 or none) and the diagnostic little: the notice's
        # own words may say more (Gmail: "the address couldn't be found").
        words = _sample(scrub(context)) if context else ""
        if words and words != sample:
            found, weak, _ = _from_words(words, by_status, command)
            if found is not None and not (guess and weak):
                reason = found
    if (
        reason is None
        and command in _SENDER_STAGES
        and (command == "mail" or "access denied" in sample)
    ):
        # Words silent, or only "access denied": a refusal answering MAIL FROM names the sender
        # (RFC 5321 section 3.3), and so does one after DATA, once every recipient passed.
        return "rejected"
    if reason is None:
        reason = by_status
    if command == "mail" and reason in _ADDRESS_VERDICTS:
        # RFC 5321 section 3.3: MAIL FROM names the sender; an unknown address there is its own.
        return "rejected"
    if reason is None and command == "conn":
        return "blocked"
    if reason is None and action == "delayed":
        # Still queued with no cause given: the notice reports the retries running out.
        return "expired"
    if (
        reason == "networkerror"
        and action == "failed"
        and (status or "").startswith("4")
        and _CONNECT_FAILED.search(sample or _sample(context))
    ):
        # Rule 8 of BOUNCE-CODES.md: a final report under a persistent transient code is mail
        # that expired in the queue; a host that could not be reached (or a DNS lookup that
        # failed for now) is why, and the retries ran out ("expired S when final").
        return "expired"
    if reason is None:
        # Something was stated that no rule reads (a code, or a report's Diagnostic-Code, which
        # is when ``context`` is given): on hold. Nothing stated at all: undefined.
        return "onhold" if status or (context is not None and text) else "undefined"
    return reason


def is_hard(reason: str, status: str | None) -> bool:
    """A hard bounce will fail again: the address or domain is gone, or refuses mail for good."""
    if reason in HARD:
        return True
    return reason == "notaccept" and (status or "5").startswith("5")
