"""Small builders for the messages the inbound tests send."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

BOUNCE_TEMPLATE = """\
From: Mail Delivery System <{sender}>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <{mid}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: {reporting}

Final-Recipient: rfc822; {failed}
Action: {action}
Status: {status}
{remote_line}Diagnostic-Code: smtp; {diagnostic}
{returned}
--b--
"""

# RFC 3462 text/rfc822-headers: the returned copy's header, with its Message-ID.
RETURNED_TEMPLATE = """
--b
Content-Type: text/rfc822-headers

From: app@example.com
To: {failed}
Subject: Your weekly digest
Message-ID: <{original}>
"""


def reply(
    to: str,
    body: str = "Sounds good, see you there.\n\nOn Mon, Bob wrote:\n> Meet at 5?\n",
    *,
    sender: str = "Ada <ada@example.net>",
    subject: str = "Re: Meetup",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.net")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    # CRLF line ends, as on the wire (RFC 5321 section 2.3.8); the parser takes LF alike.
    return message.as_bytes(policy=SMTP)


def bounce(
    to: str,
    failed: str = "ada@example.net",
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 <ada@example.net>: user unknown",
    mid: str = "dsn1",
    original: str | None = None,
    remote: str | None = None,
    reporting: str = "dns; mx.example.net",
    sender: str = "MAILER-DAEMON@mx.example.net",
) -> bytes:
    """An RFC 3464 bounce to ``to`` about ``failed``; ``original`` adds the returned copy's
    header with that Message-ID, ``remote`` a Remote-MTA field."""
    returned = RETURNED_TEMPLATE.format(failed=failed, original=original) if original else ""
    text = BOUNCE_TEMPLATE.format(
        to=to,
        failed=failed,
        action=action,
        status=status,
        diagnostic=diagnostic,
        mid=mid,
        returned=returned,
        remote_line=f"Remote-MTA: dns; {remote}\n" if remote else "",
        reporting=reporting,
        sender=sender,
    )
    return text.encode()
