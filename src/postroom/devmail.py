"""A private Dovecot IMAP server for ``postroom demo``: loopback only, one mailbox, every file
in the demo's folder, nothing read from /etc. Started when Dovecot is installed and postroom
runs as root (Dovecot drops to a mailbox uid of its own); otherwise :class:`DevMailUnavailable`
says why, and the demo says so and goes on without a Sent folder.

    server = start_imap(workdir / "imap", "news@forum.localhost")
    ... IMAPClient(server.host, server.port).login(server.user, server.password) ...
    server.stop()
"""

from __future__ import annotations

import contextlib
import grp
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from postroom.errors import PostroomError

MAIL_UID = MAIL_GID = 5000
HOST = "127.0.0.1"

_CONF = """# A private Dovecot for postroom demo: loopback only, nothing read from /etc.
base_dir = {run}
state_dir = {state}
instance_name = postroom-demo-{port}
protocols = imap
listen = 127.0.0.1
ssl = no
log_path = {log}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {users}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class DevMailUnavailable(PostroomError):
    """No private IMAP server here; the message says why and how to get one."""


@dataclass
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    folder: Path
    _process: subprocess.Popen[bytes] = field(repr=False)
    _temporary: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._temporary:
            shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _dovecot() -> str:
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/bin/dovecot") if Path(p).exists()), None
    )
    if found is None or not Path("/usr/lib/dovecot/imap").exists():
        raise DevMailUnavailable(
            "Dovecot is not installed (apt-get install dovecot-core dovecot-imapd)"
        )
    if os.geteuid() != 0:
        raise DevMailUnavailable("a private Dovecot needs root (it runs mailboxes as uid 5000)")
    try:
        grp.getgrnam("dovecot")
    except KeyError:
        raise DevMailUnavailable("the dovecot group is missing: reinstall dovecot-core") from None
    return found


def _reachable(folder: Path) -> bool:
    """Whether Dovecot's unprivileged processes (auth as ``dovecot``, imap as uid 5000) can
    walk down to ``folder``: every existing ancestor must be searchable by others."""
    for ancestor in folder.absolute().parents:
        with contextlib.suppress(FileNotFoundError):
            if not ancestor.stat().st_mode & stat.S_IXOTH:
                return False
    return True


def start_imap(folder: Path, user: str, *, timeout: float = 10.0) -> ImapServer:
    """Start Dovecot with one mailbox ``user`` (a fresh password) under ``folder``.

    When a parent of ``folder`` is closed to other users (pytest's ``/tmp/pytest-of-root`` is
    0700, so is a home directory), Dovecot's unprivileged processes could not read the user
    file or the mailbox; the server then lives in a fresh 0755 folder under the system's
    temporary directory instead, named in :attr:`ImapServer.folder`, and ``stop`` removes it.
    """
    binary = _dovecot()
    temporary = not _reachable(folder)
    if temporary:
        folder = Path(tempfile.mkdtemp(prefix="postroom-imap-"))
    if folder.exists():
        shutil.rmtree(folder)
    run, state, mail = folder / "run", folder / "state", folder / "mail"
    for directory in (folder, run, state):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        directory.chmod(0o755)
    mail.mkdir(mode=0o700)
    os.chown(mail, MAIL_UID, MAIL_GID)
    password = secrets.token_urlsafe(12)
    users = folder / "users"
    users.write_text(f"{user}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_GID}::{mail / user}::\n")
    os.chown(users, 0, grp.getgrnam("dovecot").gr_gid)
    users.chmod(0o640)
    port = _free_port()
    conf = folder / "dovecot.conf"
    conf.write_text(
        _CONF.format(
            run=run,
            state=state,
            log=folder / "dovecot.log",
            uid=MAIL_UID,
            gid=MAIL_GID,
            users=users,
            port=port,
        )
    )
    out = (folder / "dovecot.out").open("wb")
    process = subprocess.Popen(
        [binary, "-F", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (folder / "dovecot.out").read_text(errors="replace")[-500:]
            raise DevMailUnavailable(f"Dovecot exited at start: {log.strip()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1) as sock:
            if sock.recv(64).startswith(b"* OK"):
                return ImapServer(HOST, port, user, password, folder, process, temporary)
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise DevMailUnavailable(f"Dovecot did not answer on {HOST}:{port} within {timeout:g} s")
