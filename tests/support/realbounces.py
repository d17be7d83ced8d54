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
  a port of 127.0.0.2 that nobody listens on, and sends its own DSNs to the sink. Delay
  warnings after 2 s, expiry after 6 s.
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
import signal
import smtplib
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
#: Where nothing listens: a loopback address of its own, so that the servers' memory of a
#: dead host (OpenSMTPD disables a route per address) never covers the sink on 127.0.0.1.
DEAD_HOST = "127.0.0.2"


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


# --- Exim, OpenSMTPD and vacation(1) from their packages --------------------------------------

EXIM_CONF = """\
exim_user = Debian-exim
exim_group = Debian-exim
never_users =
primary_hostname = mail.exim.test
qualify_domain = exim.test
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
keep_environment =
domainlist local_domains = exim.test
delay_warning = 2s
host_lookup =
# As a receiving server (for S), with configure.default's RCPT checks.
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept hosts = :
  require message = relay not permitted
          domains = +local_domains
  require verify = recipient
  accept
begin routers
sink:
  driver = manualroute
  domains = send.test
  transport = to_sink
  route_list = * 127.0.0.1
  self = send
receiver:
  driver = manualroute
  domains = rcpt.test : norelay.test
  transport = to_receiver
  route_list = * 127.0.0.1
  self = send
dead:
  driver = manualroute
  domains = dead.test
  transport = to_dead
  route_list = * {dead_host}
  self = send
# As Exim's configure.default: local users, and "Unknown user" for the rest.
localuser:
  driver = accept
  domains = +local_domains
  local_parts = known
  transport = local_file
  cannot_route_message = Unknown user
begin transports
to_sink:
  driver = smtp
  port = {sink}
  allow_localhost
to_receiver:
  driver = smtp
  port = {receiver}
  allow_localhost
to_dead:
  driver = smtp
  port = {dead}
  allow_localhost
local_file:
  driver = appendfile
  file = {root}/mail/$local_part
  user = Debian-exim
begin retry
*  *  F,3s,1s
"""

SMTPD_CONF = """\
queue ttl 6s
bounce warn-interval 2s
listen on 127.0.0.1 port {port} hostname mail.smtpd.test
action "to_receiver" relay host smtp://127.0.0.1:{receiver}
action "to_dead" relay host smtp://{dead_host}:{dead}
action "to_sink" relay host smtp://127.0.0.1:{sink}
match from any for domain "rcpt.test" action "to_receiver"
match from any for domain "norelay.test" action "to_receiver"
match from any for domain "dead.test" action "to_dead"
match from any for domain "send.test" action "to_sink"
match from local for any action "to_sink"
"""

# /usr/sbin/sendmail for vacation(1): keeps the message it is handed, and its arguments apart.
SENDMAIL_STAND_IN = """\
#!/bin/sh
out="$VACATION_OUT"
printf '%s\\n' "$*" > "$out.args"
cat > "$out.tmp" && mv "$out.tmp" "$out"
"""

# The users the packages' binaries look up, with the ids they run as here.
_EXIM_USER = ("Debian-exim", 60101, 60101)
_SMTPD_USERS = (("opensmtpd", 60102, 60102), ("opensmtpq", 60103, 60103))
_VACATION_USER = ("away", 60104, 60104)


