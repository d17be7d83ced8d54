"""A Gmail-semantics fake of the IMAP seam, for tests (public, like the other fakes).

It serves :class:`~postroom.mailbox.session.ImapSession` from an in-memory account that
behaves as Gmail's IMAP does, fact by fact from ../shared/docs/GMAIL-IMAP.md (the numbers
below), with the capability line and folder list of real Gmail answers (the tests check them
against the captures in ../shared/fixtures/gmail-imap/):

- labels are folders: one message (one X-GM-MSGID) shows in every folder of its labels, with
  a UID per folder; All Mail holds everything but Trash and Spam (12, 15);
- mail submitted through smtp.gmail.com is filed in ``[Gmail]/Sent Mail`` unless a message
  with its Message-ID is there already (21): :meth:`GmailFake.submit`;
- ``\\Deleted`` is expunged at once (auto-expunge, on by default, 16): in a label folder that
  only removes the label (the message stays in All Mail: "archived"), in Trash and Spam it
  deletes the message for good (15, 17);
- MOVE and COPY into Trash trash the message (it leaves every label, 18), drop ``\\Deleted``
  (19), and answer COPYUID in the tagged OK (20);
- APPEND answers APPENDUID (23); a message whose Message-ID is in the folder already replaces
  it there, one elsewhere in the account is accepted and thrown away (24);
- SEARCH takes HEADER, X-GM-MSGID, UID ranges, ALL, and OR chains of them (14).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32

from postroom.errors import ImapFailed
from postroom.mailbox.capabilities import ImapCapabilities
from postroom.mailbox.cleancopy import header_fields
from postroom.mailbox.folders import ListedFolder
from postroom.mailbox.session import AppendUid, CopyUid, Fetched, Selected

#: The post-login CAPABILITY of Gmail (fixture mailkit__head_authenticate.txt).
GMAIL_CAPABILITY = (
    "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS "
    "COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS "
    "LITERAL- APPENDLIMIT=35651584"
)
#: Gmail's ``LIST "" "*"`` (fixture google-docs__imap-extensions-examples.txt).
GMAIL_LIST: tuple[tuple[tuple[str, ...], str], ...] = (
    (("\\HasNoChildren",), "INBOX"),
    (("\\Noselect", "\\HasChildren"), "[Gmail]"),
    (("\\HasNoChildren", "\\All"), "[Gmail]/All Mail"),
    (("\\HasNoChildren", "\\Drafts"), "[Gmail]/Drafts"),
    (("\\HasNoChildren", "\\Important"), "[Gmail]/Important"),
    (("\\HasNoChildren", "\\Sent"), "[Gmail]/Sent Mail"),
    (("\\HasNoChildren", "\\Junk"), "[Gmail]/Spam"),
    (("\\HasNoChildren", "\\Flagged"), "[Gmail]/Starred"),
    (("\\HasNoChildren", "\\Trash"), "[Gmail]/Trash"),
)
ALL_MAIL, SENT, TRASH, SPAM = (
    "[Gmail]/All Mail",
    "[Gmail]/Sent Mail",
    "[Gmail]/Trash",
    "[Gmail]/Spam",
)
_LABEL_FOLDERS = {"INBOX", SENT, "[Gmail]/Drafts", "[Gmail]/Important", "[Gmail]/Starred"}


@dataclass
class GmailMessage:
    gm_msgid: int
    raw: bytes
    internal_date: datetime | None
    flags: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)  # folder names; TRASH/SPAM exclusive
    deleted_forever: bool = False

    @property
    def message_id(self) -> str | None:
        value = BytesHeaderParser(policy=compat32).parsebytes(self.raw).get("Message-ID")
        return str(value).strip() if value else None


@dataclass
class _Folder:
    uidvalidity: int
    uidnext: int = 1
    uids: dict[int, int] = field(default_factory=dict)  # uid -> gm_msgid


class GmailFake:
    """One Gmail account in memory. :meth:`session` opens a session on it; ``sessions``
    keeps every session opened, so a test can read each one's ``commands``."""

    def __init__(self, *, auto_expunge: bool = True, first_uidvalidity: int = 633655512) -> None:
        self.auto_expunge = auto_expunge
        self.messages: dict[int, GmailMessage] = {}
        self._ids = itertools.count(1438297078380071706)
        validity = itertools.count(first_uidvalidity)
        self.folders: dict[str, _Folder] = {
            name: _Folder(next(validity)) for _, name in GMAIL_LIST if name != "[Gmail]"
        }
        self.sessions: list[GmailFakeSession] = []

    # -- the account's mail -----------------------------------------------------------------

    def _place(self, message: GmailMessage, folder: str) -> int:
        box = self.folders[folder]
        uid = box.uidnext
        box.uidnext += 1
        box.uids[uid] = message.gm_msgid
        return uid

    def _uid_of(self, message: GmailMessage, folder: str) -> int | None:
        for uid, gm in self.folders[folder].uids.items():
            if gm == message.gm_msgid:
                return uid
        return None

    def _unplace(self, message: GmailMessage, folder: str) -> None:
        uid = self._uid_of(message, folder)
        if uid is not None:
            del self.folders[folder].uids[uid]

    def add(
        self,
        raw: bytes,
        labels: Sequence[str],
        *,
        flags: Sequence[str] = (),
        when: datetime | None = None,
    ) -> GmailMessage:
        message = GmailMessage(next(self._ids), raw, when, set(flags), set(labels))
        self.messages[message.gm_msgid] = message
        for label in labels:
            self._place(message, label)
        if not {TRASH, SPAM} & set(labels):
            self._place(message, ALL_MAIL)
        return message

    def submit(self, raw: bytes, *, when: datetime | None = None) -> GmailMessage | None:
        """What smtp.gmail.com does with a submitted message: files it in Sent Mail, \\Seen,
        unless one with its Message-ID is there already (fact 21)."""
        mid = BytesHeaderParser(policy=compat32).parsebytes(raw).get("Message-ID")
        for message in self.in_folder(SENT):
            if mid and message.message_id == str(mid).strip():
                return None
        return self.add(raw, [SENT], flags=["\\Seen"], when=when)

    def in_folder(self, folder: str) -> list[GmailMessage]:
        return [self.messages[gm] for _, gm in sorted(self.folders[folder].uids.items())]

    def _trash(self, message: GmailMessage) -> int:
        """Into Trash: out of every other label and All Mail; \\Deleted dropped (18, 19)."""
        for folder in list(self.folders):
            if folder != TRASH:
                self._unplace(message, folder)
        message.labels = {TRASH}
        message.flags.discard("\\Deleted")
        return self._place(message, TRASH)

    def _expunge(self, message: GmailMessage, folder: str) -> None:
        """Expunging from a folder: forever in Trash and Spam, else the label goes (15)."""
        self._unplace(message, folder)
        message.flags.discard("\\Deleted")
        if folder in (TRASH, SPAM):
            message.deleted_forever = True
            del self.messages[message.gm_msgid]
        else:
            message.labels.discard(folder)

    # -- sessions ---------------------------------------------------------------------------

    def session(self) -> GmailFakeSession:
        opened = GmailFakeSession(self)
        self.sessions.append(opened)
        return opened

    def opener(self, account: object, known: object) -> GmailFakeSession:
        """A :data:`~postroom.mailbox.login.SessionOpener` (the login itself is not faked)."""
        return self.session()


