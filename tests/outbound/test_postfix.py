"""Against real servers: Postfix submission with STARTTLS and SASL through Dovecot (certificate
checks on, mail read back over IMAP), and Postfix's smtp-sink for streams."""

from __future__ import annotations

import re
import uuid

import pytest

from postroom.errors import AuthFailed, AuthUnavailable, TlsFailed
from postroom.outbound import (
    AuthMethod,
    ConnectionSettings,
    Outcome,
    OutgoingCopy,
    Security,
    SmtpConnection,
    Timeouts,
)
from support.mailservers import MailServers
from support.smtpsink import SmtpSink

pytestmark = [pytest.mark.mailservers, pytest.mark.timeout(120)]


def submission(servers: MailServers, **changes: object) -> ConnectionSettings:
    assert servers.ca_file is not None
    values: dict[str, object] = {
        "host": servers.host,
        "port": servers.submission_port,
        "security": Security.STARTTLS,
        "auth": AuthMethod.PLAIN,
        "username": "alice@example.test",
        "secret": servers.password("alice@example.test"),
        "ca_file": str(servers.ca_file),
        "tls_server_name": servers.tls_hostname,
        "timeouts": Timeouts.uniform(20),
    }
    values.update(changes)
    return ConnectionSettings(**values)  # type: ignore[arg-type]


def message(to: str, message_id: str) -> bytes:
    return (
        f"From: Alice <alice@example.test>\r\nTo: <{to}>\r\nSubject: outbound check\r\n"
        f"Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        ".a line that starts with a dot\r\nHello over STARTTLS.\r\n"
    ).encode()


def test_auth_over_starttls_delivers_each_copy_to_dovecot(tls_mail_servers: MailServers) -> None:
    run = uuid.uuid4().hex[:10]
    # One login per mechanism, each sending copies to both users.
    sent: list[tuple[str, str]] = []
    for method in (AuthMethod.PLAIN, AuthMethod.LOGIN):
        copies = []
        for rcpt in ("alice@example.test", "bob@example.test"):
            message_id = f"{run}.{method.value}.{rcpt}"
            copies.append(OutgoingCopy("alice@example.test", rcpt, message(rcpt, message_id)))
            sent.append((rcpt, message_id))
        with SmtpConnection.open(submission(tls_mail_servers, auth=method)) as conn:
            assert conn.tls
            caps = conn.capabilities
            assert caps.pipelining and "PLAIN" in caps.auth_mechanisms and not caps.starttls
            results = list(conn.deliver(copies))
        assert all(r.outcome is Outcome.ACCEPTED and r.queue_id for r in results)
    for rcpt, message_id in sent:
        [raw] = tls_mail_servers.wait_for_mail(rcpt, message_id=message_id)
        assert b"\r\n.a line that starts with a dot\r\n" in raw
        assert re.search(rb"using TLSv1\.[23]", raw), "Postfix records the TLS session"
    log = tls_mail_servers.postfix_log()
    assert "sasl_method=PLAIN, sasl_username=alice@example.test" in log
    assert "sasl_method=LOGIN, sasl_username=alice@example.test" in log


def test_the_wrong_host_name_fails_the_certificate_check(tls_mail_servers: MailServers) -> None:
    wrong = submission(tls_mail_servers, tls_server_name="smtp.elsewhere.test")
    with pytest.raises(TlsFailed) as failed:
        SmtpConnection.open(wrong)
    assert str(failed.value).startswith("the certificate of smtp.elsewhere.test is not valid: ")
    assert "fix the host name or pass a CA file" in str(failed.value)
    # Checking 127.0.0.1 itself fails too: the certificate names mail.example.test only.
    with pytest.raises(TlsFailed, match=r"certificate of 127\.0\.0\.1 is not valid"):
        SmtpConnection.open(submission(tls_mail_servers, tls_server_name=None))


def test_a_wrong_password_names_the_fix(tls_mail_servers: MailServers) -> None:
    with pytest.raises(
        AuthFailed, match=r"535 5\.7\.8 .*check the username and password"
    ) as failed:
        SmtpConnection.open(submission(tls_mail_servers, secret="not-the-password"))
    assert getattr(failed.value.reply, "code", None) == 535


def test_without_tls_the_server_offers_no_auth(tls_mail_servers: MailServers) -> None:
    with pytest.raises(AuthUnavailable, match="only after STARTTLS"):
        SmtpConnection.open(submission(tls_mail_servers, security=Security.NONE))


def test_a_stream_to_smtp_sink_arrives_in_full() -> None:
    body = b"Subject: stream\r\n\r\n" + b"x" * 5000 + b"\r\n"
    with SmtpSink.start() as sink:
        settings = ConnectionSettings(sink.host, sink.port, security=Security.NONE)
        with SmtpConnection.open(settings) as conn:
            assert conn.capabilities.pipelining
            copies = (OutgoingCopy("a@x.test", f"r{n}@y.test", body) for n in range(500))
            accepted = sum(result.accepted for result in conn.deliver(copies))
        assert accepted == 500
        assert sink.wait_for(500) == 500


def test_smtp_sink_without_pipelining() -> None:
    with SmtpSink.start("-p") as sink:
        settings = ConnectionSettings(sink.host, sink.port, security=Security.NONE)
        with SmtpConnection.open(settings) as conn:
            assert not conn.capabilities.pipelining
            copies = [OutgoingCopy("a@x.test", f"r{n}@y.test", b"x\r\n") for n in range(50)]
            assert all(result.accepted for result in conn.deliver(copies))
        assert sink.wait_for(50) == 50
