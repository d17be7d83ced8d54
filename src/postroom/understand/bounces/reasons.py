"""From an enhanced status code and a diagnostic text to a reason, and from a reason to hard/soft.

The status table follows RFC 3463 section 3 (subject and detail digits) and the IANA
"SMTP Enhanced Status Codes" registry (RFC 5248). Text patterns are the phrases MTAs and providers
write in the wild. A status code decides unless it is one of the vague ones (``X.1.1`` is sent for
policy blocks as often as for dead mailboxes, ``X.7.x`` for every kind of refusal): then the
diagnostic text decides. Hard or soft follows the reason, not the class digit.
"""

from __future__ import annotations

import re

# RFC 3463 subject.detail -> reason. Unlisted codes fall back to the subject digit.
STATUS_REASONS: dict[str, str] = {
    "1.0": "userunknown",
    "1.1": "userunknown",
    "1.2": "hostunknown",
    "1.3": "userunknown",
    "1.4": "userunknown",
    "1.5": "userunknown",
    "1.6": "hasmoved",
    "1.7": "rejected",
    "1.8": "rejected",
    "1.9": "systemerror",
    "1.10": "notaccept",
    "2.0": "filtered",
    "2.1": "filtered",
    "2.2": "mailboxfull",
    "2.3": "exceedlimit",
    "2.4": "systemerror",
    "3.0": "systemerror",
    "3.1": "systemfull",
    "3.2": "notaccept",
    "3.3": "systemerror",
    "3.4": "mesgtoobig",
    "3.5": "systemerror",
    "4.0": "networkerror",
    "4.1": "expired",
    "4.2": "expired",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "networkerror",
    "4.6": "networkerror",
    "4.7": "expired",
    "5.0": "syntaxerror",
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.3": "syntaxerror",
    "5.4": "syntaxerror",
    "5.5": "syntaxerror",
    "5.6": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.2": "contenterror",
    "6.3": "contenterror",
    "6.4": "contenterror",
    "6.5": "contenterror",
    "7.0": "securityerror",
    "7.1": "securityerror",
    "7.2": "securityerror",
    "7.3": "securityerror",
    "7.4": "securityerror",
    "7.5": "securityerror",
    "7.6": "securityerror",
    "7.7": "securityerror",
    "7.8": "authfailure",
    "7.9": "policyviolation",
    "7.10": "securityerror",
    "7.11": "securityerror",
    "7.12": "securityerror",
    "7.13": "suspend",
    "7.14": "securityerror",
    "7.15": "securityerror",
    "7.16": "securityerror",
    "7.17": "securityerror",
    "7.18": "securityerror",
    "7.19": "securityerror",
    "7.20": "authfailure",
    "7.21": "authfailure",
    "7.22": "authfailure",
    "7.23": "authfailure",
    "7.24": "authfailure",
    "7.25": "requireptr",
    "7.26": "authfailure",
    "7.27": "notaccept",
    "7.28": "spamdetected",
    "7.29": "authfailure",
    "7.30": "authfailure",
}

# Reasons a status code names too vaguely to trust over the text (see the module docstring).
VAGUE = frozenset(
    {
        "userunknown",
        "filtered",
        "securityerror",
        "systemerror",
        "networkerror",
        "syntaxerror",
        "rejected",
        "contenterror",
        "notaccept",
        "mailboxfull",
        "expired",
        "hostunknown",
        "policyviolation",
    }
)
HARD = frozenset({"userunknown", "hostunknown", "hasmoved"})

