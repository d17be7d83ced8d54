"""Authentication-Results (RFC 8601): did the receiving MTA authenticate the sender's domain?

postroom answers mail to an address that does not verify only when the sender is known to be
who they say: an error email to a forged sender is backscatter. The proof is the
receiving MTA's own Authentication-Results field saying DMARC passed for the From domain
(RFC 7489 section 3), or SPF passed for an envelope sender in that same domain (strict
alignment, RFC 7489 section 3.1.2). Only fields whose authserv-id the operator trusts are
read (RFC 8601 section 5: anyone can write such a field into a message they send).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from postroom.inbound.parse import ParsedMessage, first_address


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One ``method=result`` of a field with its properties (``header.from`` -> value)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthenticationResults:
    """One Authentication-Results field (RFC 8601 section 2.2)."""

    authserv_id: str
    results: tuple[MethodResult, ...]


def _uncomment(value: str) -> str:
    """``value`` without RFC 5322 comments (nested parentheses), quoted strings kept."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == '"' and depth == 0:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """Read one field's value; None when it has no authserv-id."""
    parts = [p.strip() for p in _uncomment(value).split(";")]
    head = parts[0].split() if parts else []
    if not head:
        return None
    results: list[MethodResult] = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue  # "none", or nothing readable
        method, _, result = tokens[0].partition("=")
        properties: dict[str, str] = {}
        for token in tokens[1:]:
            name, eq, pvalue = token.partition("=")
            if eq and "." in name:
                properties[name.lower()] = pvalue.strip('"')
        results.append(MethodResult(method.split("/")[0].lower(), result.lower(), properties))
    return AuthenticationResults(head[0].lower(), tuple(results))


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rpartition("@")[2].strip().strip(">").lower() or None


def authenticated_domain(parsed: ParsedMessage, trusted: Iterable[str]) -> str | None:
    """The From domain, when the topmost field of a trusted authserv-id says DMARC passed for
    it, or SPF passed for an envelope sender in that same domain; else None."""
    trusted_ids = {t.lower() for t in trusted}
    from_domain = _domain(parsed.sender)
    if not trusted_ids or from_domain is None:
        return None
    for raw in parsed.header_all("Authentication-Results"):
        field_ = parse_authentication_results(raw)
        if field_ is None or field_.authserv_id not in trusted_ids:
            continue
        for result in field_.results:
            if result.result != "pass":
                continue
            if (
                result.method == "dmarc"
                and _domain("@" + result.properties.get("header.from", "")) == from_domain
            ):
                return from_domain
            if result.method == "spf":
                mailfrom = result.properties.get("smtp.mailfrom", "")
                spf_domain = _domain(mailfrom if "@" in mailfrom else "@" + mailfrom)
                if spf_domain == from_domain:
                    return from_domain
        return None  # the receiving MTA's own field (the topmost trusted one) decides
    return None


def authenticated_sender(parsed: ParsedMessage, target: str, trusted: Iterable[str]) -> bool:
    """Whether an error email to ``target`` goes to an authenticated sender: ``target`` is in
    the domain the receiving MTA authenticated (see :func:`authenticated_domain`)."""
    domain = authenticated_domain(parsed, trusted)
    return domain is not None and _domain(target) == domain and first_address(target) is not None
