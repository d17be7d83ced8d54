"""Real mail servers for the test suite: a private Dovecot and a private Postfix.

`start_mail_servers()` writes their configuration under a directory of its own, starts both in
the foreground as children of the test process, on free 127.0.0.1 ports, and hands back a
`MailServers` whose `stop()` ends them. Nothing under /etc is read or changed.

What they do:
- Dovecot: IMAP (plain-text logins as full addresses), LMTP, and the SASL socket Postfix uses.
  Users come from a passwd-file; every mailbox belongs to uid/gid 5000 (Dovecot refuses mail
  access as root); Sent, Drafts, Trash, Junk and Archive carry RFC 6154 special-use flags and
  exist from the first login.
- Postfix: a plain SMTP port (no AUTH) and a submission port (SASL PLAIN or LOGIN through
  Dovecot, no TLS; with ``submission_tls=True`` it offers STARTTLS with a certificate for
  ``mail.<first domain>`` from a throwaway CA, whose file is ``MailServers.ca_file``, and
  offers AUTH only after STARTTLS; the Received header it adds names the TLS session).
  Local domains go to Dovecot's LMTP; `lmtp_routes` and `smtp_routes` send a domain, any
  local part, to an LMTP or SMTP server of the test on a loopback address; any other domain
  fails at once, so nothing leaves the machine.
- Gmail-like Sent copies: every message an authenticated user submits also gets the recipient
  `login+sent@domain`, once per message (a BCC action of the submission port's end-of-data
  restrictions, keyed on the SASL login rather than the envelope sender, so a message sent
  with a bounce address as its return path is filed too). A global Sieve script files such
  mail into Sent with \\Seen. Mail arriving on the plain port gets no copy.
- XOAUTH2 and OAUTHBEARER, when asked for (``oauth2=OAuth2Rig(...)``, off by default): Dovecot's
  oauth2 passdb checks each token at an introspection endpoint of the test on loopback
  (RFC 7662), so Postfix's submission port accepts ``AUTH XOAUTH2``. That passdb is limited to
  those two mechanisms and comes after the passwd-file one, so password logins never reach it.

Both servers need root (they switch to their own users). The servers' processes need to reach
their files as unprivileged users, so when the given directory lies inside one that others
cannot enter (pytest's own temporary directories are mode 700), the servers run from a fresh
directory in the system temporary directory, linked from the given one; `stop()` copies the
logs back and removes it.
"""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient

from support.certs import Certificates, make_certificates

__all__ = [
    "APT_PACKAGES",
    "MAIL_GID",
    "MAIL_UID",
    "MailServerError",
    "MailServers",
    "MailServersUnavailable",
    "MailUser",
    "OAuth2Rig",
    "free_port",
    "free_ports",
    "mail_servers",
    "start_mail_servers",
]

#: Debian packages that provide everything these servers need.
APT_PACKAGES = ("dovecot-core", "dovecot-imapd", "dovecot-lmtpd", "dovecot-sieve", "postfix")
#: Owner of every mailbox. No passwd entry is needed for it.
MAIL_UID = 5000
MAIL_GID = 5000

DEFAULT_USERS: tuple[tuple[str, str], ...] = (
    ("alice@example.test", "secret-alice"),
    ("bob@example.test", "secret-bob"),
)

_TEMPLATES = Path(__file__).parent / "templates"
_HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
_LOCAL_PART = re.compile(r"^[a-z0-9!#$%&'*/=?^_`{|}~.-]{1,64}$")


class MailServerError(RuntimeError):
    """The mail servers could not be started or stopped."""


class MailServersUnavailable(MailServerError):
    """A program the mail servers need is not installed."""


@dataclass(frozen=True)
class MailUser:
    address: str
    password: str


