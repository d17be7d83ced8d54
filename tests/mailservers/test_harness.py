"""The test suite's real Dovecot and Postfix do what other tests rely on."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from support.mailservers import MailServers, free_port, start_mail_servers

pytestmark = pytest.mark.mailservers

SPECIAL_USE = {b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive"}


def _message(sender: str, recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"harness check {uuid.uuid4().hex[:8]}"
    message["Message-ID"] = make_msgid(domain="example.test")
    message.set_content("Hello from the harness tests.\n")
    return message


def _message_id(message: EmailMessage) -> str:
    return str(message["Message-ID"])


def _folder_message_ids(servers: MailServers, user: str, folder: str) -> set[str]:
    client = servers.connect_imap(user)
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    finally:
        client.logout()
    header = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
    return {bytes(data[header]).decode().partition(":")[2].strip() for data in fetched.values()}


@dataclass
class _Recorder:
    """aiosmtpd handler that keeps every envelope it accepts."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 15.0) -> list[Envelope]:
        deadline = time.monotonic() + timeout
        while len(self.envelopes) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.envelopes)


class _LMTPController(Controller):
    def factory(self) -> Any:
        return LMTP(self.handler, **self.SMTP_kwargs)


def test_imap_login_and_special_use_folders(mail_servers: MailServers) -> None:
    client = mail_servers.connect_imap("alice@example.test")
    try:
        folders = client.list_folders()
        uses = {flag for flags, _, _ in folders for flag in flags} & SPECIAL_USE
        names = {name for _, _, name in folders}
        assert uses == SPECIAL_USE
        assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"} <= names
        assert b"MOVE" in client.capabilities()
    finally:
        client.logout()


def test_wrong_password_fails_fast(mail_servers: MailServers) -> None:
    # Dovecot still answers a failure only at its next half-second tick.
    start = time.monotonic()
    client = IMAPClient(mail_servers.host, port=mail_servers.imap_port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.login("alice@example.test", "wrong")
    client.shutdown()
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "alice@example.test", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.auth("PLAIN", smtp.auth_plain)
    assert time.monotonic() - start < 2.0


def test_submission_delivers_and_files_sent_copy(mail_servers: MailServers) -> None:
    message = _message("alice@example.test", "bob@example.test")
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=10) as smtp:
        smtp.login("alice@example.test", "secret-alice")
        smtp.send_message(message)

    [delivered] = mail_servers.wait_for_mail("bob@example.test", message_id=_message_id(message))
    assert b"Hello from the harness tests." in delivered
    [sent] = mail_servers.wait_for_mail(
        "alice@example.test", "Sent", message_id=_message_id(message)
    )
    assert message["Subject"].encode() in sent
    assert _message_id(message) not in _folder_message_ids(
        mail_servers, "alice@example.test", "INBOX"
    )

    client = mail_servers.connect_imap("alice@example.test")
    try:
        client.select_folder("Sent", readonly=True)
        [uid] = client.search(["HEADER", "Message-ID", _message_id(message)])
        assert b"\\Seen" in client.get_flags([uid])[uid]
    finally:
        client.logout()


def test_one_sent_copy_that_follows_the_login_not_the_return_path(
    mail_servers: MailServers,
) -> None:
    # postroom sends with a signed bounce address as the envelope sender.
    message = _message("alice@example.test", "bob@example.test")
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=10) as smtp:
        smtp.login("alice@example.test", "secret-alice")
        smtp.send_message(
            message,
            from_addr="b-0123abcd@bounces.example.test",
            to_addrs=["bob@example.test", "alice@example.test"],
        )

    mail_servers.wait_for_mail("bob@example.test", message_id=_message_id(message))
    mail_servers.wait_for_mail("alice@example.test", message_id=_message_id(message))
    # One copy per message, however many recipients.
    [sent] = mail_servers.wait_for_mail(
        "alice@example.test", "Sent", message_id=_message_id(message)
    )
    assert b"Return-Path: <b-0123abcd@bounces.example.test>" in sent


def test_submission_requires_login(mail_servers: MailServers) -> None:
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("auth")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("alice@example.test", ["bob@example.test"], b"Subject: x\r\n\r\nx\r\n")