@dataclass
class PackagedSoftware:
    """Exim, OpenSMTPD and vacation(1) unpacked, each run in a private mount namespace."""

    root: Path
    sink: Sink
    receiver_port: int
    dead_port: int
    exim_port: int = 0
    smtpd_port: int = 0
    _smtpd: subprocess.Popen[bytes] | None = None
    _exim: subprocess.Popen[bytes] | None = None

    @property
    def sbin(self) -> Path:
        return self.root / "sbin"

    def prepare(self) -> None:
        """Unpack the packages and write each program's configuration and namespace files."""
        self.sbin.mkdir(parents=True)
        exim = unpacked("exim4-daemon-light") / "usr/sbin/exim4"
        smtpd_tree = unpacked("opensmtpd")
        vacation = unpacked("vacation") / "usr/bin/vacation"
        # /usr/sbin inside the namespaces: the paths these binaries re-run themselves from.
        (self.sbin / "exim4").symlink_to(exim)
        (self.sbin / "smtpd").symlink_to(smtpd_tree / "usr/sbin/smtpd")
        (self.sbin / "smtpctl").symlink_to(smtpd_tree / "usr/sbin/smtpctl")
        stand_in = self.sbin / "sendmail"
        stand_in.write_text(SENDMAIL_STAND_IN)
        stand_in.chmod(0o755)
        self.root.chmod(0o755)
        self.vacation = vacation
        uid, gid = _EXIM_USER[1], _EXIM_USER[2]
        ex = self.root / "exim"
        for sub in ("spool", "log", "mail"):
            (ex / sub).mkdir(parents=True)
            os.chown(ex / sub, uid, gid)
        ex.chmod(0o755)
        (ex / "exim.conf").write_text(
            EXIM_CONF.format(
                port=self.exim_port,
                dead_host=DEAD_HOST,
                root=ex,
                sink=self.sink.port,
                receiver=self.receiver_port,
                dead=self.dead_port,
            )
        )
        os_dir = self.root / "opensmtpd"
        (os_dir / "spool" / "smtpd").mkdir(parents=True)
        (os_dir / "spool" / "smtpd").chmod(0o711)
        (os_dir / "run").mkdir()
        self.smtpd_port = free_port()
        (os_dir / "smtpd.conf").write_text(
            SMTPD_CONF.format(
                dead_host=DEAD_HOST,
                port=self.smtpd_port,
                receiver=self.receiver_port,
                dead=self.dead_port,
                sink=self.sink.port,
            )
        )
        home = self.root / "vacation" / "home"
        home.mkdir(parents=True)
        self.identities = identity_files(
            self.root,
            [_EXIM_USER, *_SMTPD_USERS, _VACATION_USER],
        )
        # vacation(1) looks its user's home up in /etc/passwd: point it at the lab's.
        passwd = self.root / "passwd"
        name, vuid, vgid = _VACATION_USER
        passwd.write_text(
            passwd.read_text().replace(
                f"{name}:x:{vuid}:{vgid}::/nonexistent:", f"{name}:x:{vuid}:{vgid}::{home}:"
            )
        )

    def _namespace(self, *extra: tuple[Path, str]) -> Namespace:
        return Namespace([*self.identities.binds, (self.sbin, "/usr/sbin"), *extra])

    # Exim ------------------------------------------------------------------------------------

    def exim(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run the unpacked Exim with the lab's configuration."""
        conf = self.root / "exim" / "exim.conf"
        argv = self._namespace().command(["/usr/sbin/exim4", "-C", str(conf), *args])
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=30, check=False)

    def exim_submit(self, to: str, subject: str, body: str = "Hello.\n") -> str:
        """Hand Exim a message on its command line and let it try delivery at once."""
        mid = make_msgid(domain="send.test")
        message = (
            f"From: {SENDER}\nTo: {to}\nSubject: {subject}\nMessage-ID: {mid}\n\n{body}"
        ).encode()
        done = self.exim("-odi", "-f", SENDER, to, stdin=message)
        if done.returncode != 0:
            raise LabUnavailable(f"exim refused the message: {done.stderr.decode()}")
        return mid.strip("<>")

    def start_exim(self) -> None:
        """Start Exim's SMTP daemon in the foreground (``-bdf``) on its loopback port."""
        conf = self.root / "exim" / "exim.conf"
        argv = self._namespace().command(["/usr/sbin/exim4", "-C", str(conf), "-bdf"])
        self._exim = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for_smtp(self._exim, self.exim_port, lambda: "Exim:\n" + self.exim_log())

    def exim_log(self) -> str:
        path = self.root / "exim" / "log" / "mainlog"
        return path.read_text(errors="replace") if path.exists() else ""

    # OpenSMTPD -------------------------------------------------------------------------------

    def start_smtpd(self) -> None:
        """Start OpenSMTPD in the foreground, with its spool, sockets and chroot private."""
        os_dir = self.root / "opensmtpd"
        ns = self._namespace((os_dir / "spool", "/var/spool"), (os_dir / "run", "/run"))
        # Its privilege-separated processes chroot to the compiled-in /var/lib/opensmtpd/empty.
        argv = ns.command(
            [
                "sh",
                "-c",
                "mount -t tmpfs -o mode=755 none /var/lib && "
                'mkdir -p /var/lib/opensmtpd/empty && exec "$@"',
                "sh",
                "/usr/sbin/smtpd",
                "-d",
                "-f",
                str(os_dir / "smtpd.conf"),
            ]
        )
        log = (os_dir / "smtpd.log").open("ab")
        self._smtpd = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        _wait_for_smtp(self._smtpd, self.smtpd_port, lambda: "OpenSMTPD:\n" + self.smtpd_log())

    def smtpd_log(self) -> str:
        path = self.root / "opensmtpd" / "smtpd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in (self._smtpd, self._exim):
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        self._smtpd = self._exim = None

    # vacation(1) -----------------------------------------------------------------------------

    def vacation_reply(self, message: bytes, vacation_msg: str) -> bytes:
        """Hand vacation(1) a delivered message (with its mbox "From " line, as a .forward
        pipe gets it) and return the reply it gives /usr/sbin/sendmail."""
        home = self.root / "vacation" / "home"
        (home / ".vacation.msg").write_text(vacation_msg)
        db = home / ".vacation.db"
        db.unlink(missing_ok=True)
        out = self.root / "vacation" / "reply"
        out.unlink(missing_ok=True)
        env = {**os.environ, "VACATION_OUT": str(out)}
        vac = self._namespace().command
        subprocess.run(vac([str(self.vacation), "-i", "-f", str(db)]), check=True, timeout=30)
        args = ["-f", str(db), "-m", str(home / ".vacation.msg"), "-a", "away@rcpt.test", "away"]
        subprocess.run(
            vac([str(self.vacation), *args]), input=message, env=env, check=True, timeout=30
        )
        # vacation(1) does not wait for sendmail to finish reading the reply.
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not out.exists():
            raise AssertionError("vacation(1) sent no reply")
        return out.read_bytes()


