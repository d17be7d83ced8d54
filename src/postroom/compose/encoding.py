"""Content-Transfer-Encodings (RFC 2045 §6), chosen per part, output with CRLF line ends.

* Text parts are ``7bit`` when every line is ASCII and at most 78 characters (RFC 5322 §2.1.1's
  SHOULD, so no relay ever needs to rewrap them), else ``quoted-printable`` (§6.7: lines of at
  most 76 characters, UTF-8 octets written ``=XX``). The choice is made per copy, because a
  click URL may lengthen a line. A 7bit body that happens to hold ``=_`` is written
  quoted-printable too: boundaries start with ``=_``, which quoted-printable and base64 output
  can never contain, so no boundary can ever occur inside a part (RFC 2046 §5.1.1).
* Attachments and inline parts are bytes and are always ``base64`` (§6.8, lines of 76), which
  keeps them byte for byte; they are encoded once per email, when the template is built.
"""

from __future__ import annotations

import binascii
from enum import StrEnum

MAX_7BIT_LINE = 78
BASE64_LINE = 57  # input octets per 76-character base64 line


class TransferEncoding(StrEnum):
    SEVEN_BIT = "7bit"
    QUOTED_PRINTABLE = "quoted-printable"
    BASE64 = "base64"


def _fits_7bit(data: bytes) -> bool:
    if not data.isascii() or b"=_" in data or b"\0" in data:
        return False
    return max(map(len, data.split(b"\n"))) <= MAX_7BIT_LINE


def encode_text(text: str) -> tuple[TransferEncoding, bytes]:
    """Encode a text body whose lines end in LF; the result's lines end in CRLF."""
    data = text.encode("utf-8")
    if _fits_7bit(data):
        return TransferEncoding.SEVEN_BIT, data.replace(b"\n", b"\r\n")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    return TransferEncoding.QUOTED_PRINTABLE, encoded.replace(b"\n", b"\r\n")


def encode_base64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF (RFC 2045 §6.8)."""
    lines = [
        binascii.b2a_base64(data[start : start + BASE64_LINE], newline=False)
        for start in range(0, len(data), BASE64_LINE)
    ]
    return b"".join(line + b"\r\n" for line in lines)