def test_plain_port_makes_no_sent_copy(mail_servers: MailServers) -> None:
    message = _message("alice@example.test", "bob@example.test")
    with smtplib.SMTP(mail_servers.host, mail_servers.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        smtp.send_message(message)

    mail_servers.wait_for_mail("bob@example.test", message_id=_message_id(message))
    # Bob's copy and any Sent copy would travel in one queue file and one LMTP session.
    assert _message_id(message) not in _folder_message_ids(
        mail_servers, "alice@example.test", "Sent"
    )


def test_plain_port_refuses_unknown_users_and_other_domains(mail_servers: MailServers) -> None:
    with smtplib.SMTP(mail_servers.host, mail_servers.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("someone@elsewhere.test")
        code, _ = smtp.rcpt("nobody@example.test")
        assert code == 550
        code, reply = smtp.rcpt("someone@elsewhere.test")
        assert code == 554, reply
        smtp.rset()


def test_lmtp_and_smtp_routes(tmp_path: Path) -> None:
    lmtp_sink = _Recorder()
    smtp_sink = _Recorder()
    lmtp_controller = _LMTPController(lmtp_sink, hostname="127.0.0.1", port=free_port())
    smtp_controller = Controller(smtp_sink, hostname="127.0.0.1", port=free_port())
    lmtp_controller.start()
    smtp_controller.start()
    try:
        with start_mail_servers(
            tmp_path / "routed",
            lmtp_routes={"reply.example.test": ("127.0.0.1", lmtp_controller.port)},
            smtp_routes={"sink.example.test": ("127.0.0.1", smtp_controller.port)},
        ) as servers:
            to_lmtp = _message("carol@outside.test", "Anything+x@reply.example.test")
            to_smtp = _message("alice@example.test", "dave@sink.example.test")
            with smtplib.SMTP(servers.host, servers.smtp_port, timeout=10) as smtp:
                smtp.send_message(to_lmtp)
            with smtplib.SMTP(servers.host, servers.submission_port, timeout=10) as smtp:
                smtp.login("alice@example.test", "secret-alice")
                smtp.send_message(to_smtp)

            [via_lmtp] = lmtp_sink.wait()
            [via_smtp] = smtp_sink.wait()
            log = servers.postfix_log()
            assert via_lmtp.rcpt_tos == ["Anything+x@reply.example.test"], log
            assert via_lmtp.mail_from == "carol@outside.test"
            assert _message_id(to_lmtp).encode() in (via_lmtp.content or b"")
            assert via_smtp.rcpt_tos == ["dave@sink.example.test"], log
            assert via_smtp.mail_from == "alice@example.test"
            # Submitted mail is still filed in the sender's Sent.
            servers.wait_for_mail("alice@example.test", "Sent", message_id=_message_id(to_smtp))
    finally:
        lmtp_controller.stop()
        smtp_controller.stop()
    assert "status=sent" in servers.postfix_log()


def test_start_and_stop_twice(tmp_path: Path) -> None:
    # The second run may get a port number the first one used (the OS hands them out again
    # once the first run released them); what matters is that it starts and serves.
    for attempt in range(2):
        given = tmp_path / f"run{attempt}"
        servers = start_mail_servers(given, users=[("erin@example.test", "pw")])
        try:
            ports = {
                servers.imap_port,
                servers.lmtp_port,
                servers.smtp_port,
                servers.submission_port,
            }
            assert len(ports) == 4
            assert servers.processes()
            servers.connect_imap("erin@example.test").logout()
        finally:
            servers.stop()
        servers.stop()  # stopping again is harmless
        assert servers.processes() == []
        assert "daemon started" in servers.postfix_log()
        if servers.root != given:
            # pytest's temporary directories are private: the servers ran elsewhere, and only
            # their logs are left where the caller asked.
            assert not servers.root.exists()
            assert sorted(p.name for p in given.iterdir()) == ["dovecot.log", "postfix.log"]


def test_servers_stop_when_the_test_process_is_killed(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from support.mailservers import start_mail_servers\n"
        "servers = start_mail_servers(Path(sys.argv[1]))\n"
        "print(servers.root, *servers.processes(), flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "servers")],
        stdout=subprocess.PIPE,
        env=env,
    ) as owner:
        assert owner.stdout is not None
        root, *pids = owner.stdout.readline().decode().split()
        assert pids
        owner.kill()
    deadline = time.monotonic() + 10
    while [pid for pid in pids if _alive(int(pid))] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if _alive(int(pid))] == []
    if Path(root) != tmp_path / "servers":
        # The servers' own directory in the system temporary directory goes too.
        while Path(root).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(root).exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_routes_must_stay_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        start_mail_servers(tmp_path, smtp_routes={"far.example.test": ("192.0.2.1", 25)})