@dataclass(frozen=True)
class OAuth2Rig:
    """Dovecot's oauth2 passdb, pointed at a token introspection endpoint of the test.

    ``introspection_url`` is a loopback http URL that answers RFC 7662 JSON to a POST of
    ``token=...``; ``client_id`` and ``client_secret`` are Dovecot's HTTP Basic credentials
    there (RFC 7662 section 2.1). The token's user is read from ``username_attribute`` and must
    equal the login's user; ``active_attribute`` must hold ``active_value``.
    """

    introspection_url: str
    client_id: str = ""
    client_secret: str = ""
    username_attribute: str = "email"
    active_attribute: str = "active"
    active_value: str = "true"

    def url_with_credentials(self) -> str:
        """The URL with the Basic credentials in its userinfo, which is how Dovecot takes them."""
        parts = urllib.parse.urlsplit(self.introspection_url)
        host = _check_loopback_url(parts)
        if not self.client_id:
            return self.introspection_url
        userinfo = ":".join(
            urllib.parse.quote(part, safe="") for part in (self.client_id, self.client_secret)
        )
        netloc = f"{userinfo}@{host}:{parts.port}" if parts.port else f"{userinfo}@{host}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _check_loopback_url(parts: urllib.parse.SplitResult) -> str:
    try:
        address = ipaddress.IPv4Address(parts.hostname or "")
    except ValueError:
        address = None
    if parts.scheme != "http" or address is None or not address.is_loopback:
        raise ValueError(
            f"the introspection URL must be http:// on an IPv4 loopback address, not "
            f"{urllib.parse.urlunsplit(parts)!r}"
        )
    return str(address)


