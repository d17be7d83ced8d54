"""RFC 3463 enhanced status codes: finding them in text, what each one names, and inferring one.

A code is ``class.subject.detail`` (RFC 3463 section 2): class 2 success, 4 persistent transient
failure, 5 permanent failure; the subject says which layer failed (1 addressing, 2 mailbox,
3 mail system, 4 network and routing, 5 mail delivery protocol, 6 message content, 7 security or
policy) and the detail says what exactly. Codes past RFC 3463's own come from the IANA "SMTP
Enhanced Status Codes" registry (RFC 5248): ``X.7.13`` (RFC 3463 bis), ``X.7.20``-``X.7.26``
(RFC 7372), ``X.1.10`` and ``X.7.27`` (RFC 7505), ``X.7.17``/``X.7.18`` (RFC 7293).
"""

from __future__ import annotations

import re

# Each opens with its first digit and then looks back at the character before it: a pattern
# that opens with a character class lets the search skip ahead, one that opens with a
# lookbehind is tried at every position (four times slower over a notice).
STATUS = re.compile(r"([245])(?<![\d.][245])\.([0-7])\.(\d{1,3})(?!\.?\d)")
REPLY_CODE = re.compile(r"([245](?<![\d.\-][245])[0-5]\d)(?:[ \-:]|$)")

# subject.detail -> the reason it names (RFC 3463 section 3 and the IANA registry).
# Detail "0" ("other or undefined ... status") names nothing beyond the subject, see SUBJECTS.
DETAILS: dict[str, str] = {
    "1.0": "userunknown",  # 3.2: other address status; servers send it for a bad recipient
    "1.1": "userunknown",  # bad destination mailbox address
    "1.2": "hostunknown",  # bad destination system address
    "1.3": "userunknown",  # bad destination mailbox address syntax
    "1.4": "userunknown",  # destination mailbox address ambiguous
    "1.6": "hasmoved",  # destination mailbox has moved, no forwarding address
    "1.7": "rejected",  # bad sender's mailbox address syntax
    "1.8": "rejected",  # bad sender's system address
    "1.9": "systemerror",  # message relayed to non-compliant mailer
    "1.10": "notaccept",  # RFC 7505: recipient address has null MX
    "2.0": "filtered",  # 3.3: other or undefined mailbox status
    "2.1": "filtered",  # mailbox disabled, not accepting messages
    "2.2": "mailboxfull",  # mailbox full
    "2.3": "exceedlimit",  # message length exceeds administrative limit
    "2.4": "systemerror",  # mailing list expansion problem
    "3.1": "systemfull",  # 3.4: mail system full
    "3.2": "notaccept",  # system not accepting network messages
    "3.3": "systemerror",  # system not capable of selected features
    "3.4": "mesgtoobig",  # message too big for system
    "3.5": "systemerror",  # system incorrectly configured
    "4.0": "networkerror",  # 3.5: other or undefined network or routing status
    "4.1": "networkerror",  # no answer from host
    "4.2": "networkerror",  # bad connection
    "4.3": "systemerror",  # directory server failure
    "4.4": "hostunknown",  # unable to route
    "4.5": "systemerror",  # mail system congestion
    "4.6": "networkerror",  # routing loop detected
    "4.7": "expired",  # delivery time expired
    "5.3": "toomanyconn",  # 3.6: too many recipients
    "7.8": "securityerror",  # RFC 4954: authentication credentials invalid
    "7.9": "securityerror",  # RFC 4954: authentication mechanism is too weak
    "7.13": "suspend",  # user account disabled
    "7.16": "mesgtoobig",  # RFC 6710: message too big for the specified priority
    "7.17": "hasmoved",  # RFC 7293: mailbox owner has changed
    "7.18": "hasmoved",  # RFC 7293: domain owner has changed
    "7.20": "authfailure",  # RFC 7372: no passing DKIM signature found
    "7.21": "authfailure",  # no acceptable DKIM signature found
    "7.22": "authfailure",  # no valid author-matched DKIM signature found
    "7.23": "authfailure",  # SPF validation failed
    "7.24": "authfailure",  # SPF validation error
    "7.25": "requireptr",  # reverse DNS validation failed
    "7.26": "authfailure",  # multiple authentication checks failed
    "7.27": "rejected",  # RFC 7505: sender address has null MX
    "7.28": "spamdetected",  # mail flood detected
    "7.29": "authfailure",  # ARC validation failure
}

# Persistent transient (class 4) codes whose meaning differs from the permanent one: a 4.1.2 is
# a DNS lookup that failed for now (qmail "#4.1.2"), a 4.4.4 a route not found for now
# (BOUNCE-CODES.md A: "5.4.4 hostunknown H; 4.4.4 networkerror S").
_TRANSIENT: dict[str, str] = {"1.2": "networkerror", "4.4": "networkerror"}

