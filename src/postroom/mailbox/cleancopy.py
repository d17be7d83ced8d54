"""The one clean copy of an email for the sender's Sent folder (pure).

It is :meth:`Template.clean_copy` (the sender's own content: the visible header fields, links
as written, no pixel, no per-copy Reply-To, no List-Unsubscribe, attachments kept) with its own
Message-ID, and two changes so that it looks like what the provider stored and tells the
sender everything: the From, To and Cc fields as the provider's copy holds them (fetched with
BODY.PEEK before the copies were removed: a provider may rewrite From to the account's own
address or display name), and a Bcc field naming the Bcc recipients, as a mail client's
own Sent copy does (no recipient ever sees it: it is not sent).
"""

from __future__ import annotations

import re

from postroom.compose import headers
from postroom.compose.addressing import Role
from postroom.compose.template import Template

_REPLACED = ("from", "to", "cc")


def header_fields(block: bytes) -> list[tuple[str, bytes]]:
    """A header section's fields as (lower-case name, the field's bytes with its folding and
    CRLF), in order."""
    fields: list[tuple[str, bytes]] = []
    for line in re.split(rb"(?<=\n)", block):
        if not line or line in (b"\r\n", b"\n"):
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line)
        else:
            name = line.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
            fields.append((name, line))
    return [(n, r if r.endswith(b"\r\n") else r.rstrip(b"\r\n") + b"\r\n") for n, r in fields]


def build_clean_copy(
    template: Template, message_id: str, provider_header: bytes | None = None
) -> bytes:
    """The clean copy's bytes, ready for APPEND (CRLF line ends)."""
    data = template.clean_copy(message_id)
    head, sep, body = data.partition(b"\r\n\r\n")
    fields = header_fields(head + b"\r\n")
    if provider_header:
        theirs = {n: raw for n, raw in header_fields(provider_header) if n in _REPLACED}
        fields = [(n, theirs.get(n, raw)) for n, raw in fields]
    bcc = [
        headers.mailbox(item.name, item.address, template.needs_smtputf8)
        for item in template.recipients
        if item.role is Role.BCC
    ]
    out = [raw for _, raw in fields]
    if bcc:
        listed = [i for i, (n, _) in enumerate(fields) if n in ("to", "cc")]
        position = max(listed) + 1 if listed else len(out)
        out.insert(position, headers.fold("Bcc", headers.address_list(bcc)))
    return b"".join(out) + b"\r\n" + body if sep else data
