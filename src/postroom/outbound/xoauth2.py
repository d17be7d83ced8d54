"""XOAUTH2, the SASL mechanism of Gmail and Microsoft 365, and what SMTP servers answer to it.

Pure functions, no socket:

- :func:`xoauth2_initial_response` builds the initial client response of Google's "XOAUTH2
  protocol" page: ``"user=" {User} "^Aauth=Bearer " {Access Token} "^A^A"``.
- :func:`read_xoauth2_challenge` reads the error challenge a server sends instead of failing
  at once: a 334 reply carrying base64 JSON (``{"status":"401","schemes":"bearer","scope":
  ...}``). The client answers it with an empty line (:data:`CHALLENGE_REPLY`) and the server
  then fails the login with a 535.
- :func:`classify_login_answer` reads the final answer, :func:`classify_challenge` the
  challenge, against tables of the answers that Google, Microsoft and RFC 4954 document
  (:data:`LOGIN_ANSWERS`, :data:`CHALLENGE_STATUSES`, each row with its source): refresh the
  token and retry once, retry later, or stop and name the fix.
- :func:`login_with_refresh` is the login policy of an XOAUTH2 account: refresh the access token
  when it has expired, or when the server refuses it, then retry once. The SMTP exchange is a
  callable the caller passes (its connection class, or smtplib in a test).
- :func:`login_refused` is the error to raise when the login cannot succeed.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from postroom.errors import XOAuth2LoginRefused
from postroom.outbound.oauth import (
    REAUTHORISE_FIX,
    OAuthCredentials,
    TokenTransport,
    needs_refresh,
    refresh_credentials,
)

__all__ = [
    "CHALLENGE_REPLY",
    "CHALLENGE_STATUSES",
    "LOGIN_ANSWERS",
    "LoginAction",
    "LoginAnswer",
    "LoginOutcome",
    "LoginRule",
    "XOAuth2Challenge",
    "classify_challenge",
    "classify_login_answer",
    "login_refused",
    "login_with_refresh",
    "read_xoauth2_challenge",
    "xoauth2_initial_response",
]

#: What the client sends back to an error challenge: an empty response (Google's "XOAUTH2
#: protocol" page, "Error response"); the server then fails the login.
CHALLENGE_REPLY: Final = b""

_GOOGLE_XOAUTH2 = (
    "Google, XOAUTH2 protocol (developers.google.com/workspace/gmail/imap/xoauth2-protocol)"
)
_MS_OAUTH = (
    "Microsoft Learn, Authenticate an IMAP, POP or SMTP connection using OAuth"
    " (learn.microsoft.com/exchange/client-developer/legacy-protocols/"
    "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth)"
)
_MS_SMTP_AUTH = (
    "Microsoft Learn, Enable or disable authenticated client SMTP submission (SMTP AUTH) in"
    " Exchange Online (learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
    "authenticated-client-smtp-submission, the page https://aka.ms/smtp_auth_disabled in the"
    " reply leads to)"
)
_MS_BASIC_RETIRED = (
    "Microsoft Exchange Team Blog, Exchange Online to retire Basic auth for Client Submission"
    " (SMTP AUTH), April 2024 (techcommunity.microsoft.com/blog/exchange/"
    "exchange-online-to-retire-basic-auth-for-client-submission-smtp-auth/4114750)"
)
_RFC4954 = "RFC 4954 section 6 (AUTH status codes)"

_REAUTHORISE = REAUTHORISE_FIX
_MS_TURN_ON = (
    "an Exchange administrator turns SMTP AUTH on for the mailbox (Microsoft 365 admin center >"
    " Users > the user > Mail > Manage email apps > Authenticated SMTP, or"
    " Set-CASMailbox -Identity ADDRESS -SmtpClientAuthenticationDisabled $false; for the whole"
    " tenant Set-TransportConfig -SmtpClientAuthenticationDisabled $false)"
)
_USE_XOAUTH2 = (
    "register the account with XOAUTH2 instead of a password (postroom accounts add {account}"
    " --auth xoauth2 --oauth-scope 'https://outlook.office.com/SMTP.Send offline_access')"
)


def xoauth2_initial_response(user: str, token: str) -> bytes:
    """The XOAUTH2 initial client response for ``user`` and an access token, not yet base64.

    The SMTP ``AUTH XOAUTH2`` command carries it base64-encoded (RFC 4954 section 4). ``^A``
    (0x01) separates the fields, so neither value may contain it, nor CR or LF.
    """
    for name, value in (("user", user), ("token", token)):
        if not value or any(c in value for c in "\x01\r\n"):
            raise ValueError(f"XOAUTH2 {name} must be non-empty, without ^A, CR or LF")
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


@dataclass(frozen=True)
class XOAuth2Challenge:
    """The error challenge of a refused XOAUTH2 or OAUTHBEARER login, decoded.

    Google documents ``status``, ``schemes`` and ``scope``; RFC 7628 section 3.2.2 adds
    ``openid-configuration``. ``raw`` is the decoded text; a challenge that is not base64 JSON
    has every field None and its text in ``raw``.
    """

    status: str | None
    schemes: str | None
    scope: str | None
    openid_configuration: str | None
    raw: str


def read_xoauth2_challenge(payload: str | bytes) -> XOAuth2Challenge:
    """Decode the text of a 334 reply to an XOAUTH2 login (base64 of a JSON object)."""
    text = payload.decode("ascii", "replace") if isinstance(payload, bytes) else payload
    try:
        raw = base64.b64decode(text.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return XOAuth2Challenge(None, None, None, None, text)
    try:
        fields = json.loads(raw)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return XOAuth2Challenge(None, None, None, None, raw)

    def field(name: str) -> str | None:
        value = fields.get(name)
        return str(value) if isinstance(value, str | int) else None

    return XOAuth2Challenge(
        status=field("status"),
        schemes=field("schemes"),
        scope=field("scope"),
        openid_configuration=field("openid-configuration"),
        raw=raw,
    )


class LoginAction(enum.Enum):
    """What the sender does after an answer to its XOAUTH2 login."""

    REFRESH_AND_RETRY = "refresh_and_retry"  # the token was refused: refresh it, retry once
    RETRY_LATER = "retry_later"  # a temporary failure: the login may work later as it is
    FIX_ACCOUNT = "fix_account"  # no retry helps until someone changes a setting: name it


@dataclass(frozen=True)
class LoginRule:
    """One documented answer to an XOAUTH2 login: reply code, enhanced status, text."""

    provider: str
    code: int
    status: str | None  # RFC 3463 enhanced status code; None: any
    text: str | None  # lower-case fragment of the reply text; None: any
    action: LoginAction
    meaning: str
    fix: str  # what to do when the action did not help (or at once, for FIX_ACCOUNT)
    source: str

    def matches(self, code: int, status: str | None, text: str) -> bool:
        return (
            code == self.code
            and (self.status is None or status == self.status)
            and (self.text is None or self.text in text)
        )


#: Answers to an XOAUTH2 login, most specific first; the first row that matches is the one.
LOGIN_ANSWERS: Final[tuple[LoginRule, ...]] = (
    LoginRule(
        "Microsoft 365",
        535,
        "5.7.139",
        "smtpclientauthentication is disabled",
        LoginAction.FIX_ACCOUNT,
        "Exchange Online has SMTP AUTH turned off for this mailbox or the whole tenant; that"
        " refuses XOAUTH2 logins too",
        _MS_TURN_ON,
        _MS_SMTP_AUTH,
    ),
    LoginRule(
        "Microsoft 365",
        535,
        "5.7.139",
        "security defaults",
        LoginAction.FIX_ACCOUNT,
        "the tenant's security defaults turn SMTP AUTH off",
        "an administrator turns security defaults off (Microsoft Entra admin center >"
        " Overview > Properties > Manage security defaults), then " + _MS_TURN_ON,
        _MS_SMTP_AUTH,
    ),
    LoginRule(
        "Microsoft 365",
        535,
        "5.7.139",
        "basic authentication is disabled",
        LoginAction.FIX_ACCOUNT,
        "the account logs in with a password, which Exchange Online no longer accepts",
        _USE_XOAUTH2,
        _MS_OAUTH,
    ),
    LoginRule(
        "Microsoft 365",
        535,
        "5.7.139",
        None,
        LoginAction.FIX_ACCOUNT,
        "Exchange Online refused the login for a reason of the tenant's (5.7.139)",
        "read the rest of the reply; the usual cause is SMTP AUTH turned off: " + _MS_TURN_ON,
        _MS_SMTP_AUTH,
    ),
    LoginRule(
        "Microsoft 365",
        550,
        "5.7.30",
        None,
        LoginAction.FIX_ACCOUNT,
        "Exchange Online no longer accepts password logins for client submission",
        _USE_XOAUTH2,
        _MS_BASIC_RETIRED,
    ),
    LoginRule(
        "Microsoft 365",
        535,
        "5.7.3",
        None,
        LoginAction.REFRESH_AND_RETRY,
        "Exchange Online refused the token (Authentication unsuccessful)",
        "check that the token was issued to the mailbox's own user with the scope"
        " https://outlook.office.com/SMTP.Send (the Graph permission SMTP.Send is not enough),"
        " and that SMTP AUTH is on for the mailbox; then " + _REAUTHORISE,
        _MS_OAUTH,
    ),
    LoginRule(
        "Gmail",
        535,
        "5.7.8",
        "username and password not accepted",
        LoginAction.REFRESH_AND_RETRY,
        "Gmail refused the token: expired, revoked, without the https://mail.google.com/ scope,"
        " or issued to another Google account",
        "check that the account's user is the Google account that authorised it and that the"
        " scope is https://mail.google.com/; then " + _REAUTHORISE,
        _GOOGLE_XOAUTH2,
    ),
    LoginRule(
        "RFC 4954",
        535,
        None,
        None,
        LoginAction.REFRESH_AND_RETRY,
        "the server refused the token (authentication credentials invalid)",
        "check that the account's user is the one the token was issued to; then " + _REAUTHORISE,
        _RFC4954,
    ),
    LoginRule(
        "RFC 4954",
        454,
        None,
        None,
        LoginAction.RETRY_LATER,
        "temporary authentication failure (the server could not check the token now)",
        "nothing to fix if it passes: the send is retried later",
        _RFC4954,
    ),
    LoginRule(
        "RFC 4954",
        534,
        None,
        None,
        LoginAction.FIX_ACCOUNT,
        "the server calls XOAUTH2 too weak on this connection",
        "connect with STARTTLS or implicit TLS (account security starttls or tls)",
        _RFC4954,
    ),
    LoginRule(
        "RFC 4954",
        538,
        None,
        None,
        LoginAction.FIX_ACCOUNT,
        "the server allows XOAUTH2 only over an encrypted connection",
        "connect with STARTTLS or implicit TLS (account security starttls or tls)",
        _RFC4954,
    ),
    LoginRule(
        "RFC 4954",
        504,
        None,
        None,
        LoginAction.FIX_ACCOUNT,
        "the server does not offer XOAUTH2",
        "check the account's SMTP host and port (Gmail: smtp.gmail.com 587 or 465; Microsoft"
        " 365: smtp.office365.com 587)",
        _RFC4954,
    ),
)

#: The ``status`` of an error challenge. Google's challenges carry an HTTP status ("401");
#: OAUTHBEARER's carry RFC 6750 section 3.1 error codes (RFC 7628 section 3.2.2), which are
#: these same HTTP statuses by name.
CHALLENGE_STATUSES: Final[Mapping[str, LoginRule]] = {
    status: LoginRule(provider, 334, None, None, action, meaning, fix, source)
    for status, provider, action, meaning, fix, source in (
        (
            "401",
            "Gmail",
            LoginAction.REFRESH_AND_RETRY,
            "the server refused the token (expired, revoked or not valid)",
            _REAUTHORISE,
            _GOOGLE_XOAUTH2,
        ),
        (
            "invalid_token",
            "RFC 7628",
            LoginAction.REFRESH_AND_RETRY,
            "the server refused the token (expired, revoked or not valid)",
            _REAUTHORISE,
            "RFC 7628 section 3.2.2; RFC 6750 section 3.1",
        ),
        (
            "400",
            "RFC 6750",
            LoginAction.FIX_ACCOUNT,
            "the server called the login malformed (invalid_request)",
            "check the account's user name: it must be the mailbox address the token is for",
            "RFC 6750 section 3.1 (invalid_request is HTTP 400)",
        ),
        (
            "invalid_request",
            "RFC 7628",
            LoginAction.FIX_ACCOUNT,
            "the server called the login malformed",
            "check the account's user name: it must be the mailbox address the token is for",
            "RFC 7628 section 3.2.2; RFC 6750 section 3.1",
        ),
        (
            "403",
            "RFC 6750",
            LoginAction.FIX_ACCOUNT,
            "the token lacks the scope mail needs (insufficient_scope)",
            "authorise with the mail scope (Gmail: https://mail.google.com/; Microsoft 365:"
            " https://outlook.office.com/SMTP.Send): " + _REAUTHORISE,
            "RFC 6750 section 3.1 (insufficient_scope is HTTP 403)",
        ),
        (
            "insufficient_scope",
            "RFC 7628",
            LoginAction.FIX_ACCOUNT,
            "the token lacks the scope mail needs",
            "authorise with the mail scope (Gmail: https://mail.google.com/; Microsoft 365:"
            " https://outlook.office.com/SMTP.Send): " + _REAUTHORISE,
            "RFC 7628 section 3.2.2; RFC 6750 section 3.1",
        ),
    )
}

_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class LoginAnswer:
    """An answer to an XOAUTH2 login, understood: what to do, why, and the fix."""

    code: int
    status: str | None
    action: LoginAction
    meaning: str
    fix: str
    rule: LoginRule | None  # the table row; None when no row knows the answer
    reply: str  # the server's answer as received, for the operator


def classify_login_answer(code: int, text: str, *, account: str = "NAME") -> LoginAnswer:
    """Understand the final answer to an XOAUTH2 login: ``code`` and the reply's text.

    ``text`` is the reply without its codes at the line starts (as smtplib reports it), lines
    joined; its own enhanced status code (RFC 3463), when the server sends one, leads it.
    ``account`` is the account's name in the fix.
    """
    if code == 235:
        raise ValueError("235 is a successful login, not a refusal (RFC 4954 section 6)")
    match = _ENHANCED.match(text)
    status = match.group(1) if match else None
    lowered = " ".join(text.lower().split())
    reply = f"{code} {' '.join(text.split())}"
    for rule in LOGIN_ANSWERS:
        if rule.matches(code, status, lowered):
            fix = rule.fix.format(account=account)
            return LoginAnswer(code, status, rule.action, rule.meaning, fix, rule, reply)
    if 400 <= code < 500:
        return LoginAnswer(
            code,
            status,
            LoginAction.RETRY_LATER,
            "the server refused the login for now",
            "nothing to fix if it passes: the send is retried later",
            None,
            reply,
        )
    return LoginAnswer(
        code,
        status,
        LoginAction.FIX_ACCOUNT,
        "the server refused the XOAUTH2 login",
        "read the server's reply; check the account's user, scope and SMTP host",
        None,
        reply,
    )


def classify_challenge(challenge: XOAuth2Challenge, *, account: str = "NAME") -> LoginAnswer:
    """Understand an error challenge (a 334 reply) by its ``status``."""
    rule = CHALLENGE_STATUSES.get(challenge.status or "")
    if rule is None:
        # An unknown status still means the token was not accepted; one refresh may help.
        return LoginAnswer(
            334,
            None,
            LoginAction.REFRESH_AND_RETRY,
            f"the server refused the token (challenge {challenge.raw!r})",
            _REAUTHORISE.format(account=account),
            None,
            f"334 {challenge.raw}",
        )
    fix = rule.fix.format(account=account)
    return LoginAnswer(334, None, rule.action, rule.meaning, fix, rule, f"334 {challenge.raw}")


#: One XOAUTH2 login with the given access token: None when the server answered 235, else the
#: refusal understood (:func:`classify_login_answer`).
LoginAttempt = Callable[[str], "LoginAnswer | None"]


@dataclass(frozen=True)
class LoginOutcome:
    """What :func:`login_with_refresh` did. Store ``credentials`` whatever the outcome: a
    refresh may have rotated the refresh token, and the old one no longer works."""

    credentials: OAuthCredentials
    refused: LoginAnswer | None  # None: logged in
    refreshes: int

    def raise_for_refusal(self) -> None:
        if self.refused is not None:
            raise login_refused(self.refused)


def login_with_refresh(
    credentials: OAuthCredentials,
    attempt: LoginAttempt,
    transport: TokenTransport,
    now: datetime,
    *,
    account: str = "NAME",
    margin: timedelta = timedelta(minutes=2),
) -> LoginOutcome:
    """Log in with XOAUTH2: refresh first when the access token has expired (RFC 6749 section
    6); when the server refuses the token as such (a 535, or the error challenge), refresh and
    retry once. A refusal that no refresh mends (SMTP AUTH turned off, basic authentication
    retired) is not retried.

    Raises what :func:`~postroom.outbound.oauth.refresh_credentials` raises: on
    :class:`~postroom.errors.OAuthRevoked` the caller stores
    :func:`~postroom.outbound.oauth.mark_revoked`.
    """
    refreshes = 0
    if needs_refresh(credentials, now, margin):
        credentials = refresh_credentials(credentials, transport, now, account=account)
        refreshes += 1
    refused = attempt(credentials.access_token)
    if refused is not None and refused.action is LoginAction.REFRESH_AND_RETRY and not refreshes:
        # The token looked valid to us but not to the server (revoked, or the clocks differ):
        # one refresh, one retry.
        credentials = refresh_credentials(credentials, transport, now, account=account)
        refreshes += 1
        refused = attempt(credentials.access_token)
    return LoginOutcome(credentials, refused, refreshes)


def login_refused(answer: LoginAnswer) -> XOAuth2LoginRefused:
    """The error to raise when the XOAUTH2 login failed for good (after one refresh, if any)."""
    return XOAuth2LoginRefused(
        f"the SMTP server refused the XOAUTH2 login: {answer.meaning}",
        answer.fix,
        reply=answer.reply,
        transient=answer.action is LoginAction.RETRY_LATER,
    )
