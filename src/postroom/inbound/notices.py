"""Error emails to senders: when to write one (RFC 3834) and what it says (one template each).

Never to a null return path, a bounce, an auto-reply, a complaint report or list/bulk mail:
answering those makes mail loops and backscatter. Every notice carries ``Auto-Submitted:
auto-replied`` and ``In-Reply-To`` the message it answers (RFC 3834 sections 3.1.7, 5).
"""

from __future__ import annotations

import email.policy
import enum
import functools
import re
from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

from postroom.inbound.parse import ParsedMessage, is_mailbox, is_message_id


class NoticeKind(enum.StrEnum):
    EXPIRED_SESSION = "expired_session"
    INVALID_ADDRESS = "invalid_address"
    UNKNOWN_MODULE = "unknown_module"
    EMPTY_REPLY = "empty_reply"
    TOO_LARGE = "too_large"
    WRONG_SENDER = "wrong_sender"
    REJECTED = "rejected"
    UNEXPECTED_FAILURE = "unexpected_failure"
    DIGEST_AMBIGUOUS = "digest_ambiguous"


@functools.cache
def _templates() -> jinja2.Environment:
    # Built (and jinja2 imported) for the first error email only: most messages need none.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("postroom.inbound", "templates"),
        autoescape=False,  # plain-text mail, nothing is rendered as HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_MAILER_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounces?)(\+|@|$)", re.I)
_NO_REPLY_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
# Long header lines are kept whole up to RFC 5322's hard limit of 998 characters instead of
# being folded at 78: a Message-ID cannot be folded, and the default policy would turn it
# into an encoded word (RFC 2047 section 5 forbids those in a msg-id).
_POLICY = email.policy.default.clone(max_line_length=998)


def may_answer(parsed: ParsedMessage, envelope_sender: str | None, kind: str | None) -> str | None:
    """Where an error email may go, or None when answering would be wrong (RFC 3834 s. 2)."""
    if kind in ("bounce", "auto_reply", "complaint", "delivered"):
        return None
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return None
    if parsed.return_path == "":
        return None
    auto = (parsed.header("Auto-Submitted") or "no").strip().lower()
    if auto and not auto.startswith("no"):
        return None
    if (parsed.header("Precedence") or "").strip().lower() in _NO_REPLY_PRECEDENCE:
        return None
    if parsed.header("List-Id") or parsed.header("X-Autoreply") or parsed.header("X-Autorespond"):
        return None
    target = (envelope_sender or "").strip().strip("<>") or parsed.sender
    if not target or not is_mailbox(target) or _MAILER_DAEMON.match(target):
        return None
    return target


def one_line(text: str, limit: int = 200) -> str:
    """``text`` fit for one header line or one line of a template: controls (CR and LF
    included, RFC 5322 section 2.2) become spaces, runs of white space one, at most
    ``limit`` characters."""
    flat = " ".join(_CONTROLS.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"


def build_notice(
    kind: NoticeKind,
    *,
    to: str,
    sender: str,
    original: ParsedMessage,
    now: datetime,
    context: Mapping[str, Any],
) -> EmailMessage:
    """The error email for ``kind``: subject and body from ``templates/<kind>.txt``.

    Every header is built from validated values: the original subject as one line, the
    recipient as a plain mailbox, the original Message-ID only when it is a msg-id that fits
    a line (else In-Reply-To and References are left out)."""
    if not is_mailbox(to):
        raise ValueError(f"{to!r} is not a mailbox an error email can be sent to")
    rendered = (
        _templates()
        .get_template(f"{kind.value}.txt")
        .render(subject=one_line(original.subject) or "(no subject)", **context)
    )
    first, _, body = rendered.partition("\n")
    subject = one_line(first.removeprefix("Subject:"), 300)
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message["To"] = Address(addr_spec=to)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-replied"
    message["X-Postroom-Notice"] = kind.value
    if original.message_id and is_message_id(original.message_id):
        message["In-Reply-To"] = f"<{original.message_id}>"
        message["References"] = f"<{original.message_id}>"
    message.set_content(body.lstrip("\n"))
    return message