def _wait_for_smtp(process: subprocess.Popen[bytes], port: int, log: Callable[[], str]) -> None:
    """Wait until a server started in the background greets on ``port``."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabUnavailable("exited while starting: " + log())
        with contextlib.suppress(OSError), smtplib.SMTP(_HOST, port, timeout=2):
            return
        time.sleep(0.05)
    raise LabUnavailable("did not answer: " + log())


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
    packaged: PackagedSoftware

    private: Path | None = None

    def stop(self) -> None:
        try:
            self.packaged.stop()
            self.sender.stop()
        finally:
            try:
                self.receiver.stop()
            finally:
                self.sink.stop()
                if self.private is not None:
                    shutil.rmtree(self.private, ignore_errors=True)

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
    # The servers' unprivileged users must reach these files: a directory of its own in the
    # system temporary directory (pytest's are mode 700), removed by stop().
    private = Path(tempfile.mkdtemp(prefix="bouncelab-"))
    private.chmod(0o755)
    sink = Sink.start()
    try:
        sieve_dir = private / "sieve"
        sieve_dir.mkdir(mode=0o755)
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
        shutil.rmtree(private, ignore_errors=True)
        raise
    dead_port, exim_port = free_port(), free_port()
    try:
        sender = start_mail_servers(
            root / "sender",
            users=(("postmaster@s.test", "secret-postmaster"),),
            local_domains=("s.test",),
            smtp_routes={
                "rcpt.test": (_HOST, receiver.smtp_port),
                "norelay.test": (_HOST, receiver.smtp_port),
                "dead.test": (DEAD_HOST, dead_port),
                "exim.test": (_HOST, exim_port),
                "eximrelay.test": (_HOST, exim_port),
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
        shutil.rmtree(private, ignore_errors=True)
        raise
    packaged = PackagedSoftware(
        private / "packages", sink, receiver.smtp_port, dead_port, exim_port=exim_port
    )
    lab = BounceLab(sink, receiver, sender, root, dead_port, packaged, private)
    try:
        packaged.prepare()
        packaged.start_smtpd()
        packaged.start_exim()
    except BaseException:
        lab.stop()
        raise
    return lab


@contextlib.contextmanager
def bounce_lab(root: Path) -> Iterator[BounceLab]:
    lab = start_bounce_lab(root)
    try:
        yield lab
    finally:
        lab.stop()