# Subject digit -> reason, for details no table names (X.6.9, X.5.7, ...).
SUBJECTS: dict[str, str] = {
    "1": "userunknown",
    "2": "filtered",
    "4": "networkerror",
    "5": "syntaxerror",
    "6": "contenterror",
    "7": "securityerror",
}

# Codes that name their condition for certain (subject.detail): the diagnostic text cannot make
# them anything else. The rest yield to the text: X.1.1 comes with policy blocks, X.7.1 with
# every kind of refusal, X.2.1 with filters; X.1.10 means "recipient not found" to Microsoft
# but "null MX" to RFC 7505, X.4.4 covers DNS failures and missing MX records alike.
PRECISE = frozenset(
    {
        "1.2",
        "1.6",
        "1.7",
        "1.8",
        "2.2",
        "2.3",
        "3.1",
        "3.4",
        "7.13",
        "7.16",
        "7.17",
        "7.18",
        "7.20",
        "7.21",
        "7.22",
        "7.23",
        "7.24",
        "7.25",
        "7.26",
        "7.29",
    }
)

# Reason -> subject.detail for a code the message does not state.
_INFER: dict[str, str] = {
    "userunknown": "1.1",
    "hostunknown": "1.2",
    "hasmoved": "1.6",
    "rejected": "1.8",
    "filtered": "2.1",
    "mailboxfull": "2.2",
    "exceedlimit": "2.3",
    "systemfull": "3.1",
    "notaccept": "3.2",
    "mesgtoobig": "3.4",
    "systemerror": "3.0",
    "mailererror": "3.0",
    "networkerror": "4.0",
    "expired": "4.7",
    "toomanyconn": "4.5",
    "syntaxerror": "5.2",
    "contenterror": "6.0",
    "securityerror": "7.1",
    "blocked": "7.1",
    "spamdetected": "7.1",
    "policyviolation": "7.1",
    "virusdetected": "7.1",
    "badreputation": "7.1",
    "norelaying": "7.1",
    "speeding": "7.1",
    "authfailure": "7.26",
    "requireptr": "7.25",
    "suspend": "7.13",
    "failedstarttls": "7.10",
}

_SCAN = 4096


def reason_from_status(status: str | None) -> str | None:
    """The reason an RFC 3463 code names, or None for success, X.0.0 and X.3.0 (no meaning)."""
    if not status or status[0] not in "45":
        return None
    _, _, rest = status.partition(".")
    subject, _, detail = rest.partition(".")
    if detail == "0" and subject in ("0", "3"):
        return None
    if status[0] == "4" and rest in _TRANSIENT:
        return _TRANSIENT[rest]
    return DETAILS.get(rest) or SUBJECTS.get(subject)


def is_precise(status: str | None) -> bool:
    """Whether a failure code names its condition beyond what any diagnostic text could add."""
    if not status or status[0] not in "45":
        return False
    rest = status.partition(".")[2]
    return rest in PRECISE and not (status[0] == "4" and rest in _TRANSIENT)


def is_generic(status: str | None) -> bool:
    """Whether a code says no more than its class (``X.0.0``), or there is none."""
    return status is None or status.endswith(".0.0")


def find_status(text: str) -> str | None:
    """The RFC 3463 code a diagnostic states, ignoring version-number look-alikes.

    A notice that quotes a remote server's reply puts the remote's own code last
    (``5.1.0 - Unknown address error 550-'5.7.1 ... Access denied'``): the last precise code
    wins. A trailing generic ``X.0.0`` (Sendmail's "554 5.0.0 Service unavailable" after the
    transcript) does not displace an earlier precise one.
    """
    first: str | None = None
    last_precise: str | None = None
    for m in STATUS.finditer(text[:_SCAN]):
        code = m.group(0)
        first = first or code
        if not code.endswith(".0.0"):
            last_precise = code
    return last_precise or first


def find_reply_code(text: str) -> str | None:
    """The first RFC 5321 section 4.2 reply code (4xx/5xx) in a diagnostic text."""
    m = REPLY_CODE.search(text[:_SCAN])
    return m.group(1) if m else None


def infer_status(reason: str, reply_code: str | None, temporary: bool) -> str:
    """An RFC 3463 code for a reason when the message states none.

    The class follows the SMTP reply (RFC 3463 section 3.1: 4xx persistent transient, 5xx
    permanent) or the report's action; the subject and detail follow the reason.
    """
    klass = "4" if temporary or (reply_code or "").startswith("4") else "5"
    return f"{klass}.{_INFER.get(reason, '0.0')}"
