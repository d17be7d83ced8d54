"""What the catcher writes and reads as a recipient, with no I/O: the copy's tracked URLs
(open pixel, click and unsubscribe links), a reply quoted the way Gmail quotes (web, en-US),
and a delivery status notification (RFC 3464) for a copy that is made to bounce.

Gmail's reply, as observed (``/work/shared/docs/REPLY-FORMATS.md`` section 5): the new text,
a blank line, ``On Fri, Dec 4, 2026 at 2:37 PM N <a> wrote:`` (U+202F before AM/PM, no comma
before the name), a blank line, the original's text with ``> `` before each line; the HTML
part puts the original in ``<div class="gmail_quote gmail_quote_container">`` with the
attribution in ``<div dir="ltr" class="gmail_attr">`` and the quote in ``<blockquote
class="gmail_quote" ...>``. Threading headers follow RFC 5322 section 3.6.4.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid

from selectolax.lexbor import LexborHTMLParser as HTMLParser

_PARSER = BytesParser(policy=policy.default)
_HEADERS_ONLY = BytesParser(policy=policy.default)
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True, slots=True)
class Summary:
    """The headers of a captured copy the inbox lists (decoded, as they came)."""

    message_id: str | None
    subject: str | None
    from_header: str | None


@dataclass(frozen=True, slots=True)
class TrackedUrls:
    """A copy's URLs that lead to ``postroom serve``: the open pixel, each click URL (in the
    order the body has them, each once) and the unsubscribe URL."""

    pixel: str | None
    links: tuple[str, ...]
    unsubscribe: str | None


def parse(raw: bytes) -> EmailMessage:
    message = _PARSER.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the policy cannot parse
        raw = message.get_all(name, failobj=[None])
        value = raw[0] if raw else None
    return None if value is None else str(value)


def summarise(raw: bytes) -> Summary:
    message = _HEADERS_ONLY.parsebytes(raw, headersonly=True)
    assert isinstance(message, EmailMessage)
    return Summary(
        _header(message, "Message-ID"), _header(message, "Subject"), _header(message, "From")
    )


def body_text(message: EmailMessage, subtype: str) -> str | None:
    """The first text/``subtype`` body of ``message`` (attachments skipped), decoded."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset: read it as Latin-1
        payload = part.get_payload(decode=True)
        return payload.decode("latin-1") if isinstance(payload, bytes) else None


def tracked_urls(message: EmailMessage, base_url: str) -> TrackedUrls:
    """The tracked URLs of a copy whose tracking URLs start with ``base_url``."""
    base = base_url.rstrip("/")
    pixel: str | None = None
    links: list[str] = []
    unsubscribe: str | None = None
    markup = body_text(message, "html")
    found: list[str] = []
    if markup is not None:
        tree = HTMLParser(markup)
        for node in tree.css("img[src]"):
            src = node.attributes.get("src") or ""
            if src.startswith(f"{base}/t/o/") and pixel is None:
                pixel = src
        found += [node.attributes.get("href") or "" for node in tree.css("a[href]")]
    text = body_text(message, "plain")
    if text is not None:
        found += _URL.findall(text)
    unsub_header = _header(message, "List-Unsubscribe") or ""
    for url in found + re.findall(r"<(https?://[^>]+)>", unsub_header):
        if url.startswith(f"{base}/t/c/") and url not in links:
            links.append(url)
        elif url.startswith(f"{base}/t/u/") and unsubscribe is None:
            unsubscribe = url
    return TrackedUrls(pixel, tuple(links), unsubscribe)


def _first_address(value: str | None) -> tuple[str, str]:
    pairs = getaddresses([value or ""])
    for name, address in pairs:
        if "@" in address:
            return name, address
    return "", ""


