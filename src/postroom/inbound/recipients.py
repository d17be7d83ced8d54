"""Finding the address of ours that a message was sent to.

The envelope recipient is the truth when the receiver knows it (LMTP/SMTP RCPT TO, the MTA
pipe's argument). Otherwise the headers MTAs add on delivery (Delivered-To, X-Original-To)
come first, then the visible To and Cc (RFC 5322 section 3.6.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from postroom.inbound.parse import ParsedMessage, addresses_in

HEADER_ORDER = ("Delivered-To", "X-Original-To", "To", "Cc")


def candidate_addresses(
    parsed: ParsedMessage,
    envelope_recipients: Sequence[str],
    is_ours: Callable[[str], bool],
) -> Iterator[str]:
    """Our addresses in the order they should be tried, without duplicates.

    Lazy: the caller stops at the first one that verifies, so when the envelope recipient is
    ours (the usual case) the address headers are never parsed.
    """
    seen: set[str] = set()

    def fresh(addresses: Iterable[str]) -> Iterator[str]:
        for address in addresses:
            folded = address.lower()
            if address and folded not in seen:
                seen.add(folded)
                if is_ours(address):
                    yield address

    yield from fresh(r.strip().strip("<>") for r in envelope_recipients)
    for name in HEADER_ORDER:
        yield from fresh(addresses_in(parsed.header_all(name)))
