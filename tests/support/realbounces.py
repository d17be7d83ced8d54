"""Real mail software that bounces, auto-replies and refuses, for the classifier's tests.

`start_bounce_lab()` starts, on loopback ports:

- a **sink**: an aiosmtpd SMTP server that keeps every message it is given. Every notice the
  software below writes goes to the original sender, whose domain (``send.test``) every
  server routes to the sink.
- **R**, the receiving side: a private Postfix + Dovecot (``tests/support/mailservers.py``)
  for ``rcpt.test``. Postfix refuses messages over 20 000 bytes; Dovecot's LMTP keeps a quota
  (``full@`` may store 1 KB) and runs a global Sieve script: ``away@`` answers with a
  Pigeonhole vacation, ``picky@`` rejects (RFC 5429). Dovecot sends those replies to the sink.
- **S**, the sending side: a second Postfix that the test hands messages to over SMTP. It
  relays ``rcpt.test`` and ``norelay.test`` (which R refuses to relay) to R, ``dead.test`` to
  a loopback port nobody listens on, and sends its own DSNs to the sink. Delay warnings after
  2 s, expiry after 6 s.
- **Exim** and **OpenSMTPD**, from their Debian packages unpacked in a cache directory (their
  packages conflict with Postfix, so they are never installed): each runs from its own
  configuration as root inside a private mount namespace (``unshare``), where the users and
  spool paths their binaries were built for are bind-mounted from temporary files, so
  nothing on the machine changes.
- **vacation(1)** (Debian's ``vacation``), run the same way, with ``/usr/sbin/sendmail``
  bound to a stand-in that keeps the reply it writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from .mailservers import MAIL_GID, MAIL_UID, MailServers, free_port, start_mail_servers

#: Debian packages whose binaries are unpacked (never installed) for these tests.
DEBS = ("exim4-daemon-light", "exim4-base", "opensmtpd", "vacation")
#: Where the downloaded .deb files and their unpacked trees are kept between runs.
CACHE = Path(os.environ.get("POSTROOM_DEB_CACHE", "/var/cache/postroom-debs"))

SENDER = "sender@send.test"
_HOST = "127.0.0.1"


class LabUnavailable(RuntimeError):
    """A program the lab needs could not be found or fetched."""


# --- the sink ----------------------------------------------------------------------------------


@dataclass
class Received:
    """One message the sink was given."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


class _Keep:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.sink.lock:
            self.sink.messages.append(
                Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), bytes(content))
            )
        return "250 2.0.0 kept"