_R = re.IGNORECASE
# Ordered: the first reason whose phrases match wins, so narrower meanings come first.
TEXT_REASONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern))
    for reason, pattern in (
        (
            "authfailure",
            r"\b(?:spf|dkim|dmarc)\b.{0,40}(?:fail|reject|policy|check|align|not)"
            r"|authentication checks? (?:failed|did not pass)|sender policy framework"
            r"|unauthenticated (?:e-?mail|sender)|5\.7\.(?:2[0-3]|26)\b",
        ),
        (
            "requireptr",
            r"reverse (?:dns|lookup|hostname)|\bptr\b|\brdns\b"
            r"|unverifi?able|cannot find your hostname"
            r"|hostname (?:does not|doesn't) (?:match|resolve)",
        ),
        ("virusdetected", r"\bvirus|malware|infected"),
        (
            "mailboxfull",
            r"mail ?box (?:is |was )?full|full mail ?box|over ?quota|quota (?:exceeded|full)"
            r"|exceed(?:ed|s)? (?:the |his |her |their )?(?:storage|mailbox|disk|quota)"
            r"|mailbox (?:size|has exceeded|exceeds|limit)|storage (?:allocation|limit) exceeded"
            r"|insufficient (?:disk )?space|not enough (?:storage|space)|account is full|box full"
            r"|mailfolder is full|exceeds? .{0,20}quota|disk quota",
        ),
        (
            "mesgtoobig",
            r"message (?:is )?too (?:big|large)|message size exceeds|size limit exceeded"
            r"|message (?:length|size) (?:is )?(?:larger"
            r"|exceeds|too)|exceeds? (?:the )?(?:maximum|max) "
            r"(?:message )?size|too large for",
        ),
        ("exceedlimit", r"exceeds? (?:the )?(?:administrative|local) limit|limit exceeded"),
        ("toomanyconn", r"too many (?:connections|simultaneous|concurrent)|connection limit"),
        (
            "speeding",
            r"rate limit|too many (?:messages|emails|recipients)|sending rate|slow down"
            r"|throttl",
        ),
        ("hasmoved", r"has (?:been )?moved|no forwarding address|has been replaced by"),
        (
            "suspend",
            r"(?:account|mailbox|user|address|recipient)(?: \S+)?(?: has been| is)? "
            r"(?:disabled|suspended|deactivated|inactive|locked|frozen|expired)"
            r"|(?:disabled|suspended|inactive|deactivated) (?:recipient|account|mailbox|user)"
            r"|not active|temporarily (?:disabled|suspended)",
        ),
        (
            "norelaying",
            r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)"
            r"|(?:unable|not permitted"
            r"|not allowed) to relay|no relaying|we do not relay|not a gateway"
            r"|relay access",
        ),
        (
            "notcompliantrfc",
            r"\brfc ?(?:2822|5322|822|5321)\b|not (?:rfc|standards?)[ -]compliant"
            r"|duplicate header|multiple (?:from|addresses in)|header (?:error|syntax)",
        ),
        ("badreputation", r"reputation"),
        (
            # A listing of the sending IP is a block on the sender, not a verdict on the message.
            "blocked",
            r"block ?list|black ?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|\blisted (?:at|in|on)\b"
            r"|is listed|blocked using",
        ),
        (
            "spamdetected",
            r"\bspam|\bjunk|bulk mail|unsolicited|message content rejected"
            r"|content (?:filter|rejected)|looks like spam",
        ),
        (
            "blocked",
            r"block ?list|black ?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|\blisted (?:at|in|on)\b"
            r"|is listed|ip (?:address )?(?:is )?(?:blocked"
            r"|banned|rejected)|client host .{0,40}rejected"
            r"|connection (?:refused|rejected)|access denied|\bblocked\b|banned|not allowed to send"
            r"|your (?:ip|server|host)",
        ),
        (
            "rejected",
            r"sender (?:address )?(?:rejected|denied|blocked|not allowed|verify failed)"
            r"|(?:domain of )?sender (?:address )?(?:domain )?"
            r"(?:does not|doesn't|must) (?:exist|resolve)"
            r"|invalid sender|unknown sender"
            r"|rejected sender|mail from .{0,60}rejected|envelope sender"
            r"|sender domain|permission to post|not (?:have )?permission|return path",
        ),
        (
            "userunknown",
            r"user(?:name)? (?:unknown|not found|does ?n[o']t exist|invalid)"
            r"|unknown (?:user|recipient|address|local[ -]part"
            r"|mailbox)|no such (?:user|mailbox|recipient|address)"
            r"|(?:recipient|mailbox|address|account|user) (?:\S+ )?(?:does not|doesn't|not) exist"
            r"|(?:recipient|mailbox|addressee|address) (?:unknown|not found|unavailable)"
            r"|invalid (?:recipient|mailbox|address|user)|not a valid (?:mailbox|user|recipient)"
            r"|(?:name"
            r"|address) is not recognized|doesn't have an? .{0,40}account"
            r"|no (?:mailbox|account) (?:here|by that name)|mailbox not available|not our customer"
            r"|bad destination mailbox|user (?:account )?is unavailable|no mailbox|userid"
            r"|could not be found|is not a known user|account (?:is )?unavailable",
        ),
        (
            "hostunknown",
            r"\b[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,} (?:does not|doesn't) exist"
            r"|host (?:unknown|not found)|unknown host|(?:domain|host) (?:name )?(?:not found|"
            r"does not exist|doesn't exist)|no such domain"
            r"|unrouteable (?:mail )?(?:domain|address)|name or service"
            r"|unknown domain|invalid domain|bad destination system|no mx|domain (?:is )?unknown",
        ),
        (
            "filtered",
            r"filter|refused by recipient"
            r"|recipient (?:refuses|rejected)|not accepting (?:any )?mail"
            r"|preferences",
        ),
        (
            "expired",
            r"retry (?:timeout|time) (?:exceeded|expired)|could not deliver for the last"
            r"|delivery time expired|(?:message|queue) (?:expired|timed? ?out)|giving up"
            r"|too long in (?:the )?queue|was not delivered within|retry period|delivery expired"
            r"|timed? ?out|time limit|\bdelayed\b"
            r"|will be retried|warning message only|aborted after",
        ),
        (
            "networkerror",
            r"hop count exceeded|mail loop|loops back|too many hops|routing loop"
            r"|network (?:error|unreachable)|unable to connect|dns (?:lookup|error|failure)",
        ),
        ("systemfull", r"insufficient system storage|system (?:is )?full|disk full"),
        (
            "mailererror",
            r"mailer error|command (?:died|failed)|pipe to|exit (?:code|status)|procmail",
        ),
        (
            "systemerror",
            r"system error|internal (?:server )?error|server error|local error"
            r"|temporary (?:local )?problem|configuration error",
        ),
        ("policyviolation", r"policy|prohibited|not permitted|not allowed"),
        ("securityerror", r"authentication required|tls required|encryption required|security"),
        (
            "notaccept",
            r"does not accept mail|not accepting (?:network )?messages|null mx|accepts? no mail"
            r"|no smtp service",
        ),
        ("failedstarttls", r"starttls|tls (?:handshake|negotiation)"),
        ("syntaxerror", r"syntax error|command unrecognized|unrecognized command"),
        ("contenterror", r"illegal attachment|content type|mime"),
    )
)


