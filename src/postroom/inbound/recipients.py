"""Finding the address of ours that a message was sent to.

The envelope recipient is the truth when the receiver knows it (LMTP/SMTP RCPT TO, the MTA
pipe's argument). Otherwise the headers MTAs add on delivery (Delivered-To, X-Original-To)
come first, then the visible To and Cc (RFC 5322 section 3.6.3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from postroom.inbound.parse import ParsedMessage, addresses_in

HEADER_ORDER = ("Delivered-To", "X-Original-To", "To", "Cc")


def candidate_addresses(
    parsed: ParsedMessage,
    envelope_recipients: Sequence[str],
    is_ours: Callable[[str], bool],
) -> list[str]:
    """Our addresses in the order they should be tried, without duplicates."""
    seen: set[str] = set()
    ordered: list[str] = []
    pool = [r.strip().strip("<>") for r in envelope_recipients]
    for name in HEADER_ORDER:
        pool.extend(addresses_in(parsed.header_all(name)))
    for address in pool:
        folded = address.lower()
        if folded in seen or not address:
            continue
        seen.add(folded)
        if is_ours(address):
            ordered.append(address)
    return ordered
