"""What an IMAP server offers, read from its CAPABILITY answer (RFC 3501 section 7.2.1), and
checked before any command that needs an extension is sent.

The answer comes for free at login from most servers (Dovecot puts it in the tagged OK's
``[CAPABILITY ...]`` code, Gmail sends an untagged ``* CAPABILITY`` after authentication), so
no CAPABILITY command is spent on it; what an account's server offered is also kept on the
account (see :mod:`postroom.mailbox.facts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from postroom.errors import MailboxError


@dataclass(frozen=True, slots=True)
class ImapCapabilities:
    """A server's capability names, upper-case, as text."""

    names: frozenset[str]

    @classmethod
    def parse(cls, raw: Iterable[bytes | str]) -> ImapCapabilities:
        names = set()
        for item in raw:
            text = item.decode("ascii", "replace") if isinstance(item, bytes) else item
            names.update(text.upper().split())
        return cls(frozenset(names))

    def has(self, name: str) -> bool:
        return name.upper() in self.names

    @property
    def move(self) -> bool:
        """RFC 6851 MOVE."""
        return self.has("MOVE")

    @property
    def uidplus(self) -> bool:
        """RFC 4315 UIDPLUS: UID EXPUNGE of given UIDs, APPENDUID and COPYUID codes."""
        return self.has("UIDPLUS")

    @property
    def gmail(self) -> bool:
        """Gmail's extensions (X-GM-MSGID, X-GM-LABELS, X-GM-RAW): Gmail and only Gmail."""
        return self.has("X-GM-EXT-1")

    @property
    def idle(self) -> bool:
        """RFC 2177 IDLE."""
        return self.has("IDLE")

    @property
    def condstore(self) -> bool:
        """RFC 7162 CONDSTORE."""
        return self.has("CONDSTORE")

    @property
    def special_use(self) -> bool:
        """RFC 6154 SPECIAL-USE (folders flagged \\Sent, \\Trash ...)."""
        return self.has("SPECIAL-USE")

    @property
    def append_limit(self) -> int | None:
        """RFC 7889 APPENDLIMIT=n, when the server states one."""
        for name in self.names:
            if name.startswith("APPENDLIMIT="):
                value = name.partition("=")[2]
                if value.isdigit():
                    return int(value)
        return None

    def require(self, name: str, needed_for: str, fix: str) -> None:
        """Refuse, before anything is sent, a command the server does not offer."""
        if not self.has(name):
            raise MailboxError(
                f"the IMAP server does not offer {name}, which {needed_for} needs", fix
            )

    def to_json(self) -> list[str]:
        return sorted(self.names)

    @classmethod
    def from_json(cls, data: Iterable[str] | None) -> ImapCapabilities:
        return cls(frozenset(str(n).upper() for n in (data or ())))
