"""Who wrote a message, judged from its structure before any of its words are read.

A bounce is written by a mail system, and its structure says so: a null or daemon sender, a
report, an ``Auto-Submitted`` mark, the returned message. A person's message that quotes a
bounce, forwards one or discusses delivery failures on a list may hold every bounce phrase
there is, but its structure is a person's: a reply or forward subject with the threading
fields a mail client writes, a list's posting headers, the bounce's words only in quoted
lines or below a forward separator. So the structure decides first, and words a person
quoted or attached never decide.

The evidence, each row with the document that gives it its meaning (:data:`MACHINE_MARKS`,
:data:`PERSON_MARKS`), is read by :func:`read_structure`; :func:`own_text` is the part of a
person's text that the person wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postroom.understand.lazyre import lazy

from .headers import all_addresses
from .mime import Part

# Marks that a mail system, not a person, wrote the message: (mark, source).
MACHINE_MARKS: tuple[tuple[str, str], ...] = (
    ("null reverse-path (Return-Path: <>)", "RFC 5321 section 4.5.5, RFC 3464 section 2"),
    ("multipart/report at the top", "RFC 6522 section 3"),
    ("message/delivery-status part at the top", "RFC 3464 section 2.1"),
    ("Auto-Submitted other than 'no'", "RFC 3834 section 5.1"),
    ("From MAILER-DAEMON, postmaster or a mail system's name", "RFC 5321 section 4.5.1"),
    ("X-Failed-Recipients", "Exim deliver.c"),
)

# Marks of a person's message: (mark, source).
PERSON_MARKS: tuple[tuple[str, str], ...] = (
    ("reply subject ('Re:') with In-Reply-To or References", "RFC 5322 sections 3.6.4, 3.6.5"),
    ("forward subject ('Fwd:', 'Fw:', localised)", "mail clients' templates, REPLY-FORMATS.md"),
    ("a List-Post address that the message was sent to", "RFC 2369 section 3.4"),
)

# A mail system's own local parts (RFC 5321 section 4.5.1 postmaster; the MAILER-DAEMON
# convention of Sendmail, Postfix, Exim and Exchange; qmail's double-bounce).
_SYSTEM_LOCAL = lazy(
    r"^(?:mailer-daemon|mail-daemon|maildaemon|mdaemon|post_?master|double-bounce)$"
)
# Display names mail systems give their notices (Postfix and Exim "Mail Delivery System",
# Sendmail "Mail Delivery Subsystem", Exchange's and Domino's administrators).
_SYSTEM_NAME = lazy(
    r"mail delivery (?:system|subsystem|service)|mailer[- ]daemon|postmaster|mail administrator"
    r"|mail system|delivery status notification"
)
# Reply and forward prefixes (RFC 5322 section 3.6.5 "Re: "; clients' localised forms).
_REPLY_PREFIX = lazy(r"^\s*(?:re|aw|sv|vs|antw|odp|ynt|rif|res|r)\s*(?:\[\d+\])?\s*:", re.I)
_FORWARD_PREFIX = lazy(r"^\s*(?:fwd?|wg|tr|rv|doorst|vb|enc|i|pd|trs|přep|továbbítás)\s*:", re.I)
# Where a person's own text ends: a forwarded or quoted original (clients' templates,
# REPLY-FORMATS.md sections 2-8) or an attribution line ("On <date>, <name> wrote:").
_OWN_END = lazy(
    r"^[ \t]*(?:-{2,}\s*(?:original message|forwarded message|weitergeleitete nachricht"
    r"|message transf[ée]r[ée]|mensaje reenviado|messaggio inoltrato)"
    r"|begin forwarded message:|anfang der weitergeleiteten|d[ée]but du message r[ée]exp[ée]di[ée]"
    r"|_{10,}\s*$|from:\s.{0,200}$"
    r"|.{0,200}(?:\bwrote|schrieb|a [ée]crit|escribi[óo]|ha scritto|escreveu|schreef|skrev"
    r"|napisa[łl]\(?a?\)?|kirjoitti|napsal\(?a?\)?|yazd[ıi]|написал\(?а?\)?|写道):?\s*$)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Structure:
    """What a message's structure says of its author (see the module docstring)."""

    machine: bool
    person: bool
    list_post: bool
    forward: bool


def is_system_address(address: str) -> bool:
    """Whether an address is a mail system's own (MAILER-DAEMON, postmaster, ...)."""
    return bool(_SYSTEM_LOCAL.match(address.partition("@")[0].lower()))


def read_structure(top: Part, has_report_part: bool, sender: str) -> Structure:
    """Read the marks of :data:`MACHINE_MARKS` and :data:`PERSON_MARKS` off a message.

    ``has_report_part`` is whether a ``message/delivery-status`` part sits at the top level
    (not inside an attached message); ``sender`` the From address.
    """
    return_path = top.get("return-path")
    submitted = (top.get("auto-submitted") or "").strip().lower()
    from_field = (top.get("from") or "").lower()
    machine = (
        (return_path is not None and not all_addresses(return_path) and "<" in return_path)
        or top.ctype == "multipart/report"
        or has_report_part
        or (bool(submitted) and not submitted.startswith("no"))
        or is_system_address(sender)
        or bool(_SYSTEM_NAME.search(from_field))
        or top.get("x-failed-recipients") is not None
    )
    subject = top.get("subject") or ""
    threaded = top.get("in-reply-to") is not None or top.get("references") is not None
    forward = bool(_FORWARD_PREFIX.match(subject))
    reply = bool(_REPLY_PREFIX.match(subject)) and threaded
    list_post = _list_post(top)
    return Structure(machine, reply or forward or list_post, list_post, forward)


def _list_post(top: Part) -> bool:
    """Whether a list distributed this post: RFC 2369 section 3.4 names the posting address in
    List-Post, and a post the list sent out was addressed to it. A mail system that copies a
    post's header into its notice (virus walls, auto-responders) addresses the list's owner."""
    posting = all_addresses(top.get("list-post"))
    if not posting:
        return False
    addressed = all_addresses(top.get("to")) + all_addresses(top.get("cc"))
    return any(a in addressed for a in posting)


def own_text(text: str) -> str:
    """A person's own lines: quoted lines (RFC 3676 section 4.5 ``>``) dropped, and the text
    cut where a forwarded or quoted original begins."""
    m = _OWN_END.search(text)
    head = text[: m.start()] if m else text
    return "\n".join(line for line in head.split("\n") if not line.lstrip().startswith((">", "|")))
