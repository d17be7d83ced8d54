"""What an SMTP server offers, read from its EHLO reply (RFC 5321 section 4.1.1.1)."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.outbound.types import Reply

__all__ = ["Capabilities", "parse_capabilities"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The service extensions of one session. A server answering only HELO has none
    (``esmtp`` False). After STARTTLS the client forgets these and asks again (RFC 3207
    section 4.2)."""

    esmtp: bool = False
    pipelining: bool = False  # RFC 2920
    size: bool = False  # RFC 1870: MAIL FROM takes SIZE=
    size_limit: int | None = None  # the fixed maximum; None when none is declared (or "SIZE 0")
    smtputf8: bool = False  # RFC 6531
    eightbitmime: bool = False  # RFC 6152
    starttls: bool = False  # RFC 3207
    auth_mechanisms: frozenset[str] = frozenset()  # RFC 4954 section 3
    enhanced_status_codes: bool = False  # RFC 2034
    dsn: bool = False  # RFC 3461
    chunking: bool = False  # RFC 3030
    #: Every keyword (upper case) with its parameters, in the server's order.
    extensions: tuple[tuple[str, str], ...] = ()

    def offers(self, keyword: str) -> bool:
        wanted = keyword.upper()
        return any(name == wanted for name, _ in self.extensions)

    def describe(self) -> str:
        """One line for people: ``PIPELINING, SIZE 35882577, 8BITMIME, AUTH PLAIN LOGIN``."""
        if not self.esmtp:
            return "no ESMTP extensions (the server answered HELO only)"
        parts: list[str] = []
        if self.pipelining:
            parts.append("PIPELINING")
        if self.size:
            parts.append(f"SIZE {self.size_limit}" if self.size_limit else "SIZE (no fixed limit)")
        for flag, name in (
            (self.smtputf8, "SMTPUTF8"),
            (self.eightbitmime, "8BITMIME"),
            (self.starttls, "STARTTLS"),
        ):
            if flag:
                parts.append(name)
        if self.auth_mechanisms:
            parts.append("AUTH " + " ".join(sorted(self.auth_mechanisms)))
        for flag, name in (
            (self.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
            (self.dsn, "DSN"),
            (self.chunking, "CHUNKING"),
        ):
            if flag:
                parts.append(name)
        return ", ".join(parts) if parts else "none"


def parse_capabilities(reply: Reply) -> Capabilities:
    """Read the keywords of a 250 EHLO reply: its first line is the server's name, each further
    line one ``keyword [parameters]`` (RFC 5321 section 4.1.1.1). Keywords are case-insensitive.
    ``AUTH=LOGIN PLAIN`` (the pre-RFC 2554 form some servers still add) counts as AUTH."""
    extensions: list[tuple[str, str]] = []
    mechanisms: set[str] = set()
    size_limit: int | None = None
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        keyword = keyword.upper()
        if not keyword:
            continue
        if keyword.startswith("AUTH="):
            mechanisms.update(m.upper() for m in (keyword[5:] + " " + params).split())
            continue
        extensions.append((keyword, params.strip()))
        if keyword == "AUTH":
            mechanisms.update(m.upper() for m in params.split())
        elif keyword == "SIZE" and params.strip().isdigit():
            # RFC 1870 section 4: "SIZE 0" means no fixed maximum.
            size_limit = int(params) or None
    names = {name for name, _ in extensions}
    return Capabilities(
        esmtp=True,
        pipelining="PIPELINING" in names,
        size="SIZE" in names,
        size_limit=size_limit,
        smtputf8="SMTPUTF8" in names,
        eightbitmime="8BITMIME" in names,
        starttls="STARTTLS" in names,
        auth_mechanisms=frozenset(mechanisms),
        enhanced_status_codes="ENHANCEDSTATUSCODES" in names,
        dsn="DSN" in names,
        chunking="CHUNKING" in names,
        extensions=tuple(extensions),
    )
