"""The sans-IO client connection: every server answer, broken ones included, fed as bytes."""

from __future__ import annotations

import base64

import pytest

from postroom.errors import ClientStateError, ProtocolError
from postroom.outbound.protocol import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    Replied,
    State,
)
from postroom.outbound.sasl import Login, Plain, XOAuth2
from postroom.outbound.types import Command

_COMMON = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
EHLO_PIPELINING = _COMMON + b"250 8BITMIME\r\n"
EHLO_FULL = (
    _COMMON + b"250-8BITMIME\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN XOAUTH2\r\n"
)


def events(conn: ClientConnection, data: bytes = b"") -> list[object]:
    """Feed ``data`` and take every event up to NEED_DATA (or the end)."""
    if data:
        conn.receive_data(data)
    found: list[object] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return found
        found.append(event)
        if isinstance(event, ConnectionClosed):
            return found


def session(ehlo: bytes = EHLO_FULL) -> ClientConnection:
    conn = ClientConnection()
    events(conn, b"220 mail.example.test ESMTP\r\n")
    assert conn.ehlo("client.example.test") == b"EHLO client.example.test\r\n"
    events(conn, ehlo)
    assert conn.state is State.READY
    return conn


def test_greeting_then_ehlo_reads_capabilities() -> None:
    conn = ClientConnection()
    assert conn.awaiting is Command.CONNECT
    assert conn.next_event() is NEED_DATA
    [greeted] = events(conn, b"220 mail.example.test ESMTP Postfix\r\n")
    assert isinstance(greeted, Replied) and greeted.command is Command.CONNECT
    assert conn.state is State.HELLO and conn.capabilities is None
    conn.ehlo("me.test")
    events(conn, EHLO_FULL)
    assert conn.capabilities is not None and conn.capabilities.pipelining
    assert conn.capabilities.auth_mechanisms == {"PLAIN", "LOGIN", "XOAUTH2"}


def test_ehlo_refused_falls_back_to_helo() -> None:
    # RFC 5321 section 3.2: a server that does not know EHLO answers 500, 502 or 504.
    conn = ClientConnection()
    events(conn, b"220 old.example.test SMTP\r\n")
    conn.ehlo("me.test")
    [refused] = events(conn, b"502 5.5.2 Error: command not recognized\r\n")
    assert isinstance(refused, Replied) and refused.reply.code == 502
    assert conn.state is State.HELLO
    assert conn.helo("me.test") == b"HELO me.test\r\n"
    events(conn, b"250 old.example.test\r\n")
    assert conn.state is State.READY
    assert conn.capabilities is not None and not conn.capabilities.esmtp


def test_greeting_554_allows_only_quit() -> None:
    conn = ClientConnection()
    events(conn, b"554 5.7.1 no SMTP service here\r\n")
    assert conn.state is State.REFUSED
    with pytest.raises(ClientStateError):
        conn.ehlo("me.test")
    assert conn.quit() == b"QUIT\r\n"
    [_bye, closed] = events(conn, b"221 2.0.0 Bye\r\n")
    assert isinstance(closed, ConnectionClosed) and conn.state is State.CLOSED


def test_421_greeting_closes() -> None:
    conn = ClientConnection()
    [replied, closed] = events(conn, b"421 4.3.2 Service not available\r\n")
    assert isinstance(replied, Replied) and replied.reply.code == 421
    assert closed == ConnectionClosed(replied.reply, ())
    assert conn.next_event() == closed  # stays closed


def test_starttls_forgets_capabilities_and_asks_again() -> None:
    conn = session()
    assert conn.starttls() == b"STARTTLS\r\n"
    events(conn, b"220 2.0.0 Ready to start TLS\r\n")
    assert conn.state is State.TLS_READY
    conn.tls_established()
    assert conn.tls and conn.state is State.HELLO and conn.capabilities is None
    conn.ehlo("me.test")
    events(conn, EHLO_PIPELINING)
    with pytest.raises(ClientStateError, match="already runs TLS"):
        conn.starttls()


