"""The socket shell against the scripted SMTP server on loopback: streams of copies, every
failure path (421, 451, 550, 552, 5.4.5, drops, stalls, garbage), TLS and AUTH errors."""

from __future__ import annotations

import socket

import pytest

from postroom.errors import (
    AuthFailed,
    AuthUnavailable,
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    SmtpTimeout,
    TlsFailed,
)
from postroom.outbound import (
    AuthMethod,
    ConnectionSettings,
    Outcome,
    OutgoingCopy,
    ReplyKind,
    Security,
    SmtpConnection,
    Timeouts,
    classify_result,
)
from support.certs import Certificates
from support.mailservers import free_port
from support.smtpserver import Drop, Raw, ScriptedSmtpServer, Stall

pytestmark = pytest.mark.timeout(60)


def settings(server: ScriptedSmtpServer, **changes: object) -> ConnectionSettings:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": Security.NONE,
        "timeouts": Timeouts.uniform(5),
    }
    values.update(changes)
    return ConnectionSettings(**values)  # type: ignore[arg-type]


def copy(n: int, rcpt: str | None = None, size: int = 0) -> OutgoingCopy:
    body = f"Subject: copy {n}\r\n\r\n.line with a dot\r\nbody {n}\r\n".encode() + b"x" * size
    return OutgoingCopy("sender@example.test", rcpt or f"r{n}@example.test", body + b"\r\n", tag=n)


def test_a_stream_of_copies_arrives_intact_and_pipelined(server: ScriptedSmtpServer) -> None:
    copies = [copy(n) for n in range(5)]
    with SmtpConnection.open(settings(server)) as conn:
        assert conn.capabilities.pipelining
        results = list(conn.deliver(copies))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert [m.data for m in server.messages] == [c.data for c in copies]
    assert [m.rcpts for m in server.messages] == [(c.rcpt,) for c in copies]
    assert all(
        m.mail_params == f"SIZE={len(c.data)}" for m, c in zip(server.messages, copies, strict=True)
    )
    assert server.sessions == 1
    # MAIL, RCPT and DATA went together, and each copy's MAIL followed the previous content.
    assert server.pipelined.count("RCPT") == 5 and server.pipelined.count("MAIL") == 4
    assert server.commands[-1] == "QUIT"


def test_without_pipelining_the_client_waits_for_every_reply() -> None:
    with ScriptedSmtpServer(pipelining=False) as server:
        with SmtpConnection.open(settings(server)) as conn:
            results = list(conn.deliver([copy(0), copy(1)]))
        assert all(r.accepted for r in results)
        assert server.pipelined == []


def test_no_copy_is_sent_before_the_previous_result_is_taken(server: ScriptedSmtpServer) -> None:
    with SmtpConnection.open(settings(server)) as conn:
        for n, result in enumerate(conn.deliver(copy(i) for i in range(6))):
            assert result.accepted
            # The server has this copy and none after it: the next copy's final "." waits
            # until this result is recorded.
            assert len(server.messages) == n + 1


def test_421_then_451_then_250_on_successive_attempts(server: ScriptedSmtpServer) -> None:
    server.on(
        "RCPT",
        "421 4.7.0 Try again later, closing connection.",
        "451 4.3.0 Temporary lookup failure",
        "250 2.1.5 Ok",
        match="ada@example.test",
    )
    outcomes = []
    for _attempt in range(3):
        with SmtpConnection.open(settings(server)) as conn:
            [result] = conn.deliver([copy(0, "ada@example.test")])
            outcomes.append((result.outcome, classify_result(result).kind))
    assert outcomes == [
        (Outcome.CONNECTION_LOST, ReplyKind.QUOTA),
        (Outcome.REFUSED, ReplyKind.TRANSIENT),
        (Outcome.ACCEPTED, ReplyKind.SUCCESS),
    ]
    assert len(server.messages) == 1


def test_a_421_mid_stream_loses_only_the_copies_in_flight(server: ScriptedSmtpServer) -> None:
    server.on("RCPT", "421 4.3.2 Service shutting down", match="r2@")
    with SmtpConnection.open(settings(server)) as conn:
        results = list(conn.deliver(copy(n) for n in range(5)))
        assert not conn.usable
        with pytest.raises(ConnectionLost, match="open a new one"):
            conn.deliver([copy(9)])
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.CONNECTION_LOST,
    ]
    assert len(server.messages) == 2


def test_user_unknown_is_refused_and_the_stream_goes_on(server: ScriptedSmtpServer) -> None:
    server.on(
        "RCPT",
        "550 5.1.1 <gone@example.test>: Recipient address rejected: User unknown",
        match="gone@",
    )
    with SmtpConnection.open(settings(server)) as conn:
        results = list(conn.deliver([copy(0), copy(1, "gone@example.test"), copy(2)]))
        assert conn.usable
    gone = results[1]
    assert gone.outcome is Outcome.REFUSED and classify_result(gone).address_gone
    assert [m.rcpts for m in server.messages] == [("r0@example.test",), ("r2@example.test",)]
    assert "RSET" in server.commands


