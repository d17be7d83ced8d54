"""OAuth 2.0 access tokens for XOAUTH2 logins: refreshing them (RFC 6749 section 6), and when.

A sans-IO core with a thin shell:

- :class:`OAuthCredentials` is what an account keeps (the caller encrypts it at rest):
  :meth:`~OAuthCredentials.to_json` and :meth:`~OAuthCredentials.from_json`. Its repr shows
  no secret.
- :func:`build_refresh_request` and :func:`read_token_response` are pure: credentials in, a
  :class:`TokenRequest` out; a :class:`TokenResponse` in, refreshed credentials out, or an
  :class:`~postroom.errors.OAuthError` that names the fix (RFC 6749 section 5.2, table
  :data:`TOKEN_ERRORS`). :func:`credentials_from_token_response` reads the first answer of an
  authorisation (the code exchange of RFC 6749 section 4.1.4) the same way.
- :func:`refresh_credentials` joins them through a :class:`TokenTransport` (the seam, in
  :mod:`postroom.outbound.token_transport`): the real :class:`UrllibTokenTransport` or the
  public fake :class:`MemoryTokenTransport`, both re-exported here.
- :func:`needs_refresh` and :func:`refresh_warning` are the decisions taken before a login:
  refresh now? tell the operator that sends are about to fail?

What the SMTP server answers to the login itself is read in :mod:`postroom.outbound.xoauth2`.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from postroom.errors import (
    OAuthClientRejected,
    OAuthCredentialsInvalid,
    OAuthEndpointError,
    OAuthError,
    OAuthRequestRejected,
    OAuthRevoked,
    OAuthUnavailable,
)
from postroom.outbound.token_transport import (
    MemoryTokenTransport,
    TokenRequest,
    TokenResponse,
    TokenTransport,
    UrllibTokenTransport,
)

__all__ = [
    "DEFAULT_ACCESS_LIFETIME",
    "GOOGLE_TESTING_REFRESH_LIFETIME",
    "NOT_YET_ISSUED",
    "REAUTHORISE_FIX",
    "TOKEN_ERRORS",
    "ClientAuth",
    "MemoryTokenTransport",
    "OAuthCredentials",
    "RefreshWarning",
    "RefreshWarningKind",
    "TokenErrorRule",
    "TokenRequest",
    "TokenResponse",
    "TokenTransport",
    "UrllibTokenTransport",
    "build_refresh_request",
    "credentials_from_token_response",
    "mark_revoked",
    "needs_refresh",
    "read_token_response",
    "refresh_credentials",
    "refresh_warning",
]

#: Lifetime assumed when a token answer has no ``expires_in`` (RFC 6749 section 5.1 makes it
#: RECOMMENDED only). Google and Microsoft issue one-hour access tokens; a wrong guess costs
#: one refused login, which is refreshed and retried.
DEFAULT_ACCESS_LIFETIME: Final = timedelta(hours=1)

#: Google: "A Google Cloud Platform project with an OAuth consent screen configured for an
#: external user type and a publishing status of Testing is issued a refresh token expiring in
#: 7 days" (Google's documentation of invalid_grant, "Token has been expired or revoked", at
#: developers.google.com/google-ads/api/docs/get-started/common-errors; the same rule is under
#: "Refresh token expiration" in developers.google.com/identity/protocols/oauth2). Google's
#: token answer does not say so: an account authorised through such an app records
#: ``refresh_expires_at = authorised_at + GOOGLE_TESTING_REFRESH_LIFETIME``.
GOOGLE_TESTING_REFRESH_LIFETIME: Final = timedelta(days=7)

#: ``expires_at`` of credentials whose first access token is still to be fetched: an account
#: is added with its refresh token alone (``"access_token": ""``, ``"expires_at": null``).
NOT_YET_ISSUED: Final = datetime(1970, 1, 1, tzinfo=UTC)

_FORMAT_VERSION = 1
_FORM: Final = "application/x-www-form-urlencoded"


class ClientAuth(enum.Enum):
    """How the client authenticates to the token endpoint (RFC 6749 section 2.3.1)."""

    #: ``client_id`` and ``client_secret`` in the request body. Google and Microsoft accept it.
    BODY = "body"
    #: HTTP Basic. Every server MUST support it (RFC 6749 section 2.3.1).
    BASIC = "basic"


@dataclass(frozen=True)
class OAuthCredentials:
    """One account's OAuth 2.0 grant: the current access token and how to get the next one.

    ``expires_at`` and the other times are timezone-aware; an empty ``access_token`` with
    ``expires_at`` :data:`NOT_YET_ISSUED` is an account whose first access token is still to be
    fetched. ``refresh_expires_at`` is None when the refresh token's end is unknown (most
    providers never say).
    ``revoked_at`` is when the token endpoint last refused the refresh token
    (``invalid_grant``); a successful refresh clears it.
    """

    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str = field(repr=False)
    refresh_expires_at: datetime | None
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    client_auth: ClientAuth = ClientAuth.BODY
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("expires_at", "refresh_expires_at", "revoked_at"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise OAuthCredentialsInvalid(
                    f"OAuth credentials: {name} has no time zone",
                    "pass timezone-aware datetimes (datetime.now(UTC))",
                )
        if not self.refresh_token:
            raise OAuthCredentialsInvalid(
                "OAuth credentials without a refresh token",
                "authorise again with offline access (Google: access_type=offline and "
                "prompt=consent; Microsoft: the offline_access scope)",
            )
        _check_token_url(self.token_url)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict holding every secret: encrypt it before it is stored."""
        return {
            "version": _FORMAT_VERSION,
            "access_token": self.access_token,
            "expires_at": self.expires_at.isoformat(),
            "refresh_token": self.refresh_token,
            "refresh_expires_at": _iso(self.refresh_expires_at),
            "token_url": self.token_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
            "client_auth": self.client_auth.value,
            "revoked_at": _iso(self.revoked_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> OAuthCredentials:
        """Read what :meth:`to_json` wrote; names the first field that is wrong.

        ``version``, ``client_auth`` and ``revoked_at`` may be missing, and ``expires_at`` may be
        null when ``access_token`` is empty: the form an account is added in, before its first
        refresh.
        """
        version = data.get("version", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise _stored(f"format version {version!r} is not {_FORMAT_VERSION}")
        try:
            client_auth = ClientAuth(data.get("client_auth", ClientAuth.BODY.value))
        except ValueError:
            raise _stored(f"client_auth {data.get('client_auth')!r} is not body or basic") from None
        access_token = _text(data, "access_token", allow_empty=True)
        expires_at = _optional_moment(data, "expires_at")
        if expires_at is None:
            if access_token:
                raise _stored("expires_at is missing")
            expires_at = NOT_YET_ISSUED
        return cls(
            access_token=access_token,
            expires_at=expires_at,
            refresh_token=_text(data, "refresh_token"),
            refresh_expires_at=_optional_moment(data, "refresh_expires_at"),
            token_url=_text(data, "token_url"),
            client_id=_text(data, "client_id"),
            client_secret=_text(data, "client_secret", allow_empty=True),
            scope=_text(data, "scope", allow_empty=True),
            client_auth=client_auth,
            revoked_at=_optional_moment(data, "revoked_at"),
        )


def _check_token_url(url: str) -> None:
    # RFC 6749 section 3.2: the token endpoint MUST be reached over TLS. Plain http is allowed
    # to a loopback address only (a test's or a local proxy's endpoint), where nothing crosses
    # a network.
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise OAuthCredentialsInvalid(
        f"token URL {url!r} is not an https:// URL",
        "use the provider's https token endpoint (Google: https://oauth2.googleapis.com/token; "
        "Microsoft 365: https://login.microsoftonline.com/TENANT/oauth2/v2.0/token)",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _stored(problem: str) -> OAuthCredentialsInvalid:
    return OAuthCredentialsInvalid(
        f"stored OAuth credentials: {problem}",
        REAUTHORISE_FIX.format(account="NAME"),
    )


def _text(data: Mapping[str, object], key: str, *, allow_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise _stored(f"{key} is missing or not a string")
    return value


def _optional_moment(data: Mapping[str, object], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.utcoffset() is not None:
            return moment
    raise _stored(f"{key} {value!r} is not an ISO 8601 time with a time zone")


# --- the token endpoint's wire format ---------------------------------------------------------


def build_refresh_request(credentials: OAuthCredentials) -> TokenRequest:
    """The refresh request of RFC 6749 section 6 for ``credentials``.

    ``scope`` is sent when the credentials have one: RFC 6749 makes it optional (the grant's
    own scope is then assumed); Microsoft's v2.0 endpoint expects it.
    """
    fields = [("grant_type", "refresh_token"), ("refresh_token", credentials.refresh_token)]
    if credentials.scope:
        fields.append(("scope", credentials.scope))
    headers = [("Content-Type", _FORM), ("Accept", "application/json")]
    if credentials.client_secret and credentials.client_auth is ClientAuth.BASIC:
        # RFC 6749 section 2.3.1: id and secret are form-encoded before they are joined.
        pair = (
            f"{urllib.parse.quote_plus(credentials.client_id)}:"
            f"{urllib.parse.quote_plus(credentials.client_secret)}"
        )
        headers.append(("Authorization", "Basic " + base64.b64encode(pair.encode()).decode()))
    else:
        # A public client (no secret) names itself in the body (RFC 6749 section 3.2.1).
        fields.append(("client_id", credentials.client_id))
        if credentials.client_secret:
            fields.append(("client_secret", credentials.client_secret))
    body = urllib.parse.urlencode(fields).encode("ascii")
    return TokenRequest(credentials.token_url, tuple(headers), body)


@dataclass(frozen=True)
class TokenErrorRule:
    """What one RFC 6749 error code means for the account, and how to fix it."""

    code: str
    error: type[OAuthError]
    problem: str
    fix: str
    source: str


#: The fix for a refresh token that no longer works; ``{account}`` is the account's name.
REAUTHORISE_FIX: Final = (
    "re-authorise the account with its provider and give postroom the new refresh token"
    " (postroom accounts add {account} --auth xoauth2 --oauth-refresh-token-env VAR)"
)

#: RFC 6749 section 5.2 error codes of the token endpoint, and two codes of section 4.1.2.1
#: that servers also return there. ``{account}`` and ``{scope}`` are filled in.
TOKEN_ERRORS: Final[Mapping[str, TokenErrorRule]] = {
    rule.code: rule
    for rule in (
        TokenErrorRule(
            "invalid_grant",
            OAuthRevoked,
            "the refresh token was revoked or has expired",
            REAUTHORISE_FIX
            + " (a Google app in the Testing publishing status gets refresh tokens that"
            " expire after 7 days: publish it In production first)",
            "RFC 6749 section 5.2; Google OAuth 2.0 'Refresh token expiration'",
        ),
        TokenErrorRule(
            "invalid_client",
            OAuthClientRejected,
            "the token endpoint did not accept the client id and secret",
            "check the account's client id and client secret against the app's registration"
            " (Google Cloud console > Credentials; Microsoft Entra > App registrations >"
            " Certificates & secrets, where secrets expire)",
            "RFC 6749 section 5.2",
        ),
        TokenErrorRule(
            "unauthorized_client",
            OAuthClientRejected,
            "the client is not allowed to use the refresh_token grant",
            "allow refresh tokens for this client in its registration, then " + REAUTHORISE_FIX,
            "RFC 6749 section 5.2",
        ),
        TokenErrorRule(
            "invalid_scope",
            OAuthRequestRejected,
            "the token endpoint refused the scope {scope!r}",
            "set the account's scope to one its grant covers (Gmail: https://mail.google.com/;"
            " Microsoft 365: https://outlook.office.com/SMTP.Send offline_access)",
            "RFC 6749 section 5.2",
        ),
        TokenErrorRule(
            "invalid_request",
            OAuthRequestRejected,
            "the token endpoint called the refresh request malformed",
            "check that the account's token URL is the provider's token endpoint",
            "RFC 6749 section 5.2",
        ),
        TokenErrorRule(
            "unsupported_grant_type",
            OAuthRequestRejected,
            "the token endpoint does not support the refresh_token grant",
            "check that the account's token URL is the provider's token endpoint",
            "RFC 6749 section 5.2",
        ),
        TokenErrorRule(
            "temporarily_unavailable",
            OAuthUnavailable,
            "the token endpoint is temporarily unavailable",
            "nothing to fix: the refresh is tried again later",
            "RFC 6749 section 4.1.2.1",
        ),
        TokenErrorRule(
            "server_error",
            OAuthUnavailable,
            "the token endpoint failed",
            "nothing to fix: the refresh is tried again later",
            "RFC 6749 section 4.1.2.1",
        ),
    )
}


@dataclass(frozen=True)
class _Grant:
    """The fields of a successful token answer (RFC 6749 section 5.1)."""

    access_token: str = field(repr=False)
    expires_in: timedelta
    refresh_token: str | None = field(repr=False)
    refresh_expires_in: timedelta | None
    scope: str | None


def read_token_response(
    credentials: OAuthCredentials,
    response: TokenResponse,
    now: datetime,
    *,
    account: str = "NAME",
) -> OAuthCredentials:
    """The credentials after a refresh answered by ``response``, or the OAuthError it means.

    A refresh token in the answer replaces the old one (RFC 6749 section 6: the client MUST
    discard the old one); ``refresh_token_expires_in``, when a server sends it, dates the new
    refresh token. ``account`` names the account in the fix of an error.
    """
    grant = _read_grant(response, credentials.scope, account)
    if grant.refresh_token is not None and grant.refresh_token != credentials.refresh_token:
        # A rotated refresh token: the old one's end says nothing about the new one's.
        refresh_token = grant.refresh_token
        refresh_expires_at = _after(now, grant.refresh_expires_in)
    else:
        refresh_token = credentials.refresh_token
        refresh_expires_at = _after(now, grant.refresh_expires_in) or credentials.refresh_expires_at
    return replace(
        credentials,
        access_token=grant.access_token,
        expires_at=now + grant.expires_in,
        refresh_token=refresh_token,
        refresh_expires_at=refresh_expires_at,
        scope=grant.scope or credentials.scope,
        revoked_at=None,
    )


def credentials_from_token_response(
    response: TokenResponse,
    now: datetime,
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    scope: str,
    client_auth: ClientAuth = ClientAuth.BODY,
    refresh_lifetime: timedelta | None = None,
    account: str = "NAME",
) -> OAuthCredentials:
    """New credentials from the answer that ends an authorisation (RFC 6749 section 4.1.4).

    ``refresh_lifetime`` dates the refresh token when the provider documents its lifetime but
    does not send it (:data:`GOOGLE_TESTING_REFRESH_LIFETIME`).
    """
    grant = _read_grant(response, scope, account)
    if grant.refresh_token is None:
        raise OAuthRequestRejected(
            "the authorisation gave no refresh token",
            "authorise with offline access (Google: access_type=offline and prompt=consent;"
            " Microsoft: add the offline_access scope)",
        )
    refresh_expires_at = _after(now, grant.refresh_expires_in) or _after(now, refresh_lifetime)
    return OAuthCredentials(
        access_token=grant.access_token,
        expires_at=now + grant.expires_in,
        refresh_token=grant.refresh_token,
        refresh_expires_at=refresh_expires_at,
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        scope=grant.scope or scope,
        client_auth=client_auth,
    )


def _after(now: datetime, span: timedelta | None) -> datetime | None:
    return None if span is None else now + span


def _read_grant(response: TokenResponse, scope: str, account: str) -> _Grant:
    if 300 <= response.status < 400:
        raise OAuthEndpointError(
            f"the token endpoint redirected (HTTP {response.status}"
            + (f" to {response.location})" if response.location else ")"),
            "set the account's token URL to the endpoint itself; token requests are never"
            " sent on to another address",
        )
    payload = _json_object(response.body)
    if response.status == 200:
        return _grant(payload)
    code = payload.get("error") if payload is not None else None
    if response.status >= 500 or response.status in (408, 429):
        raise OAuthUnavailable(
            f"the token endpoint answered HTTP {response.status}",
            "nothing to fix: the refresh is tried again later",
            code=code if isinstance(code, str) else None,
        )
    if isinstance(code, str) and code:
        rule = TOKEN_ERRORS.get(code)
        description = payload.get("error_description") if payload is not None else None
        said = f" (the endpoint said: {description})" if isinstance(description, str) else ""
        if rule is None:
            raise OAuthRequestRejected(
                f"the token endpoint refused the refresh with error {code!r}{said}",
                "look the code up in the provider's documentation; "
                + REAUTHORISE_FIX.format(account=account),
                code=code,
            )
        problem = rule.problem.format(account=account, scope=scope)
        raise rule.error(problem + said, rule.fix.format(account=account, scope=scope), code=code)
    if response.status == 401:
        # RFC 6749 section 5.2: a failed HTTP Basic client authentication may be a bare 401.
        rule = TOKEN_ERRORS["invalid_client"]
        raise OAuthClientRejected(rule.problem, rule.fix, code="invalid_client")
    raise OAuthEndpointError(
        f"the token endpoint answered HTTP {response.status} without an RFC 6749 error",
        "check that the account's token URL is the provider's token endpoint",
    )


def _json_object(body: bytes) -> dict[str, object] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _grant(payload: dict[str, object] | None) -> _Grant:
    def bad(problem: str) -> OAuthEndpointError:
        return OAuthEndpointError(
            f"the token endpoint's answer {problem}",
            "check that the account's token URL is the provider's token endpoint",
        )

    if payload is None:
        raise bad("is not a JSON object (RFC 6749 section 5.1)")
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise bad("has no access_token")
    token_type = payload.get("token_type")
    # RFC 6749 section 7.1: XOAUTH2 sends a bearer token (RFC 6750); the type is compared
    # without regard to case. A server that leaves it out is believed.
    if token_type is not None and (
        not isinstance(token_type, str) or token_type.lower() != "bearer"
    ):
        raise bad(f"has token_type {token_type!r}, not Bearer")
    refresh_token = payload.get("refresh_token")
    if refresh_token is not None and (not isinstance(refresh_token, str) or not refresh_token):
        raise bad("has an empty or non-string refresh_token")
    scope = payload.get("scope")
    spans: dict[str, timedelta | None] = {}
    # refresh_token_expires_in is not in RFC 6749; some servers send it to date the refresh
    # token, and it is read when present.
    for name in ("expires_in", "refresh_token_expires_in"):
        try:
            spans[name] = _seconds(payload.get(name))
        except ValueError:
            raise bad(f"has {name} {payload.get(name)!r}, not a number of seconds") from None
    expires_in = spans["expires_in"]
    return _Grant(
        access_token=access_token,
        expires_in=DEFAULT_ACCESS_LIFETIME if expires_in is None else expires_in,
        refresh_token=refresh_token,
        refresh_expires_in=spans["refresh_token_expires_in"],
        scope=scope if isinstance(scope, str) and scope else None,
    )


def _seconds(value: object) -> timedelta | None:
    if value is None:
        return None
    # Some servers send the number as a string ("3599").
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    return timedelta(seconds=max(0.0, float(value)))


def refresh_credentials(
    credentials: OAuthCredentials,
    transport: TokenTransport,
    now: datetime,
    *,
    account: str = "NAME",
) -> OAuthCredentials:
    """Refresh the access token (RFC 6749 section 6); the caller stores the result.

    On :class:`~postroom.errors.OAuthRevoked` the caller stores :func:`mark_revoked` so that
    :func:`refresh_warning` reports the account until it is re-authorised.
    """
    response = transport.post(build_refresh_request(credentials))
    return read_token_response(credentials, response, now, account=account)


def mark_revoked(credentials: OAuthCredentials, now: datetime) -> OAuthCredentials:
    """The credentials after the token endpoint refused their refresh token (invalid_grant)."""
    return replace(credentials, revoked_at=now)


# --- decisions --------------------------------------------------------------------------------


def needs_refresh(
    credentials: OAuthCredentials, now: datetime, margin: timedelta = timedelta(minutes=2)
) -> bool:
    """Whether to refresh before logging in: the access token expires within ``margin``.

    The margin covers the clock difference to the provider and the time a login takes.
    Credentials without an access token yet always need one.
    """
    return not credentials.access_token or now + margin >= credentials.expires_at


class RefreshWarningKind(enum.Enum):
    REVOKED = "revoked"  # the token endpoint refused the refresh token (invalid_grant)
    EXPIRED = "expired"  # its known end has passed
    EXPIRING = "expiring"  # its known end is near


@dataclass(frozen=True)
class RefreshWarning:
    """Sends through this account will fail (or already do) until it is re-authorised."""

    kind: RefreshWarningKind
    at: datetime  # when it was refused, or when it ends
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}: {self.fix}"


def refresh_warning(
    credentials: OAuthCredentials,
    now: datetime,
    *,
    within: timedelta = timedelta(days=2),
    account: str = "NAME",
) -> RefreshWarning | None:
    """A warning when the refresh token is known revoked, or ends within ``within``; else None.

    Only what is known is reported: a refresh token whose end nobody stated is not guessed at
    (Google's Testing apps are dated by the caller, see :data:`GOOGLE_TESTING_REFRESH_LIFETIME`).
    """
    fix = REAUTHORISE_FIX.format(account=account)
    if credentials.revoked_at is not None:
        return RefreshWarning(
            RefreshWarningKind.REVOKED,
            credentials.revoked_at,
            f"the token endpoint refused the refresh token on {_when(credentials.revoked_at)}"
            " (revoked or expired): sends through this account fail",
            fix,
        )
    ends = credentials.refresh_expires_at
    if ends is None:
        return None
    if ends <= now:
        return RefreshWarning(
            RefreshWarningKind.EXPIRED,
            ends,
            f"the refresh token expired on {_when(ends)}: sends through this account fail",
            fix,
        )
    if ends - now <= within:
        hours = (ends - now) / timedelta(hours=1)
        return RefreshWarning(
            RefreshWarningKind.EXPIRING,
            ends,
            f"the refresh token expires on {_when(ends)}, in {hours:.0f} h: sends through this"
            " account fail from then on",
            fix + " before then (a Google app in the Testing publishing status gets 7-day"
            " refresh tokens: publish it In production, then re-authorise once)",
        )
    return None


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()