@dataclass
class MailServers:
    """Running Dovecot and Postfix, as started by `start_mail_servers()`."""

    host: str
    imap_port: int
    lmtp_port: int
    submission_port: int
    smtp_port: int
    users: tuple[MailUser, ...]
    root: Path
    _dovecot: subprocess.Popen[bytes] = field(repr=False)
    _postfix: subprocess.Popen[bytes] = field(repr=False)
    _watchdog: _Watchdog = field(repr=False)
    _postfix_log: Path = field(repr=False)
    _dovecot_log: Path = field(repr=False)
    _keep_logs_in: Path | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    #: With ``submission_tls``: the CA that signed the submission port's certificate, and the
    #: host name that certificate is for (connect to ``host``, check this name).
    ca_file: Path | None = None
    tls_hostname: str | None = None

    def stop(self) -> None:
        """Stop Postfix, then Dovecot (Postfix holds a connection to Dovecot's auth service)."""
        if self._stopped:
            return
        self._stopped = True
        self._watchdog.dismiss()
        try:
            _terminate(self._postfix)
        finally:
            _terminate(self._dovecot)
        if self._keep_logs_in is not None:
            # The servers ran from a directory of their own: keep their logs where the caller
            # looks, then remove the mail, queue and sockets.
            for log in (self._postfix_log, self._dovecot_log):
                if log.exists():
                    shutil.copy2(log, self._keep_logs_in / log.name)
            self._postfix_log = self._keep_logs_in / self._postfix_log.name
            self._dovecot_log = self._keep_logs_in / self._dovecot_log.name
            link = self._keep_logs_in / "servers"
            if link.is_symlink():
                link.unlink()
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> MailServers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def password(self, user: str) -> str:
        """The password of `user` (an address, any case)."""
        wanted = user.lower()
        for candidate in self.users:
            if candidate.address == wanted:
                return candidate.password
        raise KeyError(f"no such user on the test mail servers: {user}")

    def connect_imap(self, user: str) -> IMAPClient:
        """A logged-in IMAPClient for `user`; the caller logs out."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        try:
            client.login(user, self.password(user))
        except BaseException:
            client.shutdown()
            raise
        return client

    def wait_for_mail(
        self,
        user: str,
        folder: str = "INBOX",
        count: int = 1,
        timeout: float = 15.0,
        *,
        message_id: str | None = None,
    ) -> list[bytes]:
        """Poll `folder` of `user` over IMAP until it holds at least `count` messages.

        With `message_id`, only messages whose Message-ID header contains it count (tests that
        share one set of servers tell their messages apart this way). Returns those messages,
        raw, in UID order, without setting \\Seen.
        """
        criteria: list[str] = ["HEADER", "Message-ID", message_id] if message_id else ["ALL"]
        deadline = time.monotonic() + timeout
        found = 0
        client = self.connect_imap(user)
        try:
            while True:
                client.select_folder(folder, readonly=True)
                uids = sorted(client.search(criteria))
                found = len(uids)
                if found >= count:
                    fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
                    return [bytes(fetched[uid][b"BODY[]"]) for uid in uids]
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        finally:
            with contextlib.suppress(Exception):
                client.logout()
        wanted = f" with Message-ID {message_id}" if message_id else ""
        raise AssertionError(
            f"{user} {folder}: {found} of {count} message(s){wanted} after {timeout:.1f} s\n"
            f"--- postfix log (end) ---\n{_tail(self.postfix_log())}\n"
            f"--- dovecot log (end) ---\n{_tail(self.dovecot_log())}"
        )

    def processes(self) -> list[int]:
        """Process ids of both servers that are still alive (none once stopped)."""
        return [
            *_live_group_members(self._postfix.pid),
            *_live_group_members(self._dovecot.pid),
        ]

    def queued(self) -> list[str]:
        """The messages in Postfix's queue (incoming, active, deferred, hold), by queue id."""
        queue = self.root / "postfix" / "queue"
        return sorted(
            path.name
            for name in ("maildrop", "incoming", "active", "deferred", "hold")
            for path in (queue / name).rglob("*")
            if path.is_file()
        )

    def postfix_log(self) -> str:
        """Postfix's log so far (its `maillog_file`)."""
        return _read_text(self._postfix_log)

    def dovecot_log(self) -> str:
        """Dovecot's log so far."""
        return _read_text(self._dovecot_log)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: all probes are held open until every port is chosen."""
    with contextlib.ExitStack() as stack:
        probes = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for probe in probes:
            probe.bind((_HOST, 0))
        return [probe.getsockname()[1] for probe in probes]


def start_mail_servers(
    root: Path,
    *,
    users: Sequence[tuple[str, str]] = DEFAULT_USERS,
    local_domains: Sequence[str] = ("example.test",),
    lmtp_routes: Mapping[str, tuple[str, int]] | None = None,
    smtp_routes: Mapping[str, tuple[str, int]] | None = None,
    oauth2: OAuth2Rig | None = None,
    postfix_options: Mapping[str, str] | None = None,
    dovecot_extra: str = "",
    userdb_fields: Mapping[str, str] | None = None,
    submission_tls: bool = False,
    main_cf: Sequence[str] = (),
    master_cf: Sequence[str] = (),
) -> MailServers:
    """Start Dovecot and Postfix from `root`, on free loopback ports, and wait until both serve.

    `lmtp_routes` and `smtp_routes` map a domain to a (loopback host, port): Postfix accepts mail
    for any local part of that domain and hands it, envelope recipient unchanged, to that LMTP
    or SMTP server. `oauth2` adds XOAUTH2 and OAUTHBEARER logins checked at the rig's
    introspection endpoint (Dovecot's IMAP and Postfix's submission port alike).

    `postfix_options` are main.cf parameters set after the defaults (the last setting wins:
    `message_size_limit`, `delay_warning_time`, `maximal_queue_lifetime`, ...);
    `dovecot_extra` is configuration text appended to dovecot.conf (plugins, a second
    `plugin {}` block); `userdb_fields` maps a user's address to extra passwd-file fields
    (`userdb_quota_rule=*:storage=1K`).

    `submission_tls` adds STARTTLS to the submission port (see the module docstring).

    `main_cf` and `master_cf` are lines added to Postfix's main.cf and
    master.cf as they are (a parameter set in `main_cf` replaces the template's), e.g. a
    recipe under test.
    """
    binaries = _find_binaries()
    _check_root_user()
    domains = tuple(_check_domain(d) for d in local_domains)
    if not domains:
        raise ValueError("at least one local domain is needed")
    mail_users = tuple(_check_user(address, password, domains) for address, password in users)
    if len({u.address for u in mail_users}) != len(mail_users):
        raise ValueError("duplicate user address")
    routes = _check_routes(lmtp_routes or {}, smtp_routes or {}, domains)
    if oauth2 is not None:
        _check_loopback_url(urllib.parse.urlsplit(oauth2.introspection_url))

    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise MailServerError(
            f"{root} is not empty: the mail servers need a directory of their own"
        )
    keep_logs_in: Path | None = None
    if _enterable_by_others(root.parent):
        root.chmod(0o755)
        base = root
    else:
        # pytest's temporary directories are mode 700: the servers' unprivileged processes
        # could not reach their sockets and mailboxes there.
        base = Path(tempfile.mkdtemp(prefix="mailservers-")).absolute()
        base.chmod(0o755)
        if not _enterable_by_others(base.parent):
            shutil.rmtree(base, ignore_errors=True)
            raise MailServerError(
                f"neither {root} nor the temporary directory {base.parent} can be entered by "
                "the mail servers' unprivileged users; set TMPDIR to a directory that can"
            )
        (root / "servers").symlink_to(base, target_is_directory=True)
        keep_logs_in = root

    imap, lmtp, submission, smtp = free_ports(4)
    ports = _Ports(imap=imap, lmtp=lmtp, submission=submission, smtp=smtp)
    layout = _Layout(base)
    try:
        _write_dovecot(layout, ports, mail_users, domains, dovecot_extra, userdb_fields or {})
        if oauth2 is not None:
            _write_dovecot_oauth2(layout, oauth2)
        tls = _write_certificates(layout, domains) if submission_tls else None
        _write_postfix(layout, binaries, ports, mail_users, domains, routes, None, tls)
        # Options replace the template's settings rather than follow them (a duplicate makes
        # every Postfix process warn, which slows its start).
        options = [f"{name} = {value}" for name, value in (postfix_options or {}).items()]
        _set_parameters(layout.postfix / "main.cf", [*options, *main_cf])
        _append(layout.postfix / "master.cf", master_cf)
        _backdate(base)
    except BaseException:
        if keep_logs_in is not None:
            shutil.rmtree(base, ignore_errors=True)
        raise

    watchdog = _Watchdog(remove=base if keep_logs_in is not None else None)
    dovecot = _spawn([binaries.dovecot, "-F", "-c", str(layout.dovecot_conf)], layout.dovecot_out)
    postfix: subprocess.Popen[bytes] | None = None
    try:
        watchdog.guard(dovecot)
        # Postfix checks its SASL socket on the first AUTH only, but wait for Dovecot anyway so
        # a broken Dovecot configuration is reported as such.
        _wait_until_serving(dovecot, "dovecot", ports.imap, b"* OK", layout.dovecot_logs)
        _wait_until_serving(dovecot, "dovecot", ports.lmtp, b"220 ", layout.dovecot_logs)
        # "-s" keeps the master in the foreground (as `postfix start-fg` does); being a session
        # leader lets it signal its whole process group when it stops.
        postfix = _spawn(
            [binaries.postfix_master, "-c", str(layout.postfix), "-s"],
            layout.postfix_out,
        )
        watchdog.guard(postfix)
        _wait_until_serving(postfix, "postfix", ports.smtp, b"220 ", layout.postfix_logs)
        _wait_until_serving(postfix, "postfix", ports.submission, b"220 ", layout.postfix_logs)
    except BaseException:
        watchdog.dismiss()
        if postfix is not None:
            _terminate(postfix)
        _terminate(dovecot)
        if keep_logs_in is not None:
            for log in (layout.postfix_log, layout.dovecot_log):
                if log.exists():
                    shutil.copy2(log, keep_logs_in / log.name)
            shutil.rmtree(base, ignore_errors=True)
        raise
    return MailServers(
        host=_HOST,
        imap_port=ports.imap,
        lmtp_port=ports.lmtp,
        submission_port=ports.submission,
        smtp_port=ports.smtp,
        users=mail_users,
        root=base,
        _dovecot=dovecot,
        _postfix=postfix,
        _watchdog=watchdog,
        _postfix_log=layout.postfix_log,
        _dovecot_log=layout.dovecot_log,
        _keep_logs_in=keep_logs_in,
        ca_file=tls.ca_file if tls is not None else None,
        tls_hostname=tls.hostnames[0] if tls is not None else None,
    )


@pytest.fixture(scope="session")
def mail_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServers]:
    """Dovecot and Postfix with the default users (alice, bob @example.test), no routes."""
    servers = start_mail_servers(tmp_path_factory.mktemp("mailservers"))
    try:
        yield servers
    finally:
        servers.stop()


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Binaries:
    dovecot: str
    postfix_master: str
    postfix_daemons: Path
    postfix_commands: Path


@dataclass(frozen=True)
class _Ports:
    imap: int
    lmtp: int
    submission: int
    smtp: int


@dataclass(frozen=True)
class _Route:
    domain: str
    nexthop: str


class _Layout:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.dovecot = base / "dovecot"
        self.dovecot_conf = self.dovecot / "dovecot.conf"
        self.dovecot_run = self.dovecot / "run"
        self.dovecot_state = self.dovecot / "state"
        self.dovecot_log = self.dovecot / "dovecot.log"
        self.dovecot_out = self.dovecot / "dovecot.out"
        self.dovecot_logs = (self.dovecot_log, self.dovecot_out)
        self.users_file = self.dovecot / "users"
        self.sieve = self.dovecot / "sieve"
        self.mail = base / "mail"
        self.postfix = base / "postfix"
        self.queue = self.postfix / "queue"
        self.postfix_data = self.postfix / "data"
        self.postfix_log = self.postfix / "postfix.log"
        self.postfix_out = self.postfix / "master.out"
        self.postfix_logs = (self.postfix_log, self.postfix_out)


def _find_binaries() -> _Binaries:
    missing: list[str] = []

    def need(path: str | None, package: str) -> str:
        if path is None or not os.access(path, os.X_OK):
            missing.append(package)
            return ""
        return path

    dovecot = need(shutil.which("dovecot") or _first_file("/usr/sbin/dovecot"), "dovecot-core")
    libexec = Path(dovecot).resolve().parent.parent / "lib" / "dovecot" if dovecot else None
    if libexec is None or not libexec.is_dir():
        libexec = Path("/usr/lib/dovecot")
    need(_first_file(str(libexec / "imap")), "dovecot-imapd")
    need(_first_file(str(libexec / "lmtp")), "dovecot-lmtpd")
    if not (libexec / "modules" / "lib90_sieve_plugin.so").is_file():
        missing.append("dovecot-sieve")
    master = need(
        _first_file("/usr/lib/postfix/sbin/master", "/usr/libexec/postfix/master"), "postfix"
    )
    if missing:
        raise MailServersUnavailable(
            "the test mail servers need Debian packages that are not installed: "
            + " ".join(sorted(set(missing)))
            + "\ninstall them (scripts/bootstrap does) with:\n"
            '  echo "postfix postfix/main_mailer_type select No configuration"'
            " | debconf-set-selections\n"
            "  DEBIAN_FRONTEND=noninteractive apt-get install -y " + " ".join(APT_PACKAGES)
        )
    postconf = shutil.which("postconf") or "/usr/sbin/postconf"
    return _Binaries(
        dovecot=dovecot,
        postfix_master=master,
        postfix_daemons=Path(master).parent,
        postfix_commands=Path(postconf).parent,
    )


def _first_file(*paths: str) -> str | None:
    return next((p for p in paths if os.path.isfile(p)), None)


def _check_root_user() -> None:
    if os.geteuid() != 0:
        raise MailServerError(
            "the test mail servers must be started as root: Dovecot and Postfix switch to "
            "their own users and to the mailbox owner"
        )


def _check_domain(domain: str) -> str:
    lowered = domain.lower()
    if not _DOMAIN.match(lowered):
        raise ValueError(f"not a domain name: {domain!r}")
    return lowered


def _check_user(address: str, password: str, domains: Sequence[str]) -> MailUser:
    lowered = address.lower()
    local, _, domain = lowered.rpartition("@")
    if not _LOCAL_PART.match(local):
        raise ValueError(f"not a plain user address: {address!r}")
    if domain not in domains:
        raise ValueError(f"{address!r} is not in a local domain ({', '.join(domains)})")
    if not password or any(c in password for c in ":\r\n\0"):
        # The passwd-file format has no quoting.
        raise ValueError(f"password for {address!r} must be non-empty, without ':' or newlines")
    return MailUser(lowered, password)


def _check_routes(
    lmtp_routes: Mapping[str, tuple[str, int]],
    smtp_routes: Mapping[str, tuple[str, int]],
    local_domains: Sequence[str],
) -> tuple[_Route, ...]:
    routes: list[_Route] = []
    for kind, table in (("lmtp", lmtp_routes), ("smtp", smtp_routes)):
        for raw_domain, (host, port) in table.items():
            domain = _check_domain(raw_domain)
            if domain in local_domains or any(r.domain == domain for r in routes):
                raise ValueError(f"domain {domain!r} is routed twice")
            try:
                address = ipaddress.IPv4Address(host)
            except ValueError:
                address = None
            if address is None or not address.is_loopback:
                raise ValueError(f"routes must point at an IPv4 loopback address, not {host!r}")
            if not 0 < port < 65536:
                raise ValueError(f"bad port {port!r} for {domain!r}")
            nexthop = f"lmtp:inet:{host}:{port}" if kind == "lmtp" else f"smtp:[{host}]:{port}"
            routes.append(_Route(domain, nexthop))
    return tuple(routes)


def _render(template: str, **values: object) -> str:
    text = (_TEMPLATES / template).read_text()

    def fill(match: re.Match[str]) -> str:
        return str(values[match.group(1)])

    return re.sub(r"\{\{(\w+)\}\}", fill, text)


def _write_dovecot(
    layout: _Layout,
    ports: _Ports,
    users: Sequence[MailUser],
    domains: Sequence[str],
    extra: str = "",
    userdb_fields: Mapping[str, str] | None = None,
) -> None:
    dovecot_gid = grp.getgrnam("dovecot").gr_gid
    for directory in (layout.dovecot, layout.dovecot_run, layout.dovecot_state):
        directory.mkdir(mode=0o755, parents=True)
        directory.chmod(0o755)  # mkdir's mode is masked by the umask
    # Dovecot compiles the Sieve script on first use, as the mailbox owner.
    layout.sieve.mkdir(mode=0o755)
    os.chown(layout.sieve, MAIL_UID, MAIL_GID)
    (layout.sieve / "sent.sieve").write_text(_render("sent.sieve"))
    layout.mail.mkdir(mode=0o700)
    os.chown(layout.mail, MAIL_UID, MAIL_GID)

    lines = []
    for user in users:
        local, _, domain = user.address.partition("@")
        home = layout.mail / domain / local
        fields = (userdb_fields or {}).get(user.address, "")
        lines.append(
            f"{user.address}:{{PLAIN}}{user.password}:{MAIL_UID}:{MAIL_GID}::{home}::{fields}\n"
        )
    layout.users_file.write_text("".join(lines))
    os.chown(layout.users_file, 0, dovecot_gid)
    layout.users_file.chmod(0o640)

    layout.dovecot_conf.write_text(
        _render(
            "dovecot.conf",
            base_dir=layout.dovecot_run,
            state_dir=layout.dovecot_state,
            instance_name=f"mailservers-{ports.imap}",
            hostname=f"mail.{domains[0]}",
            primary_domain=domains[0],
            log_path=layout.dovecot_log,
            mail_uid=MAIL_UID,
            mail_gid=MAIL_GID,
            users_file=layout.users_file,
            imap_port=ports.imap,
            lmtp_port=ports.lmtp,
            postfix_auth_socket=layout.queue / "private" / "auth",
            sent_sieve=layout.sieve / "sent.sieve",
        )
        + (f"\n# Options of this instance\n{extra}\n" if extra else "")
    )


def _write_dovecot_oauth2(layout: _Layout, rig: OAuth2Rig) -> None:
    # The oauth2 passdb's own settings file, read by the auth process (user dovecot) at start.
    settings = layout.dovecot / "dovecot-oauth2.conf.ext"
    settings.write_text(
        _render(
            "dovecot-oauth2.conf.ext",
            introspection_url=rig.url_with_credentials(),
            username_attribute=rig.username_attribute,
            active_attribute=rig.active_attribute,
            active_value=rig.active_value,
        )
    )
    os.chown(settings, 0, grp.getgrnam("dovecot").gr_gid)
    settings.chmod(0o640)
    # Appended, so this passdb follows the passwd-file one.
    with layout.dovecot_conf.open("a") as conf:
        conf.write("\n" + _render("dovecot-oauth2-passdb.conf", oauth2_settings=settings))


# Postfix's queue layout: directory -> (owner, group, mode), as `postfix post-install` makes it.
_QUEUE_DIRS: dict[str, tuple[str, str, int]] = {
    "active": ("postfix", "root", 0o700),
    "bounce": ("postfix", "root", 0o700),
    "corrupt": ("postfix", "root", 0o700),
    "defer": ("postfix", "root", 0o700),
    "deferred": ("postfix", "root", 0o700),
    "flush": ("postfix", "root", 0o700),
    "hold": ("postfix", "root", 0o700),
    "incoming": ("postfix", "root", 0o700),
    "private": ("postfix", "root", 0o700),
    "saved": ("postfix", "root", 0o700),
    "trace": ("postfix", "root", 0o700),
    "maildrop": ("postfix", "postdrop", 0o730),
    "public": ("postfix", "postdrop", 0o710),
    "pid": ("root", "root", 0o755),
}


def _write_postfix(
    layout: _Layout,
    binaries: _Binaries,
    ports: _Ports,
    users: Sequence[MailUser],
    domains: Sequence[str],
    routes: Sequence[_Route],
    options: Mapping[str, str] | None = None,
    tls: Certificates | None = None,
) -> None:
    layout.postfix.mkdir(mode=0o755)
    layout.postfix.chmod(0o755)
    layout.queue.mkdir(mode=0o755)
    layout.queue.chmod(0o755)
    for name, (owner, group, mode) in _QUEUE_DIRS.items():
        path = layout.queue / name
        path.mkdir()
        shutil.chown(path, owner, group)
        path.chmod(mode)
    layout.postfix_data.mkdir()
    shutil.chown(layout.postfix_data, "postfix", "postfix")
    layout.postfix_data.chmod(0o700)

    # texthash and regexp tables need no postmap.
    (layout.postfix / "virtual_mailboxes").write_text(
        "".join(f"{user.address} {user.address}\n" for user in users)
    )
    (layout.postfix / "transport").write_text(
        "".join(f"{route.domain} {route.nexthop}\n" for route in routes) or "# no routed domains\n"
    )
    # Keyed on the SASL login: every message the user submits gets a copy for their Sent.
    (layout.postfix / "sent_copies").write_text(
        "".join(
            f"/^([^@+]+)@({_ere_literal(domain)})$/ BCC ${{1}}+sent@${{2}}\n" for domain in domains
        )
    )
    (layout.postfix / "dynamicmaps.cf").write_text("# only the built-in table types\n")
    overrides = "".join(f"{name} = {value}\n" for name, value in (options or {}).items())
    (layout.postfix / "main.cf").write_text(
        _render(
            "main.cf",
            queue_dir=layout.queue,
            data_dir=layout.postfix_data,
            config_dir=layout.postfix,
            command_dir=binaries.postfix_commands,
            daemon_dir=binaries.postfix_daemons,
            log_path=layout.postfix_log,
            hostname=f"mail.{domains[0]}",
            primary_domain=domains[0],
            local_domains=", ".join(domains),
            dovecot_lmtp_port=ports.lmtp,
            relay_domains=", ".join(route.domain for route in routes),
        )
        + (f"\n# Options of this instance\n{overrides}" if overrides else "")
    )
    (layout.postfix / "master.cf").write_text(
        _render(
            "master.cf",
            smtp_port=ports.smtp,
            submission_port=ports.submission,
            config_dir=layout.postfix,
            submission_tls=_submission_tls_options(tls),
            # smtpd gets its TLS entropy and session keys from tlsmgr(8).
            tls_services="\ntlsmgr    unix  -       -       n       1000?   1       tlsmgr"
            if tls is not None
            else "",
        )
    )


def _write_certificates(layout: _Layout, domains: Sequence[str]) -> Certificates:
    tls = make_certificates(layout.base / "tls", (f"mail.{domains[0]}",))
    # smtpd reads its key as root before it drops privileges; nobody else needs it.
    tls.key_file.chmod(0o600)
    return tls


def _submission_tls_options(tls: Certificates | None) -> str:
    if tls is None:
        return ""
    # STARTTLS offered, and AUTH only once it ran: a client that logs in has used TLS.
    return (
        "\n  -o smtpd_tls_security_level=may"
        f"\n  -o smtpd_tls_cert_file={tls.cert_file}"
        f"\n  -o smtpd_tls_key_file={tls.key_file}"
        "\n  -o smtpd_tls_auth_only=yes"
        "\n  -o smtpd_tls_received_header=yes"
    )


def _set_parameters(path: Path, lines: Sequence[str]) -> None:
    """Add main.cf ``lines``; a parameter they set is removed from the template first (Postfix
    would warn about the earlier entry in every process it starts, slowing its start)."""
    names = {line.partition("=")[0].strip() for line in lines if "=" in line and line[:1].strip()}
    kept: list[str] = []
    dropping = False
    for line in path.read_text().splitlines():
        if line[:1].strip() and not line.startswith("#"):
            dropping = line.partition("=")[0].strip() in names
        elif not line.strip() or line.startswith("#"):
            dropping = False
        if not dropping:
            kept.append(line)
    path.write_text("\n".join(kept) + "\n")
    _append(path, lines)


def _append(path: Path, lines: Sequence[str]) -> None:
    if lines:
        with path.open("a") as handle:
            handle.write("# added by the test\n" + "".join(line + "\n" for line in lines))


def _ere_literal(domain: str) -> str:
    # Checked domains hold only [a-z0-9.-]; of those only the dot is special in a POSIX ERE.
    return domain.replace(".", "\\.")


def _backdate(base: Path) -> None:
    # Postfix treats configuration files younger than its processes as changed under it, which
    # costs seconds at start.
    then = time.time() - 60
    for directory, _, files in os.walk(base):
        for name in files:
            os.utime(Path(directory) / name, (then, then))


def _enterable_by_others(path: Path) -> bool:
    for part in (path, *path.parents):
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


# --- processes -------------------------------------------------------------------------------


def _spawn(argv: list[str], output: Path) -> subprocess.Popen[bytes]:
    # Their standard streams go to a file: inherited pipes would keep a caller that captures
    # output waiting until the servers exit. Each server leads a session of its own, so its
    # whole process group can be signalled at once.
    with output.open("ab") as sink:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


# Kills the process groups whose ids it reads once its standard input ends, then removes the
# directory named by its argument, if any. When the test process stops the servers itself it
# dismisses this first; when the test process dies (even by SIGKILL) the pipe closes and the
# servers go with it. (A parent-death signal would not do: Postfix's master changes its
# effective uid, which clears it.)
_WATCHDOG = """\
import os, shutil, signal, sys, time
groups = [int(line) for line in sys.stdin]
for group in groups:
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        pass
if len(sys.argv) > 1:
    time.sleep(1)
    shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


class _Watchdog:
    def __init__(self, remove: Path | None) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, *([str(remove)] if remove else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C aimed at the test run must not end it first.
            start_new_session=True,
        )

    def guard(self, process: subprocess.Popen[bytes]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(f"{process.pid}\n".encode())
        stdin.flush()

    def dismiss(self) -> None:
        self._process.kill()
        self._process.wait()
        if self._process.stdin is not None:
            self._process.stdin.close()


def _wait_until_serving(
    process: subprocess.Popen[bytes],
    name: str,
    port: int,
    greeting: bytes,
    logs: Sequence[Path],
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MailServerError(
                f"{name} exited with status {process.returncode} while starting\n"
                + _show_logs(logs)
            )
        try:
            with socket.create_connection((_HOST, port), timeout=2) as conn:
                banner = conn.recv(512)
                if banner.startswith(greeting):
                    return
                last_error = f"unexpected greeting {banner!r}"
        except OSError as error:
            last_error = str(error)
        time.sleep(0.01)
    raise MailServerError(
        f"{name} did not serve port {port} within {_START_TIMEOUT:.0f} s ({last_error})\n"
        + _show_logs(logs)
    )


def _show_logs(logs: Sequence[Path]) -> str:
    return "\n".join(f"--- {log} ---\n{_tail(_read_text(log))}" for log in logs if log.exists())


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop one server: SIGTERM its whole process group, then make sure none of it is left.

    Each server runs as a session leader, so its group holds the master and all its children.
    Signalling the whole group skips Dovecot's graceful shutdown, which waits about a second for
    its children; nothing is lost, as LMTP answers only once the mail is saved. A group id stays
    reserved while any member lives, so signalling it cannot reach another program.
    """
    group = process.pid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            process.wait(timeout=_STOP_TIMEOUT)
    deadline = time.monotonic() + _STOP_TIMEOUT
    while _live_group_members(group):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            break
        time.sleep(0.01)


def _live_group_members(group: int) -> list[int]:
    """Processes of process group `group` that are not zombies.

    `kill(pid, 0)` succeeds on a zombie, and on these machines orphans' zombies can linger
    unreaped, so this reads each process's state from /proc.
    """
    members: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may contain anything.
        fields = raw[raw.rfind(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
