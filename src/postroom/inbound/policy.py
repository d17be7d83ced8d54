"""The Postfix SMTP access policy delegation protocol (Postfix's SMTPD_POLICY_README), sans-IO.

Postfix asks, for each ``RCPT TO``, whether to accept a recipient: one request is a block of
``name=value`` lines ended by an empty line, the answer one ``action=...`` line and an empty
line. postroom answers for the addresses of its reply domain: those that do not verify are
refused with ``550 5.1.1`` in Postfix's own RCPT reply, so Postfix never accepts mail it would
then have to bounce to a (possibly forged) sender. Every other recipient is left to Postfix's
other rules (``DUNNO``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from postroom.addresses import AddressCodec
from postroom.errors import AddressError

DUNNO = "DUNNO"
#: Longest request line postroom reads (Postfix's attributes are far shorter).
MAX_LINE = 8192


class PolicyReader:
    """Feed it the bytes Postfix sends; it hands back each complete request."""

    def __init__(self) -> None:
        self._buffer = b""
        self._request: dict[str, str] = {}

    def feed(self, data: bytes) -> Iterator[dict[str, str]]:
        self._buffer += data
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if not text:
                request, self._request = self._request, {}
                yield request
                continue
            name, eq, value = text.partition("=")
            if eq:
                self._request[name.strip()] = value
        if len(self._buffer) > MAX_LINE:
            raise ValueError("policy request line too long")


def decide(request: Mapping[str, str], codec: AddressCodec, reports: Iterable[str]) -> str:
    """The action for one request: refuse an address of the reply domain that does not
    verify (or names no address of ours at all), accept nothing outright (``DUNNO``)."""
    if request.get("request") != "smtpd_access_policy":
        return DUNNO
    if request.get("protocol_state", "RCPT").upper() != "RCPT":
        return DUNNO
    recipient = request.get("recipient", "").strip().strip("<>")
    if not recipient or recipient.lower() in set(reports):
        return DUNNO
    domain = recipient.rpartition("@")[2].lower()
    if domain != codec.domain:
        return DUNNO  # not ours to judge
    if not codec.is_ours(recipient):
        return f"550 5.1.1 <{recipient}>: recipient unknown here"
    try:
        codec.decode(recipient)
    except AddressError:
        return f"550 5.1.1 <{recipient}>: not a valid reply address"
    return DUNNO


def answer(action: str) -> bytes:
    """The reply block for ``action``."""
    return f"action={action}\n\n".encode()