def test_plaintext_injected_after_starttls_reply_is_refused() -> None:
    # RFC 3207 section 5 and the STARTTLS injection attacks: whatever arrives in clear after
    # the 220 must not be read as if it came over TLS.
    conn = session()
    conn.starttls()
    conn.receive_data(b"220 2.0.0 Ready to start TLS\r\n250 2.1.0 injected\r\n")
    assert isinstance(conn.next_event(), Replied)
    with pytest.raises(ProtocolError, match="after its 220 to STARTTLS"):
        conn.tls_established()
    assert conn.state is State.CLOSED


def test_starttls_refused_stays_ready() -> None:
    conn = session()
    conn.starttls()
    events(conn, b"454 4.7.0 TLS not available due to local problem\r\n")
    assert conn.state is State.READY


def test_auth_plain_sends_the_rfc_4616_message_as_initial_response() -> None:
    conn = session()
    line = conn.auth(Plain("tim", "tanstaaftanstaaf"))
    # RFC 4616 section 4, example: "\0tim\0tanstaaftanstaaf".
    assert line == b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"
    events(conn, b"235 2.7.0 Authentication successful\r\n")
    assert conn.authenticated and conn.state is State.READY
    with pytest.raises(ClientStateError, match="after a successful AUTH"):
        conn.auth(Plain("tim", "again"))


def test_auth_login_answers_username_then_password() -> None:
    conn = session()
    assert conn.auth(Login("alice", "s3cret")) == b"AUTH LOGIN\r\n"
    events(conn, b"334 VXNlcm5hbWU6\r\n")
    assert conn.auth_response() == base64.b64encode(b"alice") + b"\r\n"
    events(conn, b"334 UGFzc3dvcmQ6\r\n")
    assert conn.auth_response() == base64.b64encode(b"s3cret") + b"\r\n"
    [done] = events(conn, b"535 5.7.8 Error: authentication failed\r\n")
    assert isinstance(done, Replied) and done.reply.code == 535
    assert not conn.authenticated and conn.state is State.READY


def test_xoauth2_initial_response_is_googles_format() -> None:
    # The example of Google's "XOAUTH2 protocol" page.
    conn = session()
    line = conn.auth(
        XOAuth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    )
    assert line == (
        b"AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRj"
        b"Mk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==\r\n"
    )


def test_xoauth2_error_challenge_is_answered_with_an_empty_line_then_535() -> None:
    conn = session()
    conn.auth(XOAuth2("someuser@example.com", "expired"))
    error = b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
    events(conn, b"334 " + base64.b64encode(error) + b"\r\n")
    assert conn.auth_response() == b"\r\n"
    [refused] = events(
        conn, b"535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 gsmtp\r\n"
    )
    assert isinstance(refused, Replied) and refused.reply.code == 535
    assert conn.auth_details == error.decode()


def test_long_initial_response_waits_for_the_servers_empty_challenge() -> None:
    # RFC 4954 section 4: an AUTH line over 512 octets goes without its initial response.
    conn = session()
    token = "t" * 600
    assert conn.auth(XOAuth2("u@example.test", token)) == b"AUTH XOAUTH2\r\n"
    events(conn, b"334 \r\n")
    answer = conn.auth_response()
    assert (
        base64.b64decode(answer.strip())
        == f"user=u@example.test\x01auth=Bearer {token}\x01\x01".encode()
    )


def test_challenge_that_is_not_base64_is_cancelled() -> None:
    conn = session()
    conn.auth(Login("alice", "pw"))
    events(conn, b"334 Username:\r\n")
    assert conn.auth_response() == b"*\r\n"
    events(conn, b"501 5.7.0 Authentication aborted\r\n")
    assert conn.state is State.READY and not conn.authenticated


def test_without_pipelining_every_command_waits_for_its_reply() -> None:
    conn = session(b"250-mail.example.test\r\n250 8BITMIME\r\n")
    conn.mail("a@x.test")
    with pytest.raises(ClientStateError, match="does not offer PIPELINING"):
        conn.rcpt("b@y.test")
    events(conn, b"250 2.1.0 Ok\r\n")
    conn.rcpt("b@y.test")


