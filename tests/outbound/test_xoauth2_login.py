"""The XOAUTH2 login policy (outbound.xoauth2: refresh and retry once) driving postroom's own
connection: a refused token is refreshed through the token endpoint, the login retried, and
the session then sends. The SMTP server is the scripted one (Google's error challenge, then
535); the token endpoint is the public fake of the token transport."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from postroom.errors import AuthFailed
from postroom.outbound import (
    AuthMethod,
    ConnectionSettings,
    OutgoingCopy,
    Reply,
    Security,
    SmtpConnection,
    Timeouts,
)
from postroom.outbound.oauth import OAuthCredentials
from postroom.outbound.token_transport import MemoryTokenTransport, TokenResponse
from postroom.outbound.xoauth2 import LoginAnswer, classify_login_answer, login_with_refresh
from support.smtpserver import ScriptedSmtpServer

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def reply_text(reply: Reply) -> str:
    """The reply as classify_login_answer reads it: the enhanced code leading the text."""
    return f"{reply.enhanced} {reply.text}" if reply.enhanced else reply.text


def test_a_refused_token_is_refreshed_and_the_login_retried_once() -> None:
    credentials = OAuthCredentials(
        access_token="revoked-by-the-provider",
        expires_at=NOW + timedelta(minutes=30),  # looks valid: the server is the one to refuse
        refresh_token="refresh-1",
        refresh_expires_at=None,
        token_url="http://127.0.0.1:9/token",
        client_id="client",
        client_secret="secret",
        scope="https://mail.google.com/",
    )
    tokens = MemoryTokenTransport(
        [TokenResponse.of_json(200, {"access_token": "fresh", "expires_in": 3600})]
    )
    with ScriptedSmtpServer(tokens={"ada@example.test": "fresh"}) as server:
        opened: list[SmtpConnection] = []

        def attempt(token: str) -> LoginAnswer | None:
            settings = ConnectionSettings(
                server.host,
                server.port,
                security=Security.NONE,
                auth=AuthMethod.XOAUTH2,
                username="ada@example.test",
                secret=token,
                timeouts=Timeouts.uniform(5),
            )
            try:
                opened.append(SmtpConnection.open(settings))
            except AuthFailed as refused:
                assert isinstance(refused.reply, Reply)
                return classify_login_answer(refused.reply.code, reply_text(refused.reply))
            return None

        outcome = login_with_refresh(credentials, attempt, tokens, NOW, account="ada")
        assert outcome.refused is None and outcome.refreshes == 1
        assert outcome.credentials.access_token == "fresh"
        [conn] = opened
        with conn:
            [result] = conn.deliver([OutgoingCopy("ada@example.test", "b@y.test", b"hi\r\n")])
        assert result.accepted
    assert [line.split()[:2] for line in server.commands if line.startswith("AUTH")] == [
        ["AUTH", "XOAUTH2"],
        ["AUTH", "XOAUTH2"],
    ]