_TOKEN = re.compile(rb'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')


def _tokens(criteria: bytes) -> list[bytes]:
    out: list[bytes] = []
    position = 0
    while position < len(criteria):
        match = _TOKEN.match(criteria, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        if match[1] is not None:
            out.append(re.sub(rb"\\(.)", rb"\1", match[1]))
        elif match[2]:
            out.append(match[2])
    return out


class GmailFakeSession:
    """One logged-in session on a :class:`GmailFake`; every method is one command."""

    def __init__(self, fake: GmailFake) -> None:
        self.fake = fake
        self.capabilities = ImapCapabilities.parse([GMAIL_CAPABILITY])
        self.commands: list[str] = []
        self.selected: str | None = None
        self.closed = False

    def _box(self) -> _Folder:
        if self.selected is None:
            raise ImapFailed("BAD No folder selected", "SELECT first", transient=False)
        return self.fake.folders[self.selected]

    def _message(self, uid: int) -> GmailMessage | None:
        gm = self._box().uids.get(uid)
        return None if gm is None else self.fake.messages.get(gm)

    def list_folders(self) -> list[ListedFolder]:
        self.commands.append("LIST")
        return [ListedFolder(flags, "/", name) for flags, name in GMAIL_LIST]

    def select(self, folder: str) -> Selected:
        self.commands.append("SELECT")
        if folder not in self.fake.folders:
            raise ImapFailed(
                f"NO [NONEXISTENT] Unknown Mailbox: {folder}", "LIST again", transient=False
            )
        self.selected = folder
        box = self.fake.folders[folder]
        return Selected(folder, box.uidvalidity, box.uidnext, len(box.uids))

    def search(self, criteria: bytes) -> list[int]:
        self.commands.append("UID SEARCH")
        tokens = _tokens(criteria)
        box = self._box()

        def key(position: int) -> tuple[set[int], int]:
            word = tokens[position].upper()
            if word == b"OR":
                left, position = key(position + 1)
                right, position = key(position)
                return left | right, position
            if word == b"ALL":
                return set(box.uids), position + 1
            if word == b"HEADER":
                name = tokens[position + 1].decode().lower()
                value = tokens[position + 2].decode().lower()
                hits = set()
                for uid, gm in box.uids.items():
                    raw = self.fake.messages[gm].raw.split(b"\r\n\r\n", 1)[0]
                    for field_name, field_raw in header_fields(raw + b"\r\n"):
                        text = field_raw.decode("utf-8", "replace").partition(":")[2].lower()
                        if field_name == name and value in text:
                            hits.add(uid)
                return hits, position + 3
            if word == b"X-GM-MSGID":
                wanted = int(tokens[position + 1])
                return {u for u, gm in box.uids.items() if gm == wanted}, position + 2
            if word == b"UID":
                low, _, high = tokens[position + 1].decode().partition(":")
                top = max(box.uids, default=0) if high == "*" else int(high or low)
                start = int(low)
                if high == "*" and start > top:
                    start = top  # n:* always includes the last message (RFC 3501 6.4.8)
                return {u for u in box.uids if min(start, top) <= u <= max(start, top)}, (
                    position + 2
                )
            raise ImapFailed(f"BAD Could not parse command: {word!r}", "a bug", transient=False)

        found, end = key(0)
        if end != len(tokens):
            raise ImapFailed("BAD Could not parse command", "a bug", transient=False)
        return sorted(found)

    def fetch_headers(
        self, uids: Sequence[int], fields: Sequence[str], *, gmail_ids: bool = False
    ) -> dict[int, Fetched]:
        self.commands.append("UID FETCH")
        wanted = {f.lower() for f in fields}
        out: dict[int, Fetched] = {}
        for uid in uids:
            message = self._message(uid)
            if message is None:
                continue
            head = message.raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"
            picked = b"".join(raw for name, raw in header_fields(head) if name in wanted)
            out[uid] = Fetched(
                uid, picked + b"\r\n", tuple(sorted(message.flags)), message.gm_msgid
            )
        return out

    def fetch_headers_between(
        self, first_uid: int, last_uid: int, fields: Sequence[str], *, gmail_ids: bool = False
    ) -> dict[int, Fetched]:
        box = self._box()
        return self.fetch_headers(
            [u for u in sorted(box.uids) if first_uid <= u <= last_uid], fields
        )

    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]:
        self.commands.append("UID FETCH")
        return {u: m.raw for u in uids if (m := self._message(u)) is not None}

    def _copy_or_move(self, uids: Sequence[int], folder: str, *, move: bool) -> CopyUid | None:
        source, target = [], []
        for uid in sorted(uids):
            message = self._message(uid)
            if message is None:
                continue
            if folder == TRASH:
                new = self.fake._trash(message)
            else:
                existing = self.fake._uid_of(message, folder)
                new = existing if existing is not None else self.fake._place(message, folder)
                message.labels.add(folder)
                if move and self.selected is not None:
                    self.fake._expunge(message, self.selected)
            source.append(uid)
            target.append(new)
        if not source:
            return None
        return CopyUid(self.fake.folders[folder].uidvalidity, tuple(source), tuple(target))

    def move(self, uids: Sequence[int], folder: str) -> CopyUid | None:
        self.commands.append("UID MOVE")
        return self._copy_or_move(uids, folder, move=True)

    def copy(self, uids: Sequence[int], folder: str) -> CopyUid | None:
        self.commands.append("UID COPY")
        return self._copy_or_move(uids, folder, move=False)

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> int:
        self.commands.append("UID STORE")
        expunged = 0
        for uid in uids:
            message = self._message(uid)
            if message is None:
                continue
            message.flags.update(flags)
            if "\\Deleted" in flags and self.fake.auto_expunge:
                assert self.selected is not None
                self.fake._expunge(message, self.selected)
                expunged += 1
        return expunged

    def uid_expunge(self, uids: Sequence[int]) -> None:
        self.commands.append("UID EXPUNGE")
        assert self.selected is not None
        for uid in uids:
            message = self._message(uid)
            if message is not None and "\\Deleted" in message.flags:
                self.fake._expunge(message, self.selected)

    def append(
        self, folder: str, data: bytes, flags: Sequence[str], when: datetime
    ) -> AppendUid | None:
        self.commands.append("APPEND")
        mid = BytesHeaderParser(policy=compat32).parsebytes(data).get("Message-ID")
        mid = str(mid).strip() if mid else None
        if mid:
            for message in list(self.fake.messages.values()):
                if message.message_id != mid:
                    continue
                if self.fake._uid_of(message, folder) is not None:
                    self.fake._expunge(message, folder)  # a similar message is replaced
                    break
                return None  # a global duplicate: accepted and thrown away
        message = self.fake.add(data, [folder], flags=flags, when=when)
        uid = self.fake._uid_of(message, folder)
        assert uid is not None
        return AppendUid(self.fake.folders[folder].uidvalidity, uid)

    def wait(self, timeout: float) -> bool:
        self.commands.append("IDLE")
        return False

    def close(self) -> None:
        self.closed = True
