"""SEARCH criteria for finding an email's messages in a folder (RFC 3501 section 6.4.4).

One OR chain per command: ``OR OR k1 k2 k3`` finds any of three keys. A chain is cut into
commands of at most :data:`MAX_COMMAND` octets, the line length RFC 7162 section 4 asks clients
to stay within (MailKit assumes Gmail takes 16 KiB lines; GMAIL-IMAP.md fact 29), so an email
to hundreds of recipients costs one command per few hundred Message-IDs, never one per copy.
"""

from __future__ import annotations

from collections.abc import Sequence

#: RFC 7162 section 4: "approximately 8192 octets"; some room is left for the tag and UID.
MAX_COMMAND = 8000
_PREFIX = len(b"A0001 UID SEARCH ")


def quote(value: str) -> bytes:
    """An IMAP quoted string (RFC 3501 section 4.3): backslash and double quote escaped."""
    if any(c in value for c in "\r\n\0") or not value.isascii():
        raise ValueError(f"{value!r} cannot be searched for as a quoted string")
    return b'"' + value.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'


def header_key(name: str, value: str) -> bytes:
    return b"HEADER " + name.encode("ascii") + b" " + quote(value)


def or_chain(keys: Sequence[bytes]) -> bytes:
    """Any of ``keys``: ``OR`` is binary, so n keys need n-1 of them in front."""
    if not keys:
        raise ValueError("no search keys")
    return b"OR " * (len(keys) - 1) + b" ".join(keys)


def chunked(keys: Sequence[bytes], limit: int = MAX_COMMAND) -> list[bytes]:
    """OR chains that each fit in one command line of at most ``limit`` octets."""
    chains: list[bytes] = []
    current: list[bytes] = []
    size = _PREFIX
    for key in keys:
        cost = len(key) + len(b"OR  ")
        if current and size + cost > limit:
            chains.append(or_chain(current))
            current, size = [], _PREFIX
        current.append(key)
        size += cost
    if current:
        chains.append(or_chain(current))
    return chains


def email_keys(message_ids: Sequence[str], token: str | None) -> list[bytes]:
    """Keys for an email's messages: each Message-ID (with its angle brackets, as the header
    holds it) and, when given, postroom's own ``X-Postroom-Email`` header, which finds the
    copies of a provider that replaced their Message-IDs."""
    keys = [header_key("Message-ID", f"<{m}>") for m in message_ids]
    if token:
        keys.append(header_key("X-Postroom-Email", token))
    return keys
