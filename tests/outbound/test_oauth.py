"""Refreshing OAuth 2.0 access tokens (RFC 6749 section 6) and the decisions taken before a login.

The token endpoint is the public fake :class:`MemoryTokenTransport`; it answers with the
specifications' own example messages where they have one (RFC 6749 sections 5.1, 5.2 and 6,
RFC 6750 section 4), and says so. Time is a parameter: no test sleeps.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from postroom.errors import (
    OAuthClientRejected,
    OAuthCredentialsInvalid,
    OAuthEndpointError,
    OAuthError,
    OAuthRequestRejected,
    OAuthRevoked,
    OAuthUnavailable,
)
from postroom.outbound.oauth import (
    DEFAULT_ACCESS_LIFETIME,
    GOOGLE_TESTING_REFRESH_LIFETIME,
    NOT_YET_ISSUED,
    TOKEN_ERRORS,
    ClientAuth,
    MemoryTokenTransport,
    OAuthCredentials,
    RefreshWarningKind,
    TokenResponse,
    build_refresh_request,
    credentials_from_token_response,
    mark_revoked,
    needs_refresh,
    read_token_response,
    refresh_credentials,
    refresh_warning,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"

# RFC 6749 section 6's example request: client s6BhdRkqt3, secret gX1fBat3bV (section 4.1.3
# names them), refresh token tGzv3JOkF0XG5Qx2TlKWIA.
RFC_CLIENT_ID = "s6BhdRkqt3"
RFC_CLIENT_SECRET = "gX1fBat3bV"
RFC_REFRESH_TOKEN = "tGzv3JOkF0XG5Qx2TlKWIA"


def credentials(**changes: object) -> OAuthCredentials:
    values: dict[str, object] = {
        "access_token": "old-access-token",
        "expires_at": NOW - timedelta(minutes=5),
        "refresh_token": "old-refresh-token",
        "refresh_expires_at": None,
        "token_url": GOOGLE_TOKEN_URL,
        "client_id": "client-123.apps.googleusercontent.com",
        "client_secret": "client-secret",
        "scope": "https://mail.google.com/",
    }
    values.update(changes)
    return OAuthCredentials(**values)  # type: ignore[arg-type]


def refresh_with(
    answer: TokenResponse | OAuthError, creds: OAuthCredentials | None = None
) -> OAuthCredentials:
    transport = MemoryTokenTransport([answer])
    return refresh_credentials(creds or credentials(), transport, NOW, account="sales")


# --- the request --------------------------------------------------------------------------------


def test_refresh_request_is_rfc6749_section_6_example() -> None:
    creds = credentials(
        client_id=RFC_CLIENT_ID,
        client_secret=RFC_CLIENT_SECRET,
        refresh_token=RFC_REFRESH_TOKEN,
        scope="",
        client_auth=ClientAuth.BASIC,
        token_url="https://server.example.com/token",
    )
    request = build_refresh_request(creds)
    assert request.url == "https://server.example.com/token"
    assert request.header("Authorization") == "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.body == b"grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA"


def test_refresh_request_with_the_client_in_the_body_and_the_scope() -> None:
    request = build_refresh_request(credentials())
    assert request.header("Authorization") is None
    assert request.form() == {
        "grant_type": "refresh_token",
        "refresh_token": "old-refresh-token",
        "scope": "https://mail.google.com/",
        "client_id": "client-123.apps.googleusercontent.com",
        "client_secret": "client-secret",
    }


def test_a_public_client_names_itself_in_the_body() -> None:
    # RFC 6749 section 3.2.1: a client without a secret sends its client_id.
    request = build_refresh_request(credentials(client_secret="", client_auth=ClientAuth.BASIC))
    assert request.header("Authorization") is None
    assert request.form()["client_id"] == "client-123.apps.googleusercontent.com"
    assert "client_secret" not in request.form()


def test_basic_credentials_are_form_encoded_before_they_are_joined() -> None:
    # RFC 6749 section 2.3.1: a ':' in the secret must not split the pair.
    creds = credentials(
        client_id="id with space", client_secret="se:cr/et", client_auth=ClientAuth.BASIC
    )
    header = build_refresh_request(creds).header("Authorization")
    assert header is not None
    assert base64.b64decode(header.removeprefix("Basic ")) == b"id+with+space:se%3Acr%2Fet"


def test_the_request_repr_shows_no_secret() -> None:
    request = build_refresh_request(credentials())
    assert "old-refresh-token" not in repr(request)
    assert "client-secret" not in repr(request)


# --- successful answers --------------------------------------------------------------------------


def test_refresh_reads_rfc6750_section_4_example_response() -> None:
    # RFC 6750 section 4's example answer: a bearer token and a new refresh token.
    answer = TokenResponse.of_json(
        200,
        {
            "access_token": "mF_9.B5f-4.1JqM",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
        },
    )
    refreshed = refresh_with(answer, credentials(revoked_at=NOW - timedelta(days=1)))
    assert refreshed.access_token == "mF_9.B5f-4.1JqM"
    assert refreshed.expires_at == NOW + timedelta(seconds=3600)
    # RFC 6749 section 6: a new refresh token replaces the old one.
    assert refreshed.refresh_token == "tGzv3JOkF0XG5Qx2TlKWIA"
    assert refreshed.revoked_at is None
    assert refreshed.scope == "https://mail.google.com/"


def test_the_refresh_token_stays_when_the_answer_has_none() -> None:
    # Google's refresh answers carry no refresh token: the old one goes on working.
    when = NOW + timedelta(days=3)
    answer = TokenResponse.of_json(
        200, {"access_token": "ya29.new", "token_type": "Bearer", "expires_in": 3599}
    )
    refreshed = refresh_with(answer, credentials(refresh_expires_at=when))
    assert refreshed.refresh_token == "old-refresh-token"
    assert refreshed.refresh_expires_at == when
    assert refreshed.access_token == "ya29.new"


def test_a_rotated_refresh_token_forgets_the_old_ones_end() -> None:
    answer = TokenResponse.of_json(
        200, {"access_token": "a2", "token_type": "bearer", "refresh_token": "r2", "expires_in": 60}
    )
    refreshed = refresh_with(answer, credentials(refresh_expires_at=NOW + timedelta(days=3)))
    assert (refreshed.refresh_token, refreshed.refresh_expires_at) == ("r2", None)


def test_refresh_token_expires_in_dates_the_refresh_token() -> None:
    answer = TokenResponse.of_json(
        200,
        {
            "access_token": "a2",
            "token_type": "Bearer",
            "expires_in": 3599,
            "refresh_token_expires_in": 604799,
        },
    )
    assert refresh_with(answer).refresh_expires_at == NOW + timedelta(seconds=604799)


def test_expires_in_as_text_and_missing() -> None:
    as_text = TokenResponse.of_json(200, {"access_token": "a", "expires_in": "3599"})
    assert refresh_with(as_text).expires_at == NOW + timedelta(seconds=3599)
    missing = TokenResponse.of_json(200, {"access_token": "a", "token_type": "Bearer"})
    assert refresh_with(missing).expires_at == NOW + DEFAULT_ACCESS_LIFETIME


def test_a_narrower_scope_in_the_answer_is_kept() -> None:
    answer = TokenResponse.of_json(
        200, {"access_token": "a", "token_type": "Bearer", "scope": "https://mail.google.com/"}
    )
    wide = credentials(scope="https://mail.google.com/ openid")
    assert refresh_with(answer, wide).scope == "https://mail.google.com/"


def test_rfc6749_section_5_1_example_is_refused_for_its_token_type() -> None:
    # RFC 6749 section 5.1's example has token_type "example": XOAUTH2 sends bearer tokens.
    answer = TokenResponse.of_json(
        200,
        {
            "access_token": "2YotnFZFEjr1zCsicMWpAA",
            "token_type": "example",
            "expires_in": 3600,
            "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
            "example_parameter": "example_value",
        },
    )
    with pytest.raises(OAuthEndpointError, match="token_type 'example'"):
        refresh_with(answer)


@pytest.mark.parametrize(
    "body",
    [b"<html>captive portal</html>", b"[]", json.dumps({"token_type": "Bearer"}).encode()],
)
def test_a_200_without_an_access_token_names_the_token_url(body: bytes) -> None:
    with pytest.raises(OAuthEndpointError, match="token URL"):
        refresh_with(TokenResponse(200, body))


def test_a_redirect_is_not_followed() -> None:
    with pytest.raises(OAuthEndpointError, match=r"redirected .*https://elsewhere\.example/token"):
        refresh_with(TokenResponse(302, b"", location="https://elsewhere.example/token"))


# --- error answers (RFC 6749 section 5.2) ------------------------------------------------------


def test_invalid_grant_says_revoked_and_how_to_reauthorise() -> None:
    answer = TokenResponse.of_json(
        400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    )
    with pytest.raises(OAuthRevoked) as raised:
        refresh_with(answer)
    error = raised.value
    assert error.code == "invalid_grant"
    assert not error.transient
    assert str(error).startswith("the refresh token was revoked or has expired")
    assert "re-authorise the account with its provider" in str(error)
    assert "postroom accounts add sales --auth xoauth2" in str(error)
    assert "Token has been expired or revoked." in str(error)


def test_rfc6749_section_5_2_example_is_a_malformed_request() -> None:
    # RFC 6749 section 5.2's example: HTTP 400 with {"error":"invalid_request"}.
    with pytest.raises(OAuthRequestRejected, match="malformed") as raised:
        refresh_with(TokenResponse(400, b'{"error":"invalid_request"}'))
    assert raised.value.code == "invalid_request"


@pytest.mark.parametrize(
    "answer",
    [
        TokenResponse.of_json(400, {"error": "invalid_client"}),
        TokenResponse.of_json(401, {"error": "invalid_client"}),
        TokenResponse(401, b""),  # Basic authentication failed, no JSON (section 5.2 allows it)
        TokenResponse.of_json(400, {"error": "unauthorized_client"}),
    ],
)
def test_a_refused_client_says_check_the_client_id_and_secret(answer: TokenResponse) -> None:
    with pytest.raises(OAuthClientRejected) as raised:
        refresh_with(answer)
    assert raised.value.code in ("invalid_client", "unauthorized_client")
    assert "client" in str(raised.value)


def test_invalid_scope_names_the_scope_and_the_mail_scopes() -> None:
    with pytest.raises(OAuthRequestRejected) as raised:
        refresh_with(TokenResponse.of_json(400, {"error": "invalid_scope"}))
    message = str(raised.value)
    assert "'https://mail.google.com/'" in message
    assert "https://outlook.office.com/SMTP.Send" in message


def test_an_error_code_rfc6749_lacks_is_named() -> None:
    # Microsoft's AADSTS codes ride in error_description; an unknown code is shown as it came.
    answer = TokenResponse.of_json(
        400, {"error": "interaction_required", "error_description": "AADSTS50076"}
    )
    with pytest.raises(OAuthRequestRejected, match=r"'interaction_required'.*AADSTS50076"):
        refresh_with(answer)


@pytest.mark.parametrize(
    "answer",
    [
        TokenResponse(500, b"Internal Server Error"),
        TokenResponse(503, b""),
        TokenResponse(429, b""),
        TokenResponse.of_json(400, {"error": "temporarily_unavailable"}),
        TokenResponse.of_json(502, {"error": "invalid_grant"}),  # 5xx is transient whatever it says
    ],
)
def test_server_failures_are_transient(answer: TokenResponse) -> None:
    with pytest.raises(OAuthUnavailable) as raised:
        refresh_with(answer)
    assert raised.value.transient


def test_a_network_failure_reaches_the_caller_as_transient() -> None:
    # The fake raises what UrllibTokenTransport raises when the network is down.
    down = OAuthUnavailable("cannot reach the token endpoint", "retried later")
    with pytest.raises(OAuthUnavailable):
        refresh_with(down)


def test_an_unexpected_status_without_an_error_is_an_endpoint_error() -> None:
    with pytest.raises(OAuthEndpointError, match="HTTP 404"):
        refresh_with(TokenResponse(404, b"Not Found"))


def test_every_error_rule_has_a_source_and_a_fix() -> None:
    for code, rule in TOKEN_ERRORS.items():
        assert rule.code == code
        assert rule.source and rule.fix and rule.problem
        assert issubclass(rule.error, OAuthError)


def test_the_fake_transport_records_requests_and_runs_dry_loudly() -> None:
    transport = MemoryTokenTransport()
    with pytest.raises(LookupError, match="no answer queued"):
        refresh_credentials(credentials(), transport, NOW)
    assert transport.requests[0].form()["grant_type"] == "refresh_token"


# --- stored credentials --------------------------------------------------------------------------


def test_credentials_round_trip_through_json() -> None:
    creds = credentials(
        refresh_expires_at=NOW + timedelta(days=7),
        client_auth=ClientAuth.BASIC,
        revoked_at=NOW,
    )
    stored = json.loads(json.dumps(creds.to_json()))
    assert OAuthCredentials.from_json(stored) == creds


def test_credentials_as_an_account_is_added_need_a_refresh_first() -> None:
    # The form `postroom accounts add --auth xoauth2` stores: a refresh token, no access token.
    added = {
        "access_token": "",
        "expires_at": None,
        "refresh_token": "1//refresh",
        "refresh_expires_at": None,
        "token_url": GOOGLE_TOKEN_URL,
        "client_id": "client",
        "client_secret": "",
        "scope": "https://mail.google.com/",
    }
    creds = OAuthCredentials.from_json(added)
    assert creds.expires_at == NOT_YET_ISSUED
    assert needs_refresh(creds, NOW)
    assert OAuthCredentials.from_json(creds.to_json()) == creds
    with pytest.raises(OAuthCredentialsInvalid, match="expires_at is missing"):
        OAuthCredentials.from_json(added | {"access_token": "a"})


def test_the_repr_shows_no_secret() -> None:
    shown = repr(credentials())
    for secret in ("old-access-token", "old-refresh-token", "client-secret"):
        assert secret not in shown
    assert "oauth2.googleapis.com" in shown


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"expires_at": "yesterday"}, "expires_at"),
        ({"expires_at": "2026-11-21T12:00:00"}, "expires_at"),  # no time zone
        ({"refresh_token": None}, "refresh_token"),
        ({"client_auth": "digest"}, "client_auth"),
        ({"version": 9}, "version"),
    ],
)
def test_unreadable_stored_credentials_name_the_field(
    change: dict[str, object], named: str
) -> None:
    data = credentials().to_json() | change
    with pytest.raises(OAuthCredentialsInvalid, match=named):
        OAuthCredentials.from_json(data)


@pytest.mark.parametrize(
    "url",
    ["http://oauth2.googleapis.com/token", "ftp://example.com/token", "https:///token", "token"],
)
def test_the_token_url_must_be_https(url: str) -> None:
    # RFC 6749 section 3.2: the token endpoint is reached over TLS.
    with pytest.raises(OAuthCredentialsInvalid, match="https"):
        credentials(token_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/token", "http://[::1]/token", "http://localhost/t"]
)
def test_plain_http_is_allowed_to_loopback_only(url: str) -> None:
    assert credentials(token_url=url).token_url == url


def test_naive_times_are_refused() -> None:
    with pytest.raises(OAuthCredentialsInvalid, match="time zone"):
        credentials(expires_at=datetime(2026, 11, 21, 12, 0))


# --- decisions ------------------------------------------------------------------------------------


def test_needs_refresh_within_the_margin() -> None:
    creds = credentials(expires_at=NOW + timedelta(minutes=10))
    assert not needs_refresh(creds, NOW)
    assert not needs_refresh(creds, NOW + timedelta(minutes=7, seconds=59))
    assert needs_refresh(creds, NOW + timedelta(minutes=8))
    assert needs_refresh(creds, NOW, margin=timedelta(minutes=10))
    assert needs_refresh(creds, NOW + timedelta(hours=1))


def test_no_warning_when_the_refresh_tokens_end_is_unknown() -> None:
    assert refresh_warning(credentials(), NOW) is None


def test_a_refresh_token_close_to_its_end_is_reported_before_sends_fail() -> None:
    # A Google app in the Testing publishing status: the account was authorised 6 days ago.
    authorised = NOW - timedelta(days=6)
    creds = credentials(refresh_expires_at=authorised + GOOGLE_TESTING_REFRESH_LIFETIME)
    assert refresh_warning(creds, NOW - timedelta(days=2)) is None
    warning = refresh_warning(creds, NOW, account="sales")
    assert warning is not None
    assert warning.kind is RefreshWarningKind.EXPIRING
    assert warning.at == NOW + timedelta(days=1)
    assert "in 24 h" in warning.message
    assert "postroom accounts add sales --auth xoauth2" in warning.fix
    assert "Testing" in warning.fix


def test_a_refresh_token_past_its_end_is_reported_as_expired() -> None:
    creds = credentials(refresh_expires_at=NOW - timedelta(minutes=1))
    warning = refresh_warning(creds, NOW)
    assert warning is not None and warning.kind is RefreshWarningKind.EXPIRED


def test_a_refused_refresh_token_is_reported_until_a_refresh_succeeds() -> None:
    creds = credentials()
    with pytest.raises(OAuthRevoked):
        refresh_with(TokenResponse.of_json(400, {"error": "invalid_grant"}), creds)
    revoked = mark_revoked(creds, NOW)
    warning = refresh_warning(revoked, NOW + timedelta(hours=1), account="sales")
    assert warning is not None
    assert warning.kind is RefreshWarningKind.REVOKED
    assert warning.at == NOW
    assert "postroom accounts add sales --auth xoauth2" in str(warning)
    answer = TokenResponse.of_json(200, {"access_token": "a", "token_type": "Bearer"})
    assert refresh_warning(read_token_response(revoked, answer, NOW), NOW) is None


# --- the first answer of an authorisation --------------------------------------------------------


def test_credentials_from_the_code_exchange_of_a_testing_app() -> None:
    # RFC 6749 section 4.1.4: the answer to the code exchange has both tokens. Google's Testing
    # apps do not send the refresh token's lifetime; the caller states it.
    answer = TokenResponse.of_json(
        200,
        {
            "access_token": "ya29.first",
            "token_type": "Bearer",
            "expires_in": 3599,
            "refresh_token": "1//first",
            "scope": "https://mail.google.com/",
        },
    )
    creds = credentials_from_token_response(
        answer,
        NOW,
        token_url=GOOGLE_TOKEN_URL,
        client_id="client",
        client_secret="secret",
        scope="https://mail.google.com/",
        refresh_lifetime=GOOGLE_TESTING_REFRESH_LIFETIME,
    )
    assert creds.refresh_token == "1//first"
    assert creds.expires_at == NOW + timedelta(seconds=3599)
    assert creds.refresh_expires_at == NOW + timedelta(days=7)
    warning = refresh_warning(creds, NOW + timedelta(days=5, hours=1))
    assert warning is not None and warning.kind is RefreshWarningKind.EXPIRING


def test_an_authorisation_without_a_refresh_token_says_ask_for_offline_access() -> None:
    answer = TokenResponse.of_json(200, {"access_token": "a", "token_type": "Bearer"})
    with pytest.raises(OAuthRequestRejected, match="offline_access"):
        credentials_from_token_response(
            answer, NOW, token_url=GOOGLE_TOKEN_URL, client_id="c", client_secret="s", scope=""
        )
