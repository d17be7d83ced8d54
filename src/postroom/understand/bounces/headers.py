"""Reading header values: RFC 2047 encoded words, addresses and Message-IDs.

Everything here is lenient: a malformed encoded word stays as it was, and an address is any
RFC 5321 section 4.1.2 ``Mailbox`` shaped token, which is what bounce texts quote.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re

from postroom.understand.lazyre import lazy

_ENCODED_WORD = lazy(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_ENCODED_GAP = lazy(r"(\?=)\s+(=\?)")
# RFC 5321 section 4.1.2 Mailbox: a dot-string local part, or a quoted string without white
# space ("neko....nyaan...."@example.org: consecutive dots need the quotes).
# The dot-string starts where the character before cannot start one (a match starting later
# in a run of such characters is never the leftmost), and takes its run possessively (it holds
# no "@" to give back): both only save the search work at every position of a word.
_ATOM = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-"
ADDRESS = lazy(
    rf"(?:\"[^\"\s\\@]{{1,64}}\"|(?<![{_ATOM}])[{_ATOM}][.{_ATOM}]*+)"
    # The top-level label: letters, or an IDNA A-label (RFC 5890: "xn--p1ai"), whose digits
    # and hyphens a letters-only pattern would cut off ("example.xn").
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?\.)+(?:xn--[A-Za-z0-9]{1,59}|[A-Za-z]{2,24})\b"
)
_BRACKETED = lazy(r"<([^<>\s]+@[^<>\s]+)>")
_MSGID = lazy(r"<([^<>\s]{1,500})>")


def decode_words(value: str) -> str:
    """Decode RFC 2047 section 4 encoded words; undecodable words are left as they are."""
    if "=?" not in value:
        return value
    value = _ENCODED_GAP.sub(r"\1\2", value)

    def one(m: re.Match[str]) -> str:
        charset, enc, text = m.group(1).split("*")[0], m.group(2).lower(), m.group(3)
        try:
            if enc == "b":
                raw = base64.b64decode(text + "=" * (-len(text) % 4))
            else:
                raw = quopri.decodestring(text.replace("_", " ").encode("ascii"), header=True)
            return raw.decode(charset, "replace")
        except (binascii.Error, LookupError, ValueError, UnicodeError):
            return m.group(0)

    return _ENCODED_WORD.sub(one, value)


def clean_address(text: str) -> str | None:
    """The address in a token like ``rfc822;<a@b>``, ``"x" <a@b>`` or ``a@b.`` (lower-cased)."""
    m = _BRACKETED.search(text)
    found = ADDRESS.search(m.group(1) if m else text)
    return found.group(0).strip(".").lower() if found else None


def first_address(value: str | None) -> str | None:
    """The first address in a From/To style header value."""
    if not value:
        return None
    return clean_address(decode_words(value))


def all_addresses(value: str | None) -> list[str]:
    """Every address in a header value, lower-cased, in order."""
    if not value:
        return []
    return [a.lower() for a in ADDRESS.findall(value)]


def message_id(value: str | None) -> str | None:
    """An RFC 5322 section 3.6.4 msg-id without its angle brackets."""
    if not value:
        return None
    m = _MSGID.search(value)
    if m:
        return m.group(1)
    bare = value.strip().split()
    return bare[0] if bare and "@" in bare[0] else None
