"""What postroom knows about an account's mailbox, kept on the account (``state.mailbox``):
its server's capabilities, its folders by role with their UIDVALIDITY, and what the Sent
reconciliation learned from the first sends (whether the server files sent mail itself, and
which search key finds its copies).

Learned once, when the account is added or tested (``postroom accounts test`` runs
:func:`discover`) or by the worker before an account's first reconciliation, and again only
when a folder's UIDVALIDITY changes or a folder disappears: an email's reconciliation never
pays for LIST.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from postroom.errors import MailboxError
from postroom.mailbox.capabilities import ImapCapabilities
from postroom.mailbox.folders import FolderRoles, Role, find_roles
from postroom.mailbox.session import ImapSession

STATE_KEY = "mailbox"


@dataclass(frozen=True, slots=True)
class MailboxFacts:
    """``files_sent``: None until learned; ``search_key``: ``message-id``, ``header`` (the
    provider replaces Message-IDs, postroom's X-Postroom-Email header finds its copies) or
    None until learned. ``uidvalidity`` by folder name."""

    capabilities: ImapCapabilities
    roles: FolderRoles
    uidvalidity: dict[str, int] = field(default_factory=dict)
    files_sent: bool | None = None
    search_key: str | None = None
    discovered_at: str | None = None

    @property
    def sent(self) -> str:
        if self.roles.sent is None:
            raise MailboxError(
                "the account's IMAP server lists no Sent folder (no \\Sent attribute, no known "
                "name)",
                "create a folder named Sent, or enable 'Show in IMAP' for it at the provider",
            )
        return self.roles.sent

    @property
    def trash(self) -> str | None:
        return self.roles.trash

    def to_json(self) -> dict[str, Any]:
        return {
            "capabilities": self.capabilities.to_json(),
            "roles": self.roles.to_json(),
            "uidvalidity": dict(self.uidvalidity),
            "files_sent": self.files_sent,
            "search_key": self.search_key,
            "discovered_at": self.discovered_at,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MailboxFacts | None:
        data = state.get(STATE_KEY)
        if not data or not data.get("roles"):
            return None
        return cls(
            ImapCapabilities.from_json(data.get("capabilities")),
            FolderRoles.from_json(data.get("roles")),
            {str(k): int(v) for k, v in (data.get("uidvalidity") or {}).items()},
            data.get("files_sent"),
            data.get("search_key"),
            data.get("discovered_at"),
        )

    def learned(self, **changes: Any) -> MailboxFacts:
        return replace(self, **changes)


def discover(
    session: ImapSession, *, now: datetime, previous: MailboxFacts | None = None
) -> MailboxFacts:
    """LIST the folders, find their roles, SELECT Sent and Trash for their UIDVALIDITY.
    What was learned from sends (``files_sent``, ``search_key``) is kept unless Sent changed."""
    roles = find_roles(session.list_folders())
    uidvalidity: dict[str, int] = {}
    for role in (Role.SENT, Role.TRASH):
        folder = roles.get(role)
        if folder is not None:
            uidvalidity[folder] = session.select(folder).uidvalidity
    facts = MailboxFacts(session.capabilities, roles, uidvalidity, discovered_at=now.isoformat())
    if previous is not None and roles.sent is not None:
        same = previous.roles.sent == roles.sent and previous.uidvalidity.get(
            roles.sent
        ) == uidvalidity.get(roles.sent)
        if same:
            facts = facts.learned(files_sent=previous.files_sent, search_key=previous.search_key)
    return facts
