"""The MIME structure of an email as static byte chunks with two body slots.

The tree (RFC 2046 §5.1, RFC 2387 for ``related``)::

    multipart/mixed                  only with attachments
    ├── multipart/alternative        only with an HTML part
    │   ├── text/plain               slot TEXT (given, or derived from the HTML)
    │   └── multipart/related        only with inline parts
    │       ├── text/html            slot HTML
    │       └── image/png ...        Content-ID: <cid>, base64
    └── application/pdf ...          Content-Disposition: attachment, base64

is flattened, once per email, into a :data:`Layout`: byte chunks (boundaries, the headers of
multiparts and of attachments, the attachments already base64-encoded) with a slot where each
text body goes. A slot is filled per copy with the part's own header fields (its transfer
encoding is chosen per copy) and its encoded body.

Boundaries start with ``=_``, which no quoted-printable or base64 text contains and no 7bit
part is allowed to contain (:mod:`postroom.compose.encoding`), so a boundary cannot occur in
any content (RFC 2046 §5.1.1).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from enum import IntEnum

from postroom.compose import headers
from postroom.compose.email import Attachment, Inline
from postroom.compose.encoding import TransferEncoding, encode_base64, encode_text


class BodySlot(IntEnum):
    """Where a text body goes in the layout."""

    TEXT = 0
    HTML = 1


Layout = tuple[bytes | BodySlot, ...]
_CRLF = b"\r\n"


def _leaf_headers(subtype: str, encoding: TransferEncoding) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii")


_PART_HEADERS = {
    (subtype, encoding): _leaf_headers(subtype, encoding)
    for subtype in ("plain", "html")
    for encoding in (TransferEncoding.SEVEN_BIT, TransferEncoding.QUOTED_PRINTABLE)
}


def text_part(subtype: str, body: str) -> bytes:
    """A ``text/plain`` or ``text/html`` part (its header fields and encoded body)."""
    encoding, data = encode_text(body)
    return _PART_HEADERS[subtype, encoding] + data


def new_boundary() -> str:
    """A fresh boundary: ``=_`` and 128 random bits (RFC 2046 §5.1.1 allows 70 characters)."""
    return f"=_pr_{secrets.token_hex(16)}"


def _multipart(
    subtype: str, boundary: str, children: Sequence[list[bytes | BodySlot]]
) -> list[bytes | BodySlot]:
    out: list[bytes | BodySlot] = [
        headers.content_field("Content-Type", f"multipart/{subtype}", [[f'boundary="{boundary}"']]),
        _CRLF,
    ]
    delimiter = f"--{boundary}\r\n".encode("ascii")
    for child in children:
        out.append(delimiter)
        out.extend(child)
        out.append(_CRLF)  # the CRLF that belongs to the next delimiter (RFC 2046 §5.1.1)
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return out


def _binary_part(
    content_type: str,
    content: bytes,
    disposition: str,
    filename: str | None,
    content_id: str | None = None,
) -> bytes:
    fields = [headers.content_field("Content-Type", content_type)]
    if content_id is not None:
        fields.append(headers.fold("Content-ID", [f"<{content_id}>"]))
    params = [headers.parameter("filename", filename)] if filename else []
    fields.append(headers.content_field("Content-Disposition", disposition, params))
    fields.append(b"Content-Transfer-Encoding: base64\r\n\r\n")
    return b"".join(fields) + encode_base64(content)


def attachment_part(attachment: Attachment) -> bytes:
    """An attachment (RFC 2183 §2.2), its file name written per RFC 2231 when needed."""
    return _binary_part(
        attachment.content_type, attachment.content, "attachment", attachment.filename
    )


def inline_part(item: Inline) -> bytes:
    """A part the HTML refers to as ``cid:`` (RFC 2392), shown inline (RFC 2183 §2.1)."""
    return _binary_part(item.content_type, item.content, "inline", item.filename, item.cid)


def _chunk(data: bytes) -> list[bytes | BodySlot]:
    return [data]


def build_layout(
    *, has_html: bool, inline: Sequence[Inline], attachments: Sequence[Attachment]
) -> Layout:
    """The chunks and slots of one email's MIME tree, adjacent chunks joined."""
    body: list[bytes | BodySlot]
    if has_html:
        html: list[bytes | BodySlot] = [BodySlot.HTML]
        if inline:
            html = _multipart(
                "related", new_boundary(), [html, *(_chunk(inline_part(item)) for item in inline)]
            )
        body = _multipart("alternative", new_boundary(), [[BodySlot.TEXT], html])
    else:
        body = [BodySlot.TEXT]
    if attachments:
        body = _multipart(
            "mixed",
            new_boundary(),
            [body, *(_chunk(attachment_part(item)) for item in attachments)],
        )
    merged: list[bytes | BodySlot] = []
    for item in body:
        if isinstance(item, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += item
        else:
            merged.append(item)
    return tuple(merged)
