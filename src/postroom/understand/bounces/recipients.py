"""Building :class:`RecipientResult` values from what a report or a notice says.

The status (RFC 3463) comes from the report's ``Status`` field, else the diagnostic text; a
generic ``X.0.0`` yields to a precise code in the diagnostic. Without any, it is inferred from
the reason and the RFC 5321 reply code, and marked ``status_inferred``.
"""

from __future__ import annotations

import re

from .dialects import TextRecipient, find_contexts, find_remote_host, scrub
from .dsn import DsnReport
from .mime import Part
from .providers import NOWHERE, Origin, provider_reason
from .reasons import (
    STATUS,
    decide_reason,
    find_command,
    find_reply_code,
    find_status,
    infer_status,
    is_hard,
)
from .ses import SesNotification
from .types import RecipientResult
from .vendors import vendor_reason

_DELAY = re.compile(
    r"\bdelayed\b|will (?:keep|continue|be) (?:trying"
    r"|to try|retried|retrying)|still (?:trying|undelivered)"
    r"|not yet been delivered|will retry|warning: message|delivery (?:is )?delayed"
)  # on lower-cased text
# Each of _DELAY's wordings holds one of these: a cheap test before a search at every position.
_DELAY_WORDS = ("delay", "will ", "still ", "not yet", "warning")


def _delayed(low: str) -> bool:
    """Whether a lower-cased notice says the message is only delayed."""
    return any(w in low for w in _DELAY_WORDS) and _DELAY.search(low) is not None


# An RFC 5321 reply code just before an enhanced code: "550 5.1.1", "550-'5.7.1", "550 #5.1.0".
_AFTER_REPLY = re.compile(r"(?<!\d)[245]\d\d[ \-]['\"(#]{0,2}$")
_EXPIRED_ENVELOPE = "envelope expired"
_NON_FINAL = frozenset({"delivered", "relayed", "expanded", "delayed"})


def build(
    address: str,
    action: str | None,
    status: str | None,
    diagnostic: str | None,
    context: str,
    remote_host: str | None,
    *,
    mailer: bool = False,
    category: str | None = None,
    notice: str | None = None,
    origin: Origin = NOWHERE,
    local: bool = False,
) -> RecipientResult:
    """One recipient: status, reply code and reason from the fields and the context text.

    ``mailer`` says the RFC 3464 section 2.3.6 diagnostic came from a local program
    (``X-Unix``), ``category`` is a vendor's bounce category field, ``notice`` what the
    notice says of the whole message; see ``decide_reason``. ``origin`` names the system
    that wrote the bounce, for the rules of :mod:`.providers`, which decide first. ``local``
    says the report's own fields show the reporting MTA failed the address itself (an
    RFC 3464 report without ``Remote-MTA`` nor an SMTP diagnostic).
    """
    diag = " ".join(diagnostic.split()) if diagnostic else None
    # The context's words on one line, when no diagnostic stands for it (the lone recipient's
    # context is the whole notice: collapsed once, not once for each use).
    flat = None if diag else " ".join(context.split())
    text = diag or flat or ""
    status = choose_status(status, diag, context)
    reply_code = find_reply_code(diag or context)
    if action in ("delivered", "relayed", "expanded"):
        return RecipientResult(
            address, action, status, "delivered", False, diag, remote_host, reply_code
        )
    clean = scrub(text)  # scrub(context) is scrub(flat): scrub reads words, not spacing
    command = find_command(context) or (find_command(diag) if diag else None)
    if command is None and local and remote_host is None and reply_code is None:
        # No remote server answered: the reporting MTA, which holds the mailbox, refused the
        # address while routing it (Exim's "Unknown user", Postfix local's "unknown user"),
        # which is the verdict RFC 5321 section 3.3 has a server give at RCPT.
        command = "local"
    reason = (
        provider_reason(origin, address, remote_host, text, status, command)
        or vendor_reason(status, text, remote_host, origin.reporter)
        or decide_reason(
            status,
            clean,
            command,
            context=context if diag else None,
            action=action,
            mailer=mailer,
            category=category,
            notice=notice,
        )
    )
    inferred = False
    temporary = action == "delayed" or (status or "").startswith("4")
    if status is None and reason not in ("undefined", "onhold"):
        status = infer_status(reason, reply_code, temporary)
        inferred = True
    if action is None:
        action = (
            "delayed"
            if (temporary or _delayed(context[:3000].lower())) and reason != "expired"
            else "failed"
        )
    if action == "delayed" and _EXPIRED_ENVELOPE in (diag or context[:3000]).lower():
        # OpenSMTPD queue.c removes an envelope when its time runs out ("Envelope expired")
        # and then reports it with its delay template: the message is gone, so it failed.
        action = "failed"
    hard = is_hard(reason, status) and action != "delayed"
    return RecipientResult(
        address,
        action,
        status,
        reason,
        hard,
        diag or flat or None,
        remote_host,
        reply_code,
        inferred,
    )