def test_pipelining_sends_a_group_but_waits_after_data() -> None:
    conn = session()
    group = conn.mail("a@x.test", size=120) + conn.rcpt("b@y.test") + conn.data()
    assert group == b"MAIL FROM:<a@x.test> SIZE=120\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
    with pytest.raises(ClientStateError, match="wait for 354"):
        conn.send_body(b"x\r\n")
    replies = events(conn, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n")
    assert [r.command for r in replies if isinstance(r, Replied)] == [
        Command.MAIL,
        Command.RCPT,
        Command.DATA,
    ]
    assert conn.state is State.BODY
    # The content may open the next group (RFC 2920 section 3.1).
    conn.send_body(b"x\r\n")
    conn.mail("a@x.test")
    assert conn.awaiting is Command.END_OF_DATA


def test_nothing_may_follow_a_group_ender_before_its_reply() -> None:
    conn = session()
    conn.noop()
    with pytest.raises(ClientStateError, match="ends a pipelined group"):
        conn.mail("a@x.test")


def test_refused_data_leaves_the_transaction_for_rset() -> None:
    conn = session()
    conn.mail("a@x.test")
    conn.rcpt("gone@y.test")
    conn.data()
    events(conn, b"250 2.1.0 Ok\r\n550 5.1.1 <gone@y.test>: Recipient address rejected\r\n")
    events(conn, b"554 5.5.1 Error: no valid recipients\r\n")
    assert conn.state is State.TRANSACTION
    with pytest.raises(ClientStateError):
        conn.mail("a@x.test")
    assert conn.rset() == b"RSET\r\n"
    assert conn.state is State.READY


def test_mail_parameters_follow_the_extensions() -> None:
    conn = session()
    line = conn.mail("ü@x.test", size=9, smtputf8=True, body_8bit=True)
    assert line == "MAIL FROM:<ü@x.test> SIZE=9 BODY=8BITMIME SMTPUTF8\r\n".encode()
    plain = session(b"250 mail.example.test\r\n")
    assert plain.mail("a@x.test", size=9) == b"MAIL FROM:<a@x.test>\r\n"
    with pytest.raises(ClientStateError, match="SMTPUTF8"):
        session(EHLO_PIPELINING).mail("ü@x.test", smtputf8=True)


def test_unsolicited_421_closes_and_other_unsolicited_replies_are_errors() -> None:
    conn = session()
    [closed] = events(conn, b"421 4.4.2 mail.example.test Error: timeout exceeded\r\n")
    assert isinstance(closed, ConnectionClosed) and closed.reply is not None
    other = session()
    other.receive_data(b"250 2.0.0 surprise\r\n")
    with pytest.raises(ProtocolError, match="nobody asked for"):
        other.next_event()
    assert other.state is State.CLOSED


def test_421_mid_group_names_the_unanswered_commands() -> None:
    conn = session()
    conn.mail("a@x.test")
    conn.rcpt("b@y.test")
    conn.data()
    replied, closed = events(conn, b"421 4.7.0 Try again later, closing connection.\r\n")
    assert isinstance(replied, Replied) and replied.command is Command.MAIL
    assert closed == ConnectionClosed(replied.reply, (Command.RCPT, Command.DATA))


def test_connection_closed_mid_reply() -> None:
    conn = session()
    conn.mail("a@x.test")
    conn.receive_data(b"250 2.1")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed(None, (Command.MAIL,))


def test_garbage_closes_the_connection() -> None:
    conn = session()
    conn.mail("a@x.test")
    conn.receive_data(b"<html>oops</html>\r\n")
    with pytest.raises(ProtocolError):
        conn.next_event()
    assert conn.state is State.CLOSED


def test_quit_ends_the_session() -> None:
    conn = session()
    conn.quit()
    replied, closed = events(conn, b"221 2.0.0 Bye\r\n")
    assert isinstance(replied, Replied) and replied.command is Command.QUIT
    assert isinstance(closed, ConnectionClosed) and closed.unanswered == ()
