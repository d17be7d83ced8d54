"""RFC 3464 delivery status notifications (and their RFC 1894 ancestors).

``parse_delivery_status`` reads the ``message/delivery-status`` body of section 2.1: one group of
per-message fields (section 2.2) and one group per recipient (section 2.3). The same fields are
often pasted into the human-readable part by MTAs that do not build a proper report, indented or
not, so the reader accepts them anywhere and groups them by their recipient fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .headers import clean_address
from .reasons import STATUS

_FIELD = re.compile(
    r"^[ \t>]*(final-recipient|original-recipient|x-actual-recipient|action|status|diagnostic-code"
    r"|remote-mta|reporting-mta|last-attempt-date|will-retry-until|x-postfix-sender"
    r"|received-from-mta|arrival-date|x-supplementary-info|x-display-name"
    r"|x-powermta-bouncecategory)[ \t]*:[ \t]*(.*)$",
    re.IGNORECASE | re.MULTILINE,
)

# An indented line that opens with a field name ("Status: 5.0.0"), not a folded value's text
# ("mx.example[192.0.2.1]: said", "/var/mail/x: Disk quota", "https://...").
_NAMED = re.compile(r"[ \t]*[A-Za-z][A-Za-z0-9-]*[ \t]*:(?![^ \t])")


@dataclass(slots=True)
class DsnRecipient:
    """The per-recipient fields of RFC 3464 section 2.3 that the classifier uses."""

    final: str | None = None
    original: str | None = None
    action: str | None = None
    status: str | None = None
    diagnostic: str | None = None
    remote_mta: str | None = None
    diagnostic_type: str | None = None
    category: str | None = None
    status_comment: str | None = None


@dataclass(slots=True)
class DsnReport:
    """A parsed delivery-status body: per-message fields and recipient groups."""

    reporting_mta: str | None
    recipients: list[DsnRecipient]


def _after_type(value: str) -> str:
    """Drop the RFC 3464 section 2.1.2 address-type / diagnostic-type prefix (``rfc822;``)."""
    head, sep, tail = value.partition(";")
    if sep and " " not in head.strip() and len(head) < 20:
        return tail.strip()
    return value.strip()


def parse_delivery_status(text: str) -> DsnReport:
    """Parse RFC 3464 fields from ``text`` into a :class:`DsnReport` (section 2.2 and 2.3)."""
    reporting: str | None = None
    groups: list[DsnRecipient] = []
    current = DsnRecipient()
    lines = text.split("\n")
    fields: list[tuple[str, str]] = []
    for line in lines:
        m = _FIELD.match(line) if ":" in line else None
        if m:
            fields.append((m.group(1).lower(), m.group(2).strip()))
        elif fields and line[:1] in (" ", "\t") and line.strip() and not _NAMED.match(line):
            # RFC 5322 folding: a Diagnostic-Code often runs over several lines, and its text
            # may hold colons ("validation failed: RCPT TO not accepted: 5.7.1 ..."); only a
            # line that opens with a field name is not a continuation.
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip())
        elif fields and not line.strip():
            fields.append(("", ""))

    def flush() -> None:
        nonlocal current
        if current.final or current.original or current.status or current.action:
            groups.append(current)
        current = DsnRecipient()

    for name, value in fields:
        if name == "":
            # Groups are separated by blank lines (section 2.1); one without an address waits.
            if current.final or current.original:
                flush()
        elif name == "reporting-mta":
            reporting = reporting or _after_type(value)
        elif name == "original-recipient":
            if current.original:
                flush()
            current.original = clean_address(value)
        elif name in ("final-recipient", "x-actual-recipient"):
            if name == "x-actual-recipient":
                current.final = current.final or clean_address(value)
                continue
            if current.final:
                flush()
            current.final = clean_address(value)
        elif name == "action":
            current.action = value.split()[0].lower() if value.split() else None
        elif name == "status":
            m = STATUS.search(value)
            current.status = m.group(0) if m else current.status
            # An RFC 5322 comment after the code: the reporter's words for it (PowerMTA
            # writes RFC 3463's own, "5.2.1 (mailbox disabled, not accepting messages)").
            comment = value[m.end() :].strip() if m else ""
            if comment.startswith("(") and comment.endswith(")"):
                current.status_comment = comment[1:-1].strip() or None
        elif name == "diagnostic-code":
            current.diagnostic = _after_type(value) or current.diagnostic
            kind, sep, _ = value.partition(";")
            current.diagnostic_type = kind.strip().lower() if sep and len(kind) < 20 else None
        elif name == "x-powermta-bouncecategory":
            current.category = value.lower() or None
        elif name == "remote-mta":
            current.remote_mta = _after_type(value) or None
    flush()
    return DsnReport(reporting, groups)
