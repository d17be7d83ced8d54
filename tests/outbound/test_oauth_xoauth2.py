"""XOAUTH2 logins: the SASL message, the error challenge, the answers servers give, the retry.

The examples come from the documents the table cites: Google's "XOAUTH2 protocol" page (its
initial response and error challenge, word for word) and the reply texts Gmail and Exchange
Online send, as their pages quote them. What a real server (Dovecot behind Postfix) answers is
in test_oauth_rig.py.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from postroom.errors import OAuthRevoked, XOAuth2LoginRefused
from postroom.outbound.oauth import MemoryTokenTransport, OAuthCredentials, TokenResponse
from postroom.outbound.xoauth2 import (
    CHALLENGE_STATUSES,
    LOGIN_ANSWERS,
    LoginAction,
    LoginAnswer,
    classify_challenge,
    classify_login_answer,
    login_refused,
    login_with_refresh,
    read_xoauth2_challenge,
    xoauth2_initial_response,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

GMAIL_BAD_CREDENTIALS = (
    "5.7.8 Username and Password not accepted. Learn more at\n"
    "5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a05 - gsmtp"
)
MS_TENANT_OFF = (
    "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
    " Visit https://aka.ms/smtp_auth_disabled for more information."
)
MS_MAILBOX_OFF = (
    "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox."
)


def test_initial_response_is_googles_example() -> None:
    # Google's page: user someuser@example.com, token ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg
    message = xoauth2_initial_response(
        "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
    )
    assert message == (
        b"user=someuser@example.com\x01"
        b"auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
    )
    assert base64.b64encode(message) == (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
        b"YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )


@pytest.mark.parametrize(
    ("user", "token"), [("", "t"), ("a@b", ""), ("a\x01b", "t"), ("a@b", "t\r\n")]
)
def test_initial_response_refuses_separators_and_empty_values(user: str, token: str) -> None:
    with pytest.raises(ValueError, match="XOAUTH2"):
        xoauth2_initial_response(user, token)


def test_googles_error_challenge_means_refresh_and_retry() -> None:
    # Google's page, "Error response": the challenge, then its decoded JSON.
    challenge = read_xoauth2_challenge(
        "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9t"
        "YWlsLmdvb2dsZS5jb20vIn0K"
    )
    assert (challenge.status, challenge.schemes, challenge.scope) == (
        "401",
        "bearer mac",
        "https://mail.google.com/",
    )
    answer = classify_challenge(challenge)
    assert answer.action is LoginAction.REFRESH_AND_RETRY
    assert answer.rule is CHALLENGE_STATUSES["401"]


def test_an_oauthbearer_challenge_with_insufficient_scope_names_the_scopes() -> None:
    # RFC 7628 section 3.2.2's error fields, with the RFC 6750 error code as status.
    payload = base64.b64encode(b'{"status":"insufficient_scope","scope":"mail"}')
    answer = classify_challenge(read_xoauth2_challenge(payload), account="sales")
    assert answer.action is LoginAction.FIX_ACCOUNT
    assert "https://mail.google.com/" in answer.fix
    assert "postroom accounts add sales --auth xoauth2" in answer.fix


def test_a_challenge_that_is_not_base64_json_is_kept_raw() -> None:
    challenge = read_xoauth2_challenge("not base64!")
    assert challenge.status is None and challenge.raw == "not base64!"
    assert classify_challenge(challenge).action is LoginAction.REFRESH_AND_RETRY


@pytest.mark.parametrize(
    ("code", "text", "action", "fix_mentions"),
    [
        (535, GMAIL_BAD_CREDENTIALS, LoginAction.REFRESH_AND_RETRY, "https://mail.google.com/"),
        (535, MS_TENANT_OFF, LoginAction.FIX_ACCOUNT, "SmtpClientAuthenticationDisabled $false"),
        (535, MS_MAILBOX_OFF, LoginAction.FIX_ACCOUNT, "Set-CASMailbox"),
        (
            535,
            "5.7.139 Authentication unsuccessful, basic authentication is disabled.",
            LoginAction.FIX_ACCOUNT,
            "XOAUTH2",
        ),
        (
            535,
            "5.7.139 Authentication unsuccessful, user is locked by your organization's"
            " security defaults policy. Contact your administrator.",
            LoginAction.FIX_ACCOUNT,
            "security defaults",
        ),
        (
            550,
            "5.7.30 Basic authentication is not supported for Client Submission.",
            LoginAction.FIX_ACCOUNT,
            "https://outlook.office.com/SMTP.Send",
        ),
        (
            535,
            "5.7.3 Authentication unsuccessful [AM0PR01CA0001.eurprd01.prod.outlook.com]",
            LoginAction.REFRESH_AND_RETRY,
            "https://outlook.office.com/SMTP.Send",
        ),
        (
            535,
            "5.7.8 Error: authentication failed: (reason unavailable)",
            LoginAction.REFRESH_AND_RETRY,
            "user",
        ),
        (454, "4.7.0 Temporary authentication failure", LoginAction.RETRY_LATER, "retried"),
        (
            538,
            "5.7.11 Encryption required for requested authentication mechanism",
            LoginAction.FIX_ACCOUNT,
            "TLS",
        ),
        (504, "5.5.4 Unrecognized authentication type", LoginAction.FIX_ACCOUNT, "host"),
        (421, "4.7.0 Try again later, closing connection.", LoginAction.RETRY_LATER, "retried"),
        (554, "5.7.0 Too many invalid authentication attempts", LoginAction.FIX_ACCOUNT, "reply"),
    ],
)
def test_answers_to_a_login(code: int, text: str, action: LoginAction, fix_mentions: str) -> None:
    answer = classify_login_answer(code, text, account="sales")
    assert answer.action is action
    assert fix_mentions in answer.fix
    assert answer.reply.startswith(str(code))


def test_microsoft_texts_win_over_the_rfc_rows() -> None:
    tenant = classify_login_answer(535, MS_TENANT_OFF)
    assert tenant.status == "5.7.139"
    assert tenant.rule is not None and tenant.rule.provider == "Microsoft 365"
    # The same code and status without the documented text falls to the general 5.7.139 row.
    other = classify_login_answer(535, "5.7.139 Authentication unsuccessful, something new")
    assert other.rule is not None and other.rule.text is None and other.rule.status == "5.7.139"


def test_a_success_is_no_answer_to_classify() -> None:
    with pytest.raises(ValueError, match="235"):
        classify_login_answer(235, "2.7.0 Authentication successful")


def test_every_row_has_a_source_and_lower_case_text() -> None:
    for rule in (*LOGIN_ANSWERS, *CHALLENGE_STATUSES.values()):
        assert rule.source and rule.meaning and rule.fix
        assert rule.text is None or rule.text == rule.text.lower()


def test_login_refused_carries_the_reply_and_the_fix() -> None:
    error = login_refused(classify_login_answer(535, MS_MAILBOX_OFF, account="sales"))
    assert isinstance(error, XOAuth2LoginRefused)
    assert error.reply.startswith("535 5.7.139 Authentication unsuccessful")
    assert "Set-CASMailbox" in str(error)
    assert not error.transient
    assert login_refused(classify_login_answer(454, "4.7.0 Temporary failure")).transient


# --- login_with_refresh --------------------------------------------------------------------------


def credentials(expires_at: datetime) -> OAuthCredentials:
    return OAuthCredentials(
        access_token="token-1",
        expires_at=expires_at,
        refresh_token="refresh-1",
        refresh_expires_at=None,
        token_url="https://oauth2.googleapis.com/token",
        client_id="client",
        client_secret="secret",
        scope="https://mail.google.com/",
    )


def fresh(token: str) -> TokenResponse:
    return TokenResponse.of_json(
        200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
    )


class Server:
    """Stands for an SMTP server that accepts the listed tokens; answers others with ``refusal``."""

    def __init__(self, accepted: set[str], refusal: tuple[int, str] = (535, GMAIL_BAD_CREDENTIALS)):
        self.accepted = accepted
        self.refusal = refusal
        self.tried: list[str] = []

    def __call__(self, token: str) -> LoginAnswer | None:
        self.tried.append(token)
        return None if token in self.accepted else classify_login_answer(*self.refusal)


def test_a_valid_token_logs_in_without_a_refresh() -> None:
    transport = MemoryTokenTransport()
    server = Server({"token-1"})
    outcome = login_with_refresh(credentials(NOW + timedelta(hours=1)), server, transport, NOW)
    assert outcome.refused is None and outcome.refreshes == 0
    assert transport.requests == [] and server.tried == ["token-1"]


def test_an_expired_token_is_refreshed_before_the_login() -> None:
    transport = MemoryTokenTransport([fresh("token-2")])
    server = Server({"token-2"})
    outcome = login_with_refresh(credentials(NOW - timedelta(seconds=1)), server, transport, NOW)
    assert outcome.refused is None and outcome.refreshes == 1
    assert server.tried == ["token-2"]
    assert outcome.credentials.access_token == "token-2"


def test_a_refused_token_is_refreshed_and_the_login_retried_once() -> None:
    # The server revoked a token our clock still calls valid.
    transport = MemoryTokenTransport([fresh("token-2")])
    server = Server({"token-2"})
    outcome = login_with_refresh(credentials(NOW + timedelta(hours=1)), server, transport, NOW)
    assert outcome.refused is None
    assert server.tried == ["token-1", "token-2"]


def test_only_one_retry() -> None:
    transport = MemoryTokenTransport([fresh("token-2")])
    server = Server(set())
    outcome = login_with_refresh(credentials(NOW + timedelta(hours=1)), server, transport, NOW)
    assert server.tried == ["token-1", "token-2"]
    assert outcome.refused is not None and outcome.refreshes == 1
    # The refreshed credentials are handed back even so: the caller stores them.
    assert outcome.credentials.access_token == "token-2"
    with pytest.raises(XOAuth2LoginRefused, match="Gmail refused the token"):
        outcome.raise_for_refusal()


def test_a_fresh_token_refused_is_not_refreshed_again() -> None:
    transport = MemoryTokenTransport([fresh("token-2")])
    server = Server(set())
    outcome = login_with_refresh(credentials(NOW - timedelta(hours=1)), server, transport, NOW)
    assert server.tried == ["token-2"] and outcome.refreshes == 1


def test_a_refusal_no_refresh_mends_is_not_retried() -> None:
    transport = MemoryTokenTransport()
    server = Server(set(), refusal=(535, MS_TENANT_OFF))
    outcome = login_with_refresh(credentials(NOW + timedelta(hours=1)), server, transport, NOW)
    assert server.tried == ["token-1"] and transport.requests == []
    with pytest.raises(XOAuth2LoginRefused, match="SMTP AUTH turned off"):
        outcome.raise_for_refusal()


def test_a_revoked_refresh_token_stops_the_login() -> None:
    transport = MemoryTokenTransport([TokenResponse.of_json(400, {"error": "invalid_grant"})])
    server = Server(set())
    with pytest.raises(OAuthRevoked, match="postroom accounts add sales --auth xoauth2"):
        login_with_refresh(
            credentials(NOW - timedelta(seconds=1)), server, transport, NOW, account="sales"
        )
    assert server.tried == []
