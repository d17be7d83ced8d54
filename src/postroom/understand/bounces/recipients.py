"""Building :class:`RecipientResult` values from what a report or a notice says.

The status (RFC 3463) comes from the report's ``Status`` field, else the diagnostic text; a
generic ``X.0.0`` yields to a precise code in the diagnostic. Without any, it is inferred from
the reason and the RFC 5321 reply code, and marked ``status_inferred``.
"""

from __future__ import annotations

import re

from .dialects import TextRecipient, find_recipients, find_remote_host, scrub
from .dsn import DsnReport
from .mime import Part
from .reasons import (
    decide_reason,
    find_command,
    find_reply_code,
    find_status,
    infer_status,
    is_hard,
)
from .ses import SesNotification
from .types import RecipientResult

_DELAY = re.compile(
    r"\bdelayed\b|will (?:keep|continue|be) (?:trying"
    r"|to try|retried|retrying)|still (?:trying|undelivered)"
    r"|not yet been delivered|will retry|warning: message|delivery (?:is )?delayed",
    re.IGNORECASE,
)
_NON_FINAL = frozenset({"delivered", "relayed", "expanded", "delayed"})


def build(
    address: str,
    action: str | None,
    status: str | None,
    diagnostic: str | None,
    context: str,
    remote_host: str | None,
) -> RecipientResult:
    """One recipient: status, reply code and reason from the fields and the context text."""
    diag = " ".join(diagnostic.split()) if diagnostic else None
    text = diag or " ".join(context.split())
    stated = find_status(diag) if diag else None
    if stated is None and not diag:
        stated = find_status(context)
    # A stated Status field wins, even a generic X.0.0: the report is the MTA's own verdict.
    status = status or stated
    reply_code = find_reply_code(diag or context)
    if action in ("delivered", "relayed", "expanded"):
        return RecipientResult(
            address, action, status, "delivered", False, diag, remote_host, reply_code
        )
    clean = scrub(text if diag else context)
    command = find_command(context) or (find_command(diag) if diag else None)
    reason = decide_reason(status, clean, command)
    if reason in ("undefined", "onhold") and diag and context:
        reason = decide_reason(status, scrub(context), command)
    inferred = False
    temporary = action == "delayed" or (status or "").startswith("4")
    if status is None and reason not in ("undefined", "onhold"):
        status = infer_status(reason, reply_code, temporary)
        inferred = True
    if action is None:
        action = (
            "delayed"
            if (temporary or _DELAY.search(context[:3000])) and reason != "expired"
            else "failed"
        )
    hard = is_hard(reason, status) and action != "delayed"
    return RecipientResult(
        address,
        action,
        status,
        reason,
        hard,
        diag or (" ".join(context.split()) or None),
        remote_host,
        reply_code,
        inferred,
    )


def from_dsn(report: DsnReport, notice: str, exclude: set[str]) -> list[RecipientResult]:
    """Recipients of an RFC 3464 report, with the notice's lines as extra context."""
    out: list[RecipientResult] = []
    seen: set[str] = set()
    text_found = {t.address: t for t in find_recipients(notice, set())}
    for group in report.recipients:
        address = group.final or group.original
        if not address or address in seen:
            continue
        seen.add(address)
        found = text_found.get(address)
        context = found.diagnostic if found else ""
        host = group.remote_mta or (found.remote_host if found else None)
        action = (group.action or "").lower() or None
        if action not in (None, "failed", *_NON_FINAL):
            action = "failed"
        out.append(build(address, action, group.status, group.diagnostic, context, host))
    return out


def from_ses(note: SesNotification) -> list[RecipientResult]:
    """Recipients of an Amazon SES bounce or delivery notification."""
    return [
        build(r.address, r.action or "failed", r.status, r.diagnostic, "", r.remote_host)
        for r in note.recipients
    ]


def from_text(
    found: list[TextRecipient],
    notice: str,
    failed_header: list[str],
    returned: Part | None,
) -> list[RecipientResult]:
    """Recipients of a bounce in an MTA's own words; ``X-Failed-Recipients`` when text has none."""
    if not found:
        addresses = failed_header or _returned_to(returned)
        lone = len(addresses) == 1
        found = [
            TextRecipient(a, notice if lone else "", find_remote_host(notice)) for a in addresses
        ]
    lone = len(found) == 1
    out = []
    for item in found:
        context = item.diagnostic
        if lone and find_status(context) is None and find_reply_code(context) is None:
            # One recipient: the whole notice describes its failure.
            context = notice
        out.append(build(item.address, None, None, None, context, item.remote_host))
    return out


def _returned_to(returned: Part | None) -> list[str]:
    if returned is None:
        return []
    from .headers import all_addresses

    return all_addresses(returned.get("to"))[:1]
