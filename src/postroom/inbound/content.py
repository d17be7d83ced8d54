"""What a reply carries besides its text: attachments, and whether it says anything at all."""

from __future__ import annotations

from email.message import EmailMessage

from postroom.inbound.types import Attachment
from postroom.understand.replies import ExtractedReply
from postroom.understand.replies.message import decoded_payload


def attachments_of(message: EmailMessage) -> tuple[Attachment, ...]:
    """Decoded attachments (RFC 2183); a part that fails to decode is kept as raw bytes."""
    found: list[Attachment] = []
    try:
        parts = list(message.iter_attachments())
    except Exception:  # a broken multipart structure: treat as no attachments
        return ()
    for part in parts:
        if not isinstance(part, EmailMessage):
            continue
        try:
            data = decoded_payload(part)
        except Exception:
            data = None
        if not isinstance(data, bytes):
            raw = part.get_payload()
            data = raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        found.append(Attachment(filename=filename, content_type=part.get_content_type(), data=data))
    return tuple(found)


def is_empty_reply(extracted: ExtractedReply) -> bool:
    """True when the person wrote nothing of their own.

    The extractor hands back the whole input when stripping would leave nothing, so a message
    made only of quoted lines (and perhaps the one "... wrote:" line above them) is empty too.
    """
    lines = [line.strip() for line in extracted.text.splitlines() if line.strip()]
    if not lines:
        return True
    unquoted = [line for line in lines if not line.startswith(">")]
    return len(unquoted) == 0 or (
        len(unquoted) == 1 and unquoted[0].endswith(":") and len(lines) > 1
    )
