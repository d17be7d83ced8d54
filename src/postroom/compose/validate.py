"""Everything about an :class:`Email` that can be wrong, checked before anything is built.

Each problem raises :class:`~postroom.errors.ComposeError` naming the field as the caller wrote
it (``to[2]``, ``cc[0].name``, ``from``, ``headers['X-Tag']``, ``inline[1].cid``).

Decisions (docs/compose.md says the same):

* A recipient listed twice (in any roles, addresses compared case-insensitively) gets one copy,
  in the first role it was listed in; the later entries are kept on the template as
  ``duplicates`` so the caller can say they were merged. A Bcc entry of someone also in To
  thus never reveals anything: they receive the To copy.
* An inline part the HTML never refers to (``cid:<cid>``) is refused: it would show as a
  stray attachment in most clients, which is never what the author meant.
* Header fields that postroom writes itself cannot be given in ``Email.headers``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from postroom.compose import headers
from postroom.compose.addressing import Address, Addressee, Mailbox, Role, parse_address
from postroom.compose.email import Email, Recipient
from postroom.errors import ComposeError

OWNED_HEADERS = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Date",
        "Subject",
        "Message-ID",
        "MIME-Version",
        "Reply-To",
        "Return-Path",
        "In-Reply-To",
        "References",
        "DKIM-Signature",
    )
)
OWNED_PREFIXES = ("content-", "list-unsubscribe", "x-postroom-")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 2045 §5.1 token
_EMAIL_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{1,128}")
_CID = re.compile(r"[!-;=?-~]{1,250}")


@dataclass(frozen=True, slots=True)
class CheckedEmail:
    """The email's values as the builder uses them: addresses parsed, duplicates merged."""

    sender: Address
    sender_name: str | None
    recipients: tuple[Addressee, ...]
    duplicates: tuple[Addressee, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    needs_smtputf8: bool


def check_text(value: str, field: str) -> None:
    """Refuse text that cannot be written as UTF-8 (a lone surrogate)."""
    if not isinstance(value, str):
        raise ComposeError(field, f"expected text, not {type(value).__name__}", "give a str")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ComposeError(
            field,
            "the text holds a lone surrogate, which is not Unicode text",
            "decode the text properly before sending it",
        ) from None


def check_name(value: str | None, field: str) -> None:
    if value is not None:
        check_text(value, field)
        headers.check_value(value, field)


def check_extra_header(name: str, value: str, field_prefix: str = "headers") -> None:
    """A header field the caller adds: ftext name, not one postroom owns, clean value."""
    field = f"{field_prefix}[{name!r}]"
    headers.check_name(name, field)
    lowered = name.lower()
    if lowered in OWNED_HEADERS or lowered.startswith(OWNED_PREFIXES):
        raise ComposeError(
            field,
            f"{name} is a header field postroom writes itself",
            "use the Email's own fields (subject, cc, in_reply_to, reply, bulk, ...) instead",
        )
    check_text(value, field)
    headers.check_value(value, field)


def _checked_headers(
    extra: Mapping[str, str], *, notification: bool, field_prefix: str = "headers"
) -> tuple[tuple[str, str], ...]:
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for name, value in extra.items():
        check_extra_header(name, value, field_prefix)
        lowered = name.lower()
        if lowered in seen:
            raise ComposeError(
                f"{field_prefix}[{name!r}]",
                "the field is given twice",
                "give each header field once",
            )
        if notification and lowered == "auto-submitted":
            raise ComposeError(
                f"{field_prefix}[{name!r}]",
                "notification=True already writes Auto-Submitted",
                "drop the field or set notification=False",
            )
        seen.add(lowered)
        out.append((name, value))
    return tuple(out)


def check_copy_headers(extra: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Per-copy header fields, under the same rules as ``Email.headers``."""
    return _checked_headers(extra, notification=False, field_prefix="extra_headers")


def _recipients(email: Email) -> tuple[tuple[Addressee, ...], tuple[Addressee, ...]]:
    kept: list[Addressee] = []
    duplicates: list[Addressee] = []
    seen: set[str] = set()
    index = 0
    for role in (Role.TO, Role.CC, Role.BCC):
        for position, item in enumerate(getattr(email, role.value)):
            field = f"{role.value}[{position}]"
            recipient = item if isinstance(item, Recipient) else Recipient(item)
            address = parse_address(recipient.address, field)
            check_name(recipient.name, f"{field}.name")
            addressee = Addressee(role, address, recipient.name or None, index)
            index += 1
            if address.key() in seen:
                duplicates.append(addressee)
            else:
                seen.add(address.key())
                kept.append(addressee)
    if not kept:
        raise ComposeError(
            "to", "the email has no recipients", "give at least one address in to, cc or bcc"
        )
    return tuple(kept), tuple(duplicates)


def _bodies(email: Email) -> None:
    if not email.text and not email.html:
        raise ComposeError(
            "text", "the email has neither text nor html", "give text, html, or both"
        )
    if email.text is not None:
        check_text(email.text, "text")
    if email.html is not None:
        check_text(email.html, "html")
    for position, attachment in enumerate(email.attachments):
        field = f"attachments[{position}]"
        check_name(attachment.filename, f"{field}.filename")
        if not attachment.filename:
            raise ComposeError(
                f"{field}.filename",
                "the attachment has no file name",
                "give the name the recipient should see, such as 'report.pdf'",
            )
        _content_type(attachment.content_type, f"{field}.content_type")
        if not isinstance(attachment.content, bytes):
            raise ComposeError(
                f"{field}.content",
                "the content must be bytes",
                "encode text attachments first, for example with .encode()",
            )
    cids: set[str] = set()
    html = (email.html or "").lower()
    for position, item in enumerate(email.inline):
        field = f"inline[{position}]"
        if not email.html:
            raise ComposeError(
                field,
                "an inline part needs an HTML body to be shown in",
                "give html that refers to it as cid:..., or attach it instead",
            )
        if not isinstance(item.cid, str) or not _CID.fullmatch(item.cid):
            raise ComposeError(
                f"{field}.cid",
                f"{item.cid!r} is not a Content-ID",
                "use printable ASCII without spaces or angle brackets, "
                "such as 'logo@example.org' (RFC 2392)",
            )
        if item.cid in cids:
            raise ComposeError(
                f"{field}.cid",
                f"cid {item.cid!r} is given twice",
                "give each inline part its own cid",
            )
        cids.add(item.cid)
        if f"cid:{item.cid}".lower() not in html:
            raise ComposeError(
                f"{field}.cid",
                f"the HTML never refers to cid:{item.cid}",
                f'refer to it, as in <img src="cid:{item.cid}">, or attach the '
                "file as an attachment instead",
            )
        check_name(item.filename, f"{field}.filename")
        _content_type(item.content_type, f"{field}.content_type")
        if not isinstance(item.content, bytes):
            raise ComposeError(
                f"{field}.content", "the content must be bytes", "give the image's bytes"
            )


def _content_type(value: str, field: str) -> None:
    maintype, slash, subtype = value.partition("/") if isinstance(value, str) else ("", "", "")
    if (
        not slash
        or len(value) > 200
        or not _TOKEN.fullmatch(maintype)
        or not _TOKEN.fullmatch(subtype)
    ):
        raise ComposeError(
            field,
            f"{value!r} is not a MIME type",
            "write it as type/subtype, such as 'application/pdf' (RFC 2045 §5.1)",
        )
    if maintype.lower() in ("multipart", "message"):
        raise ComposeError(
            field,
            f"{value} parts cannot be attached as bytes "
            "(RFC 2046 §5.2.1 forbids base64 for message types)",
            "attach it as application/octet-stream",
        )


def check_email(email: Email, sender: Mailbox, date: datetime, email_token: str) -> CheckedEmail:
    """Check every field of ``email``; return its values ready for building."""
    sender_address = parse_address(sender.address, "from")
    check_name(sender.name, "from.name")
    recipients, duplicates = _recipients(email)
    check_text(email.subject, "subject")
    headers.check_value(email.subject, "subject")
    _bodies(email)
    extra = _checked_headers(email.headers, notification=email.notification)
    in_reply_to = (
        headers.check_msg_id(email.in_reply_to, "in_reply_to") if email.in_reply_to else None
    )
    references = tuple(
        headers.check_msg_id(item, f"references[{position}]")
        for position, item in enumerate(email.references)
    )
    if date.tzinfo is None or date.utcoffset() is None:
        raise ComposeError(
            "date", "the date has no time zone", "give an aware datetime, such as datetime.now(UTC)"
        )
    if not isinstance(email_token, str) or not _EMAIL_TOKEN.fullmatch(email_token):
        raise ComposeError(
            "email_token",
            f"{email_token!r} cannot go in a header field",
            "use up to 128 letters, digits and ._~+/=-",
        )
    return CheckedEmail(
        sender=sender_address,
        sender_name=sender.name or None,
        recipients=recipients,
        duplicates=duplicates,
        in_reply_to=in_reply_to,
        references=references,
        headers=extra,
        # Only addresses the headers show make every copy need SMTPUTF8; a Bcc recipient's
        # non-ASCII address needs it in that recipient's own transaction only.
        needs_smtputf8=sender_address.needs_smtputf8
        or any(item.needs_smtputf8 for item in recipients if item.role is not Role.BCC),
    )