def _alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` alternatives of a regular expression."""
    parts, depth, start, escaped = [], 0, 0, False
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _literal_prefix(alternative: str) -> str:
    """The literal text every match of ``alternative`` starts with ("" if too short to help)."""
    text = alternative.removeprefix("\\b")
    out = []
    for i, ch in enumerate(text):
        if ch in "\\()[]{}.^$|+*?":
            break
        if text[i + 1 : i + 2] in ("?", "*", "{"):
            break
        out.append(ch)
    literal = "".join(out)
    return literal if len(literal) >= 3 else ""


def _triggers(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Substrings one of which any match must contain, or None when a pattern has no such set.

    ``str.__contains__`` is a fast C scan; it lets most patterns be skipped without running them.
    """
    literals = [_literal_prefix(a) for a in _alternatives(pattern.pattern)]
    return None if not all(literals) else tuple(literals)


_TRIGGERS = tuple(_triggers(p) for _, p in TEXT_REASONS)

# Reasons that say a connection or a system failed for every recipient, not one address.
_INFER_STATUS: dict[str, str] = {
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
    "onhold": "0.0",
    "undefined": "0.0",
}

STATUS = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\.?\d)")
REPLY_CODE = re.compile(r"(?<![\d.\-])([245][0-5]\d)(?:[ \-]|$)")


def reason_from_status(status: str | None) -> str | None:
    """The reason an RFC 3463 code names by itself, or None for success and unknown codes."""
    if not status or status[0] == "2":
        return None
    _, _, rest = status.partition(".")
    return STATUS_REASONS.get(rest)


def reason_from_text(text: str | None) -> str | None:
    """The first reason whose phrases occur in a diagnostic text."""
    if not text:
        return None
    # Lower-casing once beats re.IGNORECASE on thirty patterns; the verdict is in the first lines.
    sample = text[:1200].lower()
    for (reason, pattern), triggers in zip(TEXT_REASONS, _TRIGGERS, strict=True):
        if triggers is not None and not any(t in sample for t in triggers):
            continue
        if pattern.search(sample):
            return reason
    return None


_COMMAND = re.compile(
    r"(?P<data>end of data|after data|final data"
    r"|data command|\bDATA\b|message body|after the message)"
    r"|(?P<rcpt>\bRCPT\b|rcpt to)|(?P<mail>\bMAIL FROM\b|mail from:)"
    r"|(?P<conn>initial connection|\bHELO\b|\bEHLO\b|greeting)",
    re.IGNORECASE,
)


def find_command(text: str) -> str | None:
    """The SMTP command (RFC 5321 section 4.1) a reply answered: the last one named before it."""
    text = text[:1500]
    reply = REPLY_CODE.search(text)
    limit = reply.start() if reply else len(text)
    found: str | None = None
    for m in _COMMAND.finditer(text):
        if m.start() > limit and found is not None:
            break
        found = m.lastgroup
    return found


def decide_reason(status: str | None, text: str | None, command: str | None = None) -> str:
    """Combine the status code and the text: a precise code wins, a vague one yields to text.

    Mailbox existence is checked at RCPT time (RFC 5321 section 3.3): a "user unknown" that
    only a generic code (or none) backs, and not at RCPT, is a filter speaking.
    """
    by_status = reason_from_status(status)
    if by_status is not None and by_status not in VAGUE:
        return by_status
    reason = reason_from_text(text) or by_status or ("onhold" if status else "undefined")
    generic = status is None or status.endswith((".0.0", ".2.0"))
    if reason == "userunknown" and generic and command != "rcpt":
        return "filtered"
    return reason


def infer_status(reason: str, reply_code: str | None, temporary: bool) -> str:
    """RFC 3463 code for a reason when the message states none: class from the SMTP reply."""
    klass = "4" if temporary or (reply_code or "").startswith("4") else "5"
    return f"{klass}.{_INFER_STATUS.get(reason, '0.0')}"


def is_hard(reason: str, status: str | None) -> bool:
    """A hard bounce will fail again: the address or domain is gone, or refuses mail for good."""
    if reason in HARD:
        return True
    return reason == "notaccept" and (status or "5").startswith("5")


def find_status(text: str) -> str | None:
    """The first RFC 3463 status code in a text, ignoring version-number look-alikes."""
    for m in STATUS.finditer(text):
        return m.group(0)
    return None


def find_reply_code(text: str) -> str | None:
    """The first RFC 5321 section 4.2 reply code (4xx/5xx) in a diagnostic text."""
    m = REPLY_CODE.search(text)
    return m.group(1) if m else None