@dataclass
class Sink:
    """An SMTP server on loopback that keeps what it receives."""

    port: int
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @classmethod
    def start(cls) -> Sink:
        sink = cls(free_port())
        controller = Controller(_Keep(sink), hostname=_HOST, port=sink.port)
        controller.start()
        sink._controller = controller
        return sink

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, needle: bytes, count: int = 1, timeout: float = 20.0) -> list[Received]:
        """The messages that contain ``needle`` (a Message-ID, a subject), once ``count`` are
        there; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [m for m in self.messages if needle in m.data]
            if len(found) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if len(found) < count:
            raise AssertionError(f"{len(found)} of {count} messages with {needle!r} arrived")
        return found


# --- Debian packages, unpacked -----------------------------------------------------------------


def unpacked(package: str) -> Path:
    """The tree of a Debian package unpacked under :data:`CACHE` (downloaded once with
    ``apt-get download``, unpacked with ``dpkg-deb -x``)."""
    root = CACHE / "tree" / package
    if (root / ".done").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    debs = sorted(CACHE.glob(f"{package}_*.deb"))
    if not debs:
        result = subprocess.run(
            ["apt-get", "download", package],
            cwd=CACHE,
            capture_output=True,
            text=True,
            timeout=120,
        )
        debs = sorted(CACHE.glob(f"{package}_*.deb"))
        if not debs:
            raise LabUnavailable(
                f"could not download the Debian package {package}: {result.stderr.strip()}\n"
                "run scripts/bootstrap --services (it fetches them), or 'apt-get update' first"
            )
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True, timeout=60)
    (root / ".done").touch()
    return root


@dataclass
class Namespace:
    """Bind mounts for a private mount namespace: (file or directory to show, where)."""

    binds: list[tuple[Path, str]] = field(default_factory=list)

    def command(self, argv: Sequence[str]) -> list[str]:
        mounts = " && ".join(f"mount --bind '{src}' '{dst}'" for src, dst in self.binds)
        script = f'{mounts} && exec "$@"' if mounts else 'exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]


def identity_files(directory: Path, users: Sequence[tuple[str, int, int]]) -> Namespace:
    """/etc/passwd and /etc/group with ``users`` (name, uid, gid) added, for a namespace."""
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    for name, uid, gid in users:
        passwd += f"{name}:x:{uid}:{gid}::/nonexistent:/usr/sbin/nologin\n"
        group += f"{name}:x:{gid}:\n"
    (directory / "passwd").write_text(passwd)
    (directory / "group").write_text(group)
    return Namespace([(directory / "passwd", "/etc/passwd"), (directory / "group", "/etc/group")])


# --- the lab -----------------------------------------------------------------------------------


AUTO_SIEVE = """\
require ["envelope", "vacation", "reject"];
if envelope :localpart :is "to" "away" {
  vacation :days 1 :subject "Out of office" "I am out of the office until Monday.";
}
if envelope :localpart :is "to" "picky" {
  reject "I do not accept messages from this sender.";
  stop;
}
"""


@dataclass
class BounceLab:
    """The running servers of :func:`start_bounce_lab`."""

    sink: Sink
    receiver: MailServers
    sender: MailServers
    root: Path
    dead_port: int

    def stop(self) -> None:
        try:
            self.sender.stop()
        finally:
            try:
                self.receiver.stop()
            finally:
                self.sink.stop()

    def send(
        self,
        to: str,
        *,
        subject: str = "hello",
        body: str = "Hello.\n",
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
        headers: dict[str, str] | None = None,
        port: int | None = None,
        sender: str = SENDER,
    ) -> str:
        """Hand a message to S over SMTP (RFC 3461 options allowed); returns its Message-ID."""
        message = EmailMessage()
        mid = make_msgid(domain="send.test")
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = mid
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        with smtplib.SMTP(_HOST, port or self.sender.smtp_port, timeout=10) as smtp:
            smtp.ehlo("client.send.test")
            smtp.sendmail(sender, [to], message.as_bytes(), list(mail_options), list(rcpt_options))
        return mid.strip("<>")


def start_bounce_lab(root: Path) -> BounceLab:
    """Start the sink, R and S (see the module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    sink = Sink.start()
    try:
        sieve_dir = Path(tempfile.mkdtemp(prefix="bouncelab-sieve-"))
        sieve_dir.chmod(0o755)
        script = sieve_dir / "auto.sieve"
        script.write_text(AUTO_SIEVE)
        os.chown(sieve_dir, MAIL_UID, MAIL_GID)
        os.chown(script, MAIL_UID, MAIL_GID)
        receiver = start_mail_servers(
            root / "receiver",
            users=(
                ("alice@rcpt.test", "secret-alice"),
                ("full@rcpt.test", "secret-full"),
                ("away@rcpt.test", "secret-away"),
                ("picky@rcpt.test", "secret-picky"),
            ),
            local_domains=("rcpt.test",),
            smtp_routes={"send.test": (_HOST, sink.port)},
            postfix_options={"message_size_limit": "20000"},
            userdb_fields={"full@rcpt.test": "userdb_quota_rule=*:storage=1K"},
            dovecot_extra=(
                "mail_plugins = $mail_plugins quota\n"
                "protocol lmtp {\n  mail_plugins = quota sieve\n}\n"
                f"submission_host = {_HOST}:{sink.port}\n"
                "plugin {\n"
                "  quota = maildir:User quota\n"
                f"  sieve_before2 = {script}\n"
                "}\n"
            ),
        )
    except BaseException:
        sink.stop()
        raise
    dead_port = free_port()
    try:
        sender = start_mail_servers(
            root / "sender",
            users=(("postmaster@s.test", "secret-postmaster"),),
            local_domains=("s.test",),
            smtp_routes={
                "rcpt.test": (_HOST, receiver.smtp_port),
                "norelay.test": (_HOST, receiver.smtp_port),
                "dead.test": (_HOST, dead_port),
                "send.test": (_HOST, sink.port),
            },
            postfix_options={
                "delay_warning_time": "2s",
                "maximal_queue_lifetime": "6s",
                "bounce_queue_lifetime": "6s",
                "smtp_connect_timeout": "2s",
            },
        )
    except BaseException:
        receiver.stop()
        sink.stop()
        raise
    return BounceLab(sink, receiver, sender, root, dead_port)


@contextlib.contextmanager
def bounce_lab(root: Path) -> Iterator[BounceLab]:
    lab = start_bounce_lab(root)
    try:
        yield lab
    finally:
        lab.stop()