def gmail_date(moment: datetime) -> str:
    """``Fri, Dec 4, 2026 at 2:37\u202fPM``: Gmail's en-US date in an attribution line."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%a}, {moment:%b} {moment.day}, {moment.year} at {hour}:{moment:%M}\u202f{half}"


def reply_target(message: EmailMessage) -> str:
    """Where a reply goes: Reply-To when there is one, else From (RFC 5322 section 3.6.2)."""
    for name in ("Reply-To", "From"):
        _, address = _first_address(_header(message, name))
        if address:
            return address
    raise ValueError("the message names no address to reply to (no Reply-To, no From)")


def gmail_reply(
    original: EmailMessage, *, sender: str, text: str, now: datetime, domain: str
) -> EmailMessage:
    """``sender``'s reply to ``original`` saying ``text``, quoted as Gmail quotes."""
    to = reply_target(original)
    name, address = _first_address(_header(original, "From"))
    who = f"{name} <{address}>" if name else f"<{address}>"
    attribution = f"On {gmail_date(now)} {who} wrote:"
    quoted_text = body_text(original, "plain")
    if quoted_text is None:
        markup = body_text(original, "html") or ""
        quoted_text = HTMLParser(markup).text(separator="\n") if markup else ""
    lines = quoted_text.replace("\r\n", "\n").rstrip("\n").split("\n")
    quote = "\n".join(f"> {line}" if line else ">" for line in lines)
    subject = _header(original, "Subject") or ""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = to
    reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = make_msgid(domain=domain)
    parent = _header(original, "Message-ID")
    if parent:
        references = " ".join(filter(None, [_header(original, "References"), parent.strip()]))
        reply["In-Reply-To"] = parent.strip()
        reply["References"] = references
    reply.set_content(f"{text.rstrip()}\n\n{attribution}\n\n{quote}\n", cte="quoted-printable")
    body_html = "".join(f"<div>{html.escape(line) or '<br>'}</div>" for line in text.split("\n"))
    quoted_html = html.escape(quoted_text).replace("\n", "<br>")
    reply.add_alternative(
        f'<div dir="ltr">{body_html}</div><br>'
        '<div class="gmail_quote gmail_quote_container">'
        f'<div dir="ltr" class="gmail_attr">{html.escape(attribution)}<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        'border-left:1px solid rgb(204,204,204);padding-left:1ex">'
        f"{quoted_html}</blockquote></div>\n",
        subtype="html",
    )
    return reply


@dataclass(frozen=True, slots=True)
class BounceKind:
    """A bounce the catcher can give: hard (the mailbox does not exist) or soft (full)."""

    status: str
    action: str
    diagnostic: str
    explanation: str


HARD = BounceKind(
    "5.1.1",
    "failed",
    "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table",
    "The mail system has no mailbox {rcpt}: it does not exist (a permanent failure).",
)
SOFT = BounceKind(
    "4.2.2",
    "delayed",
    "smtp; 452 4.2.2 <{rcpt}>: Mailbox full",
    "The mailbox {rcpt} is full; delivery is being retried (a temporary failure).",
)


def delivery_status_notification(
    original_raw: bytes,
    *,
    recipient: str,
    return_path: str,
    kind: BounceKind,
    arrived: datetime,
    now: datetime,
    reporting_mta: str,
) -> bytes:
    """A DSN (RFC 3464) for ``recipient``'s copy, to its envelope sender ``return_path``,
    written as an MTA writes it: multipart/report (RFC 6522) with a human part,
    message/delivery-status (fields per message, section 2.2, and per recipient, 2.3) and the
    returned message's headers (text/rfc822-headers)."""
    boundary = f"=_dsn_{make_msgid(domain=reporting_mta)[1:-1].replace('@', '_').replace('.', '_')}"
    subject = (
        "Undelivered Mail Returned to Sender"
        if kind.action == "failed"
        else "Delayed Mail (still being retried)"
    )
    head = re.split(rb"\r?\n\r?\n", original_raw, maxsplit=1)[0]
    returned = b"\r\n".join(re.split(rb"\r?\n", head)).decode("ascii", "replace")
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: {return_path}",
        f"Subject: {subject}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: {make_msgid(domain=reporting_mta)}",
        "Auto-Submitted: auto-replied",  # RFC 3834 section 5
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"This is the mail system at host {reporting_mta}.",
        "",
        kind.explanation.format(rcpt=recipient),
        "",
        f"--{boundary}",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting_mta}",
        f"Arrival-Date: {format_datetime(arrived)}",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        f"Original-Recipient: rfc822; {recipient}",
        f"Action: {kind.action}",
        f"Status: {kind.status}",
        f"Diagnostic-Code: {kind.diagnostic.format(rcpt=recipient)}",
        "",
        f"--{boundary}",
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers",
        "",
        returned,
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8", "replace")
