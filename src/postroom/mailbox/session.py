"""The IMAP seam: the few commands the Mailbox part sends, as one :class:`ImapSession`
protocol, served by IMAPClient against a real server (:class:`ImapClientSession`) and by
:class:`~postroom.mailbox.fake.GmailFake` in tests.

Every method is exactly one IMAP command (IDLE and its DONE count as one), and each is
recorded in ``commands``: the reconciliation's budget of commands per email is measured on
this list (and, in the tests, on the wire).
"""

from __future__ import annotations

import contextlib
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from postroom.errors import ImapFailed
from postroom.mailbox.capabilities import ImapCapabilities
from postroom.mailbox.folders import ListedFolder


@dataclass(frozen=True, slots=True)
class Selected:
    """What SELECT said about a folder (RFC 3501 section 6.3.1)."""

    folder: str
    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True, slots=True)
class CopyUid:
    """RFC 4315 COPYUID: where the copied (or moved) messages went in the target folder."""

    uidvalidity: int
    source: tuple[int, ...]
    target: tuple[int, ...]

    def mapping(self) -> dict[int, int]:
        return dict(zip(self.source, self.target, strict=False))


@dataclass(frozen=True, slots=True)
class AppendUid:
    """RFC 4315 APPENDUID: the appended message's UID."""

    uidvalidity: int
    uid: int


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message's header fields (fetched with BODY.PEEK: \\Seen is left alone), flags and,
    on Gmail, its X-GM-MSGID."""

    uid: int
    header: bytes
    flags: tuple[str, ...]
    gm_msgid: int | None = None


class ImapSession(Protocol):
    """An authenticated IMAP connection. Each method sends one command."""

    capabilities: ImapCapabilities
    commands: list[str]

    def list_folders(self) -> list[ListedFolder]: ...
    def select(self, folder: str) -> Selected: ...
    def search(self, criteria: bytes) -> list[int]: ...
    def fetch_headers(
        self, uids: Sequence[int], fields: Sequence[str], *, gmail_ids: bool = False
    ) -> dict[int, Fetched]: ...
    def fetch_headers_between(
        self, first_uid: int, last_uid: int, fields: Sequence[str], *, gmail_ids: bool = False
    ) -> dict[int, Fetched]: ...
    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]: ...
    def move(self, uids: Sequence[int], folder: str) -> CopyUid | None: ...
    def copy(self, uids: Sequence[int], folder: str) -> CopyUid | None: ...
    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> int: ...
    def uid_expunge(self, uids: Sequence[int]) -> None: ...
    def append(
        self, folder: str, data: bytes, flags: Sequence[str], when: datetime
    ) -> AppendUid | None: ...
    def wait(self, timeout: float) -> bool: ...
    def close(self) -> None: ...


# -- parsing response codes ------------------------------------------------------------------


def parse_uid_set(text: str) -> tuple[int, ...]:
    """``1:3,7`` -> (1, 2, 3, 7) (RFC 3501 section 9 sequence-set, UIDs only)."""
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        a = int(low)
        b = int(high) if high else a
        step = 1 if b >= a else -1
        out.extend(range(a, b + step, step))
    return tuple(out)


_COPYUID = re.compile(r"COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)", re.IGNORECASE)
_APPENDUID = re.compile(r"APPENDUID (\d+) (\d+)", re.IGNORECASE)


def parse_copyuid(text: str) -> CopyUid | None:
    match = _COPYUID.search(text)
    if match is None:
        return None
    return CopyUid(int(match[1]), parse_uid_set(match[2]), parse_uid_set(match[3]))


def parse_appenduid(text: str) -> AppendUid | None:
    match = _APPENDUID.search(text)
    return None if match is None else AppendUid(int(match[1]), int(match[2]))


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return str(value)


def uid_set(uids: Sequence[int]) -> str:
    return ",".join(str(u) for u in sorted(set(uids)))


# -- IMAPClient ------------------------------------------------------------------------------


class ImapClientSession:
    """:class:`ImapSession` over an IMAPClient connection that is logged in already."""

    def __init__(self, client: Any, known: ImapCapabilities | None = None) -> None:
        self.client = client
        self.commands: list[str] = []
        # IMAPClient reads the capabilities the login answer carried (no command); when the
        # server sent none, those learned earlier stand in, and only without them is a
        # CAPABILITY command spent.
        imap = client._imap  # imaplib keeps response codes here; IMAPClient hides them
        if "CAPABILITY" in imap.untagged_responses or known is None:
            if "CAPABILITY" not in imap.untagged_responses:
                self.commands.append("CAPABILITY")
            self.capabilities = ImapCapabilities.parse(client.capabilities())
        else:
            self.capabilities = known
            client._cached_capabilities = tuple(n.encode() for n in known.names)

    def _codes(self, name: str) -> list[str]:
        found = self.client._imap.untagged_responses.pop(name, None) or []
        return [_text(v) for v in found]

    def _run(self, name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.commands.append(name)
        try:
            return func(*args, **kwargs)
        except (OSError, ssl.SSLError) as exc:
            raise ImapFailed(f"the IMAP connection broke during {name}: {exc}", "retry") from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("imapclient", "imaplib")):
                raise ImapFailed(
                    f"the IMAP server refused {name}: {exc}",
                    "check the account's IMAP settings and what its server offers "
                    "(`postroom accounts test NAME`)",
                    transient=False,
                ) from exc
            raise

    def list_folders(self) -> list[ListedFolder]:
        rows = self._run("LIST", self.client.list_folders)
        out = []
        for flags, delimiter, name in rows:
            out.append(
                ListedFolder(
                    tuple(_text(f) for f in flags),
                    _text(delimiter) if delimiter else None,
                    _text(name),
                )
            )
        return out

    def select(self, folder: str) -> Selected:
        info = self._run("SELECT", self.client.select_folder, folder)
        return Selected(
            folder,
            int(info.get(b"UIDVALIDITY", 0)),
            int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            int(info.get(b"EXISTS", 0)),
        )

    def search(self, criteria: bytes) -> list[int]:
        return sorted(int(u) for u in self._run("UID SEARCH", self.client.search, criteria))

    def fetch_headers(
        self, uids: Sequence[int], fields: Sequence[str], *, gmail_ids: bool = False
    ) -> dict[int, Fetched]:
        if not uids:
            return {}
        return self._fetch_headers(list(uids), fields, gmail_ids)

    def fetch_headers_between(
        self, first_uid: int, last_uid: int, fields: Sequence[str], *, gmail_ids: bool = False
    ) -> dict[int, Fetched]:
        """One UID FETCH of every UID from ``first_uid`` to ``last_uid`` (UIDs no message has
        are simply not answered, RFC 3501 6.4.8). Listed one by one: IMAPClient keeps only
        the answers for the UIDs it was given, so it takes no ``n:m`` range."""
        return self._fetch_headers(list(range(max(1, first_uid), last_uid + 1)), fields, gmail_ids)

    def _fetch_headers(
        self, messages: list[int], fields: Sequence[str], gmail_ids: bool
    ) -> dict[int, Fetched]:
        if not messages:
            return {}
        items = [f"BODY.PEEK[HEADER.FIELDS ({' '.join(fields).upper()})]", "FLAGS"]
        if gmail_ids:
            items.append("X-GM-MSGID")
        data = self._run("UID FETCH", self.client.fetch, messages, items)
        out: dict[int, Fetched] = {}
        for uid, values in data.items():
            header = b""
            for key, value in values.items():
                if isinstance(key, bytes) and key.startswith(b"BODY[HEADER"):
                    header = bytes(value or b"")
            flags = tuple(_text(f) for f in values.get(b"FLAGS", ()))
            gm = values.get(b"X-GM-MSGID")
            out[int(uid)] = Fetched(int(uid), header, flags, int(gm) if gm else None)
        return out

    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]:
        if not uids:
            return {}
        data = self._run("UID FETCH", self.client.fetch, list(uids), ["BODY.PEEK[]"])
        return {int(uid): bytes(values.get(b"BODY[]") or b"") for uid, values in data.items()}

    def _copyuid(self, answer: Any) -> CopyUid | None:
        # Gmail puts COPYUID in the tagged OK; Dovecot in an untagged OK before the EXPUNGEs
        # (imaplib files the data of both under the code's name).
        for text in [_text(answer), *(f"COPYUID {t}" for t in self._codes("COPYUID"))]:
            found = parse_copyuid(text)
            if found is not None:
                return found
        return None

    def move(self, uids: Sequence[int], folder: str) -> CopyUid | None:
        self._codes("COPYUID")
        return self._copyuid(self._run("UID MOVE", self.client.move, list(uids), folder))

    def copy(self, uids: Sequence[int], folder: str) -> CopyUid | None:
        self._codes("COPYUID")
        return self._copyuid(self._run("UID COPY", self.client.copy, list(uids), folder))

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> int:
        """UID STORE +FLAGS.SILENT; returns how many EXPUNGE responses came with it (Gmail
        expunges \\Deleted messages at once by default, GMAIL-IMAP.md fact 16)."""
        self._codes("EXPUNGE")
        self._run("UID STORE", self.client.add_flags, list(uids), [f.encode() for f in flags], True)
        return len(self._codes("EXPUNGE"))

    def uid_expunge(self, uids: Sequence[int]) -> None:
        """RFC 4315 UID EXPUNGE: only these UIDs, never the folder's other \\Deleted mail."""
        self.capabilities.require(
            "UIDPLUS",
            "expunging only postroom's messages",
            "a server without UIDPLUS is cleaned with MOVE to Trash instead",
        )
        self._run("UID EXPUNGE", self.client.uid_expunge, list(uids))
        self._codes("EXPUNGE")

    def append(
        self, folder: str, data: bytes, flags: Sequence[str], when: datetime
    ) -> AppendUid | None:
        self._codes("APPENDUID")
        answer = self._run(
            "APPEND", self.client.append, folder, data, [f.encode() for f in flags], when
        )
        for text in [_text(answer), *(f"APPENDUID {t}" for t in self._codes("APPENDUID"))]:
            found = parse_appenduid(text)
            if found is not None:
                return found
        return None

    def wait(self, timeout: float) -> bool:
        """IDLE (RFC 2177) until the server reports a change or ``timeout``; without IDLE, a
        plain sleep (the caller polls)."""
        if not self.capabilities.idle:
            time.sleep(timeout)
            return False
        self.commands.append("IDLE")
        try:
            self.client.idle()
            responses = self.client.idle_check(timeout=timeout)
            self.client.idle_done()
        except (OSError, ssl.SSLError) as exc:
            raise ImapFailed(f"the IMAP connection broke during IDLE: {exc}", "retry") from exc
        return bool(responses)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()
        with contextlib.suppress(Exception):
            self.client.shutdown()


def connect_client(
    host: str,
    port: int,
    security: str,
    *,
    timeout: float = 30.0,
    ca_file: str | None = None,
    tls_server_name: str | None = None,
) -> Any:
    """An IMAPClient connected (TLS as asked: ``tls`` from the first byte, ``starttls``, or
    ``none`` for loopback only), not yet logged in."""
    from imapclient import IMAPClient

    context = None
    if security in ("tls", "starttls"):
        context = ssl.create_default_context(cafile=ca_file)
        if tls_server_name is not None:
            context.check_hostname = True
    try:
        client = IMAPClient(
            host, port=port, ssl=security == "tls", ssl_context=context, timeout=timeout
        )
        if security == "starttls":
            client.starttls(context)
    except (TimeoutError, OSError, ssl.SSLError) as exc:
        raise ImapFailed(
            f"cannot reach the IMAP server {host}:{port}: {exc}",
            "check the account's --imap host and port, and that the server is up",
        ) from exc
    except Exception as exc:
        raise ImapFailed(
            f"the IMAP server {host}:{port} refused the connection: {exc}",
            "check --imap-security (tls for port 993, starttls for 143)",
        ) from exc
    return client
