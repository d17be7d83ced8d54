"""Which folder is the account's Sent, Trash, All Mail: found by role, never assumed by name.

Order of evidence, as IMAPClient's ``find_special_folder`` does it: RFC 6154 SPECIAL-USE
attributes on the LIST answer first (``\\Sent``, ``\\Trash``, ``\\All``, ``\\Junk``,
``\\Drafts``; Gmail marks its system folders so, and Dovecot with ``special_use``), then the
XLIST attributes older Gmail servers used (``\\AllMail``, ``\\Spam``, ``\\Inbox``), then names:
common ones and localised ones, kept below as data with where each was seen. A name is only a
guess; an attribute always wins over it, so a user label called "Sent" next to Gmail's
``[Gmail]/Sent Mail`` (GMAIL-IMAP facts 4 and 9) is never taken for it.

Pure: a LIST answer in, :class:`FolderRoles` out.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


class Role(enum.StrEnum):
    SENT = "sent"
    TRASH = "trash"
    ALL = "all"
    JUNK = "junk"
    DRAFTS = "drafts"


#: RFC 6154 section 2 attributes, and the XLIST ones Gmail used before it (fact 5).
ATTRIBUTES: dict[str, Role] = {
    "\\SENT": Role.SENT,
    "\\TRASH": Role.TRASH,
    "\\ALL": Role.ALL,
    "\\ALLMAIL": Role.ALL,
    "\\JUNK": Role.JUNK,
    "\\SPAM": Role.JUNK,
    "\\DRAFTS": Role.DRAFTS,
}


@dataclass(frozen=True, slots=True)
class KnownName:
    """A folder name a provider or client uses for a role, and where it was seen."""

    name: str
    role: Role
    language: str
    source: str


_IMAPCLIENT = "IMAPClient _POPULAR_SPECIAL_FOLDERS (imapclient 4.1)"
_ISSUE = "postroom issue 12 (names seen in providers' Sent folders)"
_GMAIL = "Gmail system folders in that UI language, GMAIL-IMAP.md fact 7"

#: Names by role. Matched on the last level of the folder's path (``[Gmail]/Sent Mail``,
#: ``INBOX.Sent``), case-insensitively and after Unicode NFC.
KNOWN_NAMES: tuple[KnownName, ...] = (
    KnownName("Sent", Role.SENT, "en", _IMAPCLIENT),
    KnownName("Sent Items", Role.SENT, "en", _IMAPCLIENT),
    KnownName("Sent Messages", Role.SENT, "en", _IMAPCLIENT),
    KnownName("Sent Mail", Role.SENT, "en", "Gmail, GMAIL-IMAP.md fact 4"),
    KnownName("Gesendet", Role.SENT, "de", _ISSUE),
    KnownName("Gesendete Elemente", Role.SENT, "de", _ISSUE),
    KnownName("Envoyés", Role.SENT, "fr", _ISSUE),
    KnownName("Éléments envoyés", Role.SENT, "fr", _ISSUE),
    KnownName("Enviados", Role.SENT, "es/pt", _ISSUE),
    KnownName("E-mails enviados", Role.SENT, "pt-BR", _GMAIL),
    KnownName("Posta inviata", Role.SENT, "it", _ISSUE),
    KnownName("Inviati", Role.SENT, "it", "GMAIL-IMAP.md fact 7 (imapsync FAQ)"),
    KnownName("Verzonden", Role.SENT, "nl", _ISSUE),
    KnownName("Wysłane", Role.SENT, "pl", _ISSUE),
    KnownName("Отправленные", Role.SENT, "ru", _ISSUE),
    KnownName("送信済み", Role.SENT, "ja", _ISSUE),
    KnownName("寄件備份", Role.SENT, "zh-TW", _GMAIL),
    KnownName("Trash", Role.TRASH, "en", _IMAPCLIENT),
    KnownName("Deleted Items", Role.TRASH, "en", _IMAPCLIENT),
    KnownName("Deleted Messages", Role.TRASH, "en", _IMAPCLIENT),
    KnownName("Deleted", Role.TRASH, "en", _IMAPCLIENT),
    KnownName("Bin", Role.TRASH, "en-GB", _GMAIL),
    KnownName("Lixeira", Role.TRASH, "pt-BR", _GMAIL),
    KnownName("垃圾桶", Role.TRASH, "zh-TW", _GMAIL),
    KnownName("All Mail", Role.ALL, "en", "Gmail, GMAIL-IMAP.md fact 4"),
    KnownName("Todos os e-mails", Role.ALL, "pt-BR", _GMAIL),
    KnownName("全部郵件", Role.ALL, "zh-TW", _GMAIL),
    KnownName("Junk", Role.JUNK, "en", _IMAPCLIENT),
    KnownName("Spam", Role.JUNK, "en", _IMAPCLIENT),
    KnownName("Drafts", Role.DRAFTS, "en", _IMAPCLIENT),
)


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold().strip()


_BY_NAME: dict[str, KnownName] = {_key(k.name): k for k in KNOWN_NAMES}


@dataclass(frozen=True, slots=True)
class ListedFolder:
    """One line of a LIST answer: its attributes, hierarchy delimiter and (decoded) name."""

    flags: tuple[str, ...]
    delimiter: str | None
    name: str

    @property
    def selectable(self) -> bool:
        lowered = {f.upper() for f in self.flags}
        return not lowered & {"\\NOSELECT", "\\NONEXISTENT"}

    def leaf(self) -> str:
        if self.delimiter and self.delimiter in self.name:
            return self.name.rsplit(self.delimiter, 1)[1]
        return self.name


@dataclass(frozen=True, slots=True)
class FolderRoles:
    """Folders by role, with how each was found (``special-use`` or ``name``)."""

    folders: dict[Role, str] = field(default_factory=dict)
    found_by: dict[Role, str] = field(default_factory=dict)

    def get(self, role: Role) -> str | None:
        return self.folders.get(role)

    @property
    def sent(self) -> str | None:
        return self.folders.get(Role.SENT)

    @property
    def trash(self) -> str | None:
        return self.folders.get(Role.TRASH)

    def to_json(self) -> dict[str, Any]:
        return {
            "folders": {str(k): v for k, v in self.folders.items()},
            "found_by": {str(k): v for k, v in self.found_by.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FolderRoles:
        data = data or {}
        return cls(
            {Role(k): v for k, v in (data.get("folders") or {}).items()},
            {Role(k): v for k, v in (data.get("found_by") or {}).items()},
        )


def find_roles(listing: Iterable[ListedFolder]) -> FolderRoles:
    """Each role's folder: by attribute first, then by known name (first listed wins)."""
    folders: dict[Role, str] = {}
    found_by: dict[Role, str] = {}
    listed: Sequence[ListedFolder] = [f for f in listing if f.selectable]
    for folder in listed:
        for flag in folder.flags:
            role = ATTRIBUTES.get(flag.upper())
            if role is not None and role not in folders:
                folders[role] = folder.name
                found_by[role] = "special-use"
    for folder in listed:
        known = _BY_NAME.get(_key(folder.leaf()))
        if known is not None and known.role not in folders:
            if folder.name.upper() == "INBOX":
                continue
            folders[known.role] = folder.name
            found_by[known.role] = f"name ({known.language}: {known.source})"
    return FolderRoles(folders, found_by)