def test_a_copy_over_the_size_limit_is_refused_at_mail() -> None:
    with (
        ScriptedSmtpServer(size_limit=2000) as server,
        SmtpConnection.open(settings(server)) as conn,
    ):
        big, small = conn.deliver([copy(0, size=3000), copy(1)])
    assert big.outcome is Outcome.REFUSED and big.reply is not None
    assert big.reply.code == 552 and classify_result(big).kind is ReplyKind.PERMANENT
    assert small.accepted and len(server.messages) == 1


def test_the_daily_limit_pauses_instead_of_failing(server: ScriptedSmtpServer) -> None:
    server.on("MAIL", "550 5.4.5 Daily user sending limit exceeded.")
    with SmtpConnection.open(settings(server)) as conn:
        [result] = conn.deliver([copy(0)])
    verdict = classify_result(result)
    assert verdict.kind is ReplyKind.QUOTA and verdict.pause is not None
    assert verdict.pause.total_seconds() == 24 * 3600


def test_a_connection_dropped_after_the_content(server: ScriptedSmtpServer) -> None:
    server.on(".", Drop())
    with SmtpConnection.open(settings(server)) as conn:
        dropped, pulled_ahead = conn.deliver([copy(0), copy(1), copy(2)])
        assert not conn.usable
    # The copy whose content was sent may have arrived (RFC 5321 section 6.1); the next one,
    # whose envelope went with it, did not. Both are retried; the third was never taken.
    assert dropped.outcome is pulled_ahead.outcome is Outcome.CONNECTION_LOST
    assert classify_result(dropped).kind is ReplyKind.TRANSIENT
    assert pulled_ahead.mail is None


def test_a_354_that_never_comes_times_out(server: ScriptedSmtpServer) -> None:
    server.on("DATA", Stall(10))
    quick = settings(server, timeouts=Timeouts(greeting=5, command=5, data_initiation=0.3))
    with SmtpConnection.open(quick) as conn:
        [result] = conn.deliver([copy(0)])
    assert result.outcome is Outcome.CONNECTION_LOST
    assert isinstance(result.error, SmtpTimeout) and result.error.phase == "DATA"
    assert "did not answer DATA within 0.3 s" in str(result.error)


def test_a_greeting_that_never_comes_times_out(server: ScriptedSmtpServer) -> None:
    server.on("CONNECT", Stall(10))
    with pytest.raises(SmtpTimeout, match=r"did not answer greeting within 0\.3 s"):
        SmtpConnection.open(settings(server, timeouts=Timeouts(greeting=0.3)))