def choose_status(field: str | None, diag: str | None, context: str) -> str | None:
    """The RFC 3463 code a recipient's failure states: the ``Status`` field or the reply's own.

    The remote server's enhanced code (RFC 2034 section 4, in the RFC 3464 section 2.3.6
    diagnostic) names the failure itself. The reporting MTA's ``Status`` (section 2.3.4) is
    its summary, often a generic X.0.0 or an X.4.7 "delivery time expired" over the last
    reply. So the reply's code wins when the diagnostic states one; the field otherwise.
    """
    in_text = status_in_text(diag) if diag else None
    summary = in_text or field or ".0.0"
    if context and (summary.endswith(".4.7") or (in_text is None and summary.endswith(".0.0"))):
        # The notice's own lines may quote the reply that the report only summarises.
        in_text = status_in_text(context) or in_text
    if field is None or in_text is None:
        return field or in_text
    if in_text.endswith(".0.0") and not field.endswith(".0.0"):
        return field
    return in_text


def status_in_text(text: str) -> str | None:
    """The enhanced code a diagnostic states: after an SMTP reply code first (``550 5.1.1``),
    the cause rather than an X.4.7 "expired" wrapper, and a precise code over an X.0.0."""
    if "." not in text:
        return None
    codes = [m for m in STATUS.finditer(text[:4000])]
    if not codes:
        return None
    # The reply code sits just before the status: look at those few characters only.
    replied = [
        m.group(0) for m in codes if _AFTER_REPLY.search(text, max(0, m.start() - 8), m.start())
    ]
    found = replied or [m.group(0) for m in codes]
    for code in found:
        if not code.endswith((".4.7", ".0.0")):
            return code
    for code in found:
        if not code.endswith(".0.0"):
            return code
    return found[0]


def from_dsn(report: DsnReport, notice: str, origin: Origin = NOWHERE) -> list[RecipientResult]:
    """Recipients of an RFC 3464 report, with the notice's lines about each as extra context."""
    out: list[RecipientResult] = []
    groups = []
    seen: set[str] = set()
    for group in report.recipients:
        address = group.final or group.original
        if address and address not in seen:
            seen.add(address)
            groups.append((address, group))
    contexts = find_contexts(notice, [a for a, _ in groups]) if "@" in notice else {}
    # A notice about one recipient speaks of its failure throughout, from its opening lines.
    whole = notice if len(groups) == 1 else ""
    for address, group in groups:
        context = contexts.get(address, "")
        # Section 2.3.5 Remote-MTA first; the notice's "host ... said" only when it is absent.
        host = group.remote_mta or (find_remote_host(context) if context else None)
        action = (group.action or "").lower() or None
        if action not in (None, "failed", *_NON_FINAL):
            action = "failed"
        out.append(
            build(
                address,
                action,
                group.status,
                group.diagnostic,
                context,
                host,
                mailer=(group.diagnostic_type or "").startswith("x-unix"),
                category=group.category,
                notice=f"{group.status_comment or ''}\n{whole}",
                origin=origin,
                local=group.remote_mta is None
                and not (group.diagnostic_type or "").startswith("smtp"),
            )
        )
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
    report: DsnReport | None = None,
    origin: Origin = NOWHERE,
) -> list[RecipientResult]:
    """Recipients of a bounce in an MTA's own words; ``X-Failed-Recipients`` when text has none.

    A ``report`` whose one recipient group names no mailbox (Exim reports a file or a pipe as
    ``Final-Recipient: rfc822;/path``) still gives its Status and action to a lone recipient.
    """
    group = report.recipients[0] if report and len(report.recipients) == 1 else None
    if not found:
        addresses = failed_header or _returned_to(returned)
        lone = len(addresses) == 1
        host = find_remote_host(notice) if addresses else None
        found = [TextRecipient(a, notice if lone else "", host) for a in addresses]
    lone = len(found) == 1
    out = []
    for item in found:
        context = item.diagnostic
        if lone and find_status(context) is None and find_reply_code(context) is None:
            # One recipient: the whole notice describes its failure.
            context = notice
        if lone and group is not None:
            action = group.action if group.action in ("failed", "delayed") else None
            out.append(
                build(
                    item.address,
                    action,
                    group.status,
                    group.diagnostic,
                    context,
                    item.remote_host,
                    origin=origin,
                )
            )
        else:
            out.append(
                build(item.address, None, None, None, context, item.remote_host, origin=origin)
            )
    return out


def _returned_to(returned: Part | None) -> list[str]:
    if returned is None:
        return []
    from .headers import all_addresses

    return all_addresses(returned.get("to"))[:1]