def test_garbage_instead_of_a_reply(server: ScriptedSmtpServer) -> None:
    server.on("RCPT", Raw(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    with SmtpConnection.open(settings(server)) as conn:
        [result] = conn.deliver([copy(0)])
    assert isinstance(result.error, ProtocolError)


def test_a_refused_greeting_and_a_closed_port() -> None:
    with ScriptedSmtpServer() as server:
        server.on("CONNECT", "421 4.3.2 Too busy, try later")
        with pytest.raises(ConnectFailed, match="not taking sessions now: 421"):
            SmtpConnection.open(settings(server))
        server.on("CONNECT", "554 5.7.1 No SMTP service here")
        with pytest.raises(ConnectFailed, match="refused the session: 554"):
            SmtpConnection.open(settings(server))
    port = free_port()
    with pytest.raises(ConnectFailed, match=f"127.0.0.1:{port} refused the connection"):
        SmtpConnection.open(ConnectionSettings("127.0.0.1", port, security=Security.NONE))


def test_ehlo_refused_falls_back_to_helo(server: ScriptedSmtpServer) -> None:
    server.on("EHLO", "502 5.5.2 Error: command not recognized")
    with SmtpConnection.open(settings(server)) as conn:
        assert not conn.capabilities.esmtp
        [result] = conn.deliver([copy(0)])
    assert result.accepted and "HELO" in server.commands[1]
    assert server.pipelined == []


def test_starttls_that_is_not_offered_is_an_error_not_a_downgrade(
    server: ScriptedSmtpServer,
) -> None:
    with pytest.raises(TlsFailed, match="does not offer STARTTLS"):
        SmtpConnection.open(settings(server, security=Security.STARTTLS))
    assert "MAIL" not in " ".join(server.commands)


def test_auth_plain_and_login(certificates: Certificates) -> None:
    users = {"alice@example.test": "secret-alice"}
    with ScriptedSmtpServer(users=users) as server:
        for method in (AuthMethod.PLAIN, AuthMethod.LOGIN):
            login = settings(
                server, auth=method, username="alice@example.test", secret="secret-alice"
            )
            with SmtpConnection.open(login) as conn:
                assert next(conn.deliver([copy(0)])).accepted
        wrong = settings(
            server, auth=AuthMethod.LOGIN, username="alice@example.test", secret="nope"
        )
        with pytest.raises(AuthFailed, match="check the username and password") as failed:
            SmtpConnection.open(wrong)
        assert getattr(failed.value.reply, "code", None) == 535
        unauthenticated = settings(server)
        with SmtpConnection.open(unauthenticated) as conn:
            [refused] = conn.deliver([copy(1)])
        assert classify_result(refused).kind is ReplyKind.ACCOUNT


def test_xoauth2_and_its_error_challenge() -> None:
    with ScriptedSmtpServer(tokens={"ada@example.test": "good-token"}) as server:
        good = settings(
            server, auth=AuthMethod.XOAUTH2, username="ada@example.test", secret="good-token"
        )
        with SmtpConnection.open(good) as conn:
            assert next(conn.deliver([copy(0)])).accepted
        expired = settings(
            server, auth=AuthMethod.XOAUTH2, username="ada@example.test", secret="old"
        )
        with pytest.raises(AuthFailed, match="refresh it and retry once") as failed:
            SmtpConnection.open(expired)
        assert failed.value.details is not None and '"status":"401"' in failed.value.details


def test_microsoft_basic_auth_retirement_names_xoauth2() -> None:
    with ScriptedSmtpServer(users={"u@example.test": "pw"}) as server:
        server.on("AUTH", "550 5.7.30 Basic authentication is not supported for Client Submission.")
        login = settings(server, auth=AuthMethod.PLAIN, username="u@example.test", secret="pw")
        with pytest.raises(AuthFailed, match="use XOAUTH2"):
            SmtpConnection.open(login)


def test_a_mechanism_the_server_does_not_offer(server: ScriptedSmtpServer) -> None:
    login = settings(server, auth=AuthMethod.PLAIN, username="u@example.test", secret="pw")
    with pytest.raises(AuthUnavailable, match="offers no AUTH at all"):
        SmtpConnection.open(login)


def test_implicit_tls_checks_the_certificate(certificates: Certificates) -> None:
    context = certificates.server_context()
    with ScriptedSmtpServer(tls=context, implicit_tls=True) as server:
        tls = settings(
            server,
            security=Security.TLS,
            ca_file=str(certificates.ca_file),
            tls_server_name="mail.example.test",
        )
        with SmtpConnection.open(tls) as conn:
            assert conn.tls
            assert next(conn.deliver([copy(0)])).accepted
        wrong_name = settings(
            server,
            security=Security.TLS,
            ca_file=str(certificates.ca_file),
            tls_server_name="other.example.test",
        )
        with pytest.raises(TlsFailed, match=r"certificate of other\.example\.test is not valid"):
            SmtpConnection.open(wrong_name)
        untrusted = settings(server, security=Security.TLS, tls_server_name="mail.example.test")
        with pytest.raises(TlsFailed, match="pass a CA file"):
            SmtpConnection.open(untrusted)


def test_starttls_with_the_scripted_server(certificates: Certificates) -> None:
    with ScriptedSmtpServer(tls=certificates.server_context()) as server:
        starttls = settings(
            server,
            security=Security.STARTTLS,
            ca_file=str(certificates.ca_file),
            tls_server_name="mail.example.test",
        )
        with SmtpConnection.open(starttls) as conn:
            assert conn.tls and not conn.capabilities.starttls
            assert next(conn.deliver([copy(0)])).accepted
        assert [c.split()[0] for c in server.commands[:3]] == ["EHLO", "STARTTLS", "EHLO"]


def test_implicit_tls_to_a_plain_port_names_starttls(server: ScriptedSmtpServer) -> None:
    with pytest.raises(TlsFailed, match="set security to 'starttls'"):
        SmtpConnection.open(settings(server, security=Security.TLS))


def test_abandoning_a_stream_closes_the_connection(server: ScriptedSmtpServer) -> None:
    conn = SmtpConnection.open(settings(server))
    stream = conn.deliver(copy(n) for n in range(10))
    assert next(stream).accepted
    stream.close()
    assert not conn.usable
    conn.close()


def test_noop_on_a_live_session(server: ScriptedSmtpServer) -> None:
    with SmtpConnection.open(settings(server)) as conn:
        assert conn.noop().code == 250
        assert conn.greeting is not None and conn.greeting.code == 220


def test_ehlo_name_is_an_address_literal_by_default(server: ScriptedSmtpServer) -> None:
    with SmtpConnection.open(settings(server)):
        pass
    assert server.commands[0] == "EHLO [127.0.0.1]"
    assert socket.gethostname()  # the machine's name is never looked up


def test_a_tls_handshake_that_never_finishes_times_out() -> None:
    # A listening socket nobody serves: the TCP connection opens, the ClientHello is never
    # answered.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        tls = ConnectionSettings(
            "127.0.0.1", port, security=Security.TLS, timeouts=Timeouts(command=0.3)
        )
        with pytest.raises(SmtpTimeout, match="TLS handshake") as failed:
            SmtpConnection.open(tls)
        assert failed.value.phase == "TLS handshake"
