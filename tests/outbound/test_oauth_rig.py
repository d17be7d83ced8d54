"""XOAUTH2 end to end on real servers (issue 8, acceptance 2).

Postfix's submission port authenticates through Dovecot's auth socket; Dovecot's oauth2 passdb
checks every token at the test's introspection endpoint (tests/support/oauth.py), which is also
the token endpoint that issues and refreshes them. Delivered mail is read back over IMAP.
Token lifetimes follow the token server's settable clock: nothing sleeps.

The SMTP exchange is one helper, :func:`submit_with_xoauth2` (smtplib's ``auth("XOAUTH2")``),
so it can become postroom's own SMTP connection without touching the tests.
"""

from __future__ import annotations

import base64
import re
import smtplib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from imapclient import IMAPClient

from postroom.errors import OAuthRevoked
from postroom.outbound.oauth import (
    UrllibTokenTransport,
    mark_revoked,
    needs_refresh,
    refresh_credentials,
    refresh_warning,
)
from postroom.outbound.xoauth2 import (
    LoginAction,
    LoginAnswer,
    classify_challenge,
    classify_login_answer,
    login_with_refresh,
    read_xoauth2_challenge,
    xoauth2_initial_response,
)
from support.mailservers import MailServers, start_mail_servers
from support.oauth import SettableClock, TokenServer

pytestmark = pytest.mark.mailservers

ALICE = "alice@example.test"
BOB = "bob@example.test"


@dataclass
class Rig:
    servers: MailServers
    tokens: TokenServer
    clock: SettableClock = field(repr=False)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    clock = SettableClock()
    with TokenServer(clock=clock, access_lifetime=600) as tokens:
        servers = start_mail_servers(tmp_path_factory.mktemp("oauth-rig"), oauth2=tokens.rig())
        try:
            yield Rig(servers, tokens, clock)
        finally:
            servers.stop()


@dataclass
class Submission:
    """What the server said to one XOAUTH2 login: None when it logged in, else the refusal."""

    refused: LoginAnswer | None
    challenges: list[bytes]


def submit_with_xoauth2(
    servers: MailServers, user: str, token: str, message: EmailMessage | None = None
) -> Submission:
    """Log in to the submission port with XOAUTH2 and, when logged in, send ``message``."""
    challenges: list[bytes] = []

    def respond(challenge: bytes | None = None) -> str:
        if challenge is None:
            return xoauth2_initial_response(user, token).decode()
        # The error challenge (base64 JSON): the client answers with an empty line.
        challenges.append(challenge)
        return ""

    with smtplib.SMTP(servers.host, servers.submission_port, timeout=15) as client:
        client.ehlo()
        try:
            client.auth("XOAUTH2", respond)
        except smtplib.SMTPAuthenticationError as refusal:
            text = refusal.smtp_error.decode("utf-8", "replace")
            return Submission(classify_login_answer(refusal.smtp_code, text), challenges)
        if message is not None:
            client.send_message(message)
    return Submission(None, challenges)


def message(sender: str, recipient: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = f"xoauth2 rig {uuid.uuid4().hex[:8]}"
    mail["Message-ID"] = make_msgid(domain="example.test")
    mail.set_content("Sent with an access token from the test's token endpoint.\n")
    return mail


def test_an_xoauth2_login_submits_mail_that_dovecot_delivers(rig: Rig) -> None:
    creds = rig.tokens.authorise(ALICE)
    mail = message(ALICE, BOB)
    assert submit_with_xoauth2(rig.servers, ALICE, creds.access_token, mail).refused is None
    [delivered] = rig.servers.wait_for_mail(BOB, message_id=str(mail["Message-ID"]))
    assert str(mail["Subject"]).encode() in delivered
    # Postfix's own log says which mechanism authenticated the client.
    assert re.search(
        rf"sasl_method=XOAUTH2, sasl_username={re.escape(ALICE)}", rig.servers.postfix_log()
    )


def test_an_expired_token_is_refused_and_works_again_after_a_refresh(rig: Rig) -> None:
    creds = rig.tokens.authorise(ALICE)
    rig.clock.advance(601)
    assert needs_refresh(creds, rig.clock.datetime())

    refused = submit_with_xoauth2(rig.servers, ALICE, creds.access_token).refused
    assert refused is not None and refused.code == 535
    assert refused.action is LoginAction.REFRESH_AND_RETRY

    refreshes = rig.tokens.refreshes
    refreshed = refresh_credentials(creds, UrllibTokenTransport(timeout=5), rig.clock.datetime())
    assert rig.tokens.refreshes == refreshes + 1
    assert not needs_refresh(refreshed, rig.clock.datetime())
    mail = message(ALICE, BOB)
    assert submit_with_xoauth2(rig.servers, ALICE, refreshed.access_token, mail).refused is None
    rig.servers.wait_for_mail(BOB, message_id=str(mail["Message-ID"]))


def test_dovecot_sends_the_error_challenge_before_the_535(rig: Rig) -> None:
    creds = rig.tokens.authorise(ALICE)
    rig.tokens.revoke(creds.refresh_token)  # its access token dies with it
    submission = submit_with_xoauth2(rig.servers, ALICE, creds.access_token)
    [challenge] = submission.challenges
    decoded = read_xoauth2_challenge(base64.b64encode(challenge))
    assert decoded.status == "401" and decoded.schemes == "bearer"
    assert classify_challenge(decoded).action is LoginAction.REFRESH_AND_RETRY
    assert submission.refused is not None and submission.refused.status == "5.7.8"


def attempt_sending(rig: Rig, mail: EmailMessage) -> Callable[[str], LoginAnswer | None]:
    def attempt(token: str) -> LoginAnswer | None:
        return submit_with_xoauth2(rig.servers, ALICE, token, mail).refused

    return attempt


def test_login_with_refresh_refreshes_the_expired_first_token(rig: Rig) -> None:
    creds = rig.tokens.authorise(ALICE)
    rig.clock.advance(601)
    mail = message(ALICE, BOB)
    refreshes = rig.tokens.refreshes
    outcome = login_with_refresh(
        creds, attempt_sending(rig, mail), UrllibTokenTransport(timeout=5), rig.clock.datetime()
    )
    assert outcome.refused is None and outcome.refreshes == 1
    assert rig.tokens.refreshes == refreshes + 1
    assert outcome.credentials.access_token != creds.access_token
    rig.servers.wait_for_mail(BOB, message_id=str(mail["Message-ID"]))


def test_login_with_refresh_retries_once_when_the_server_refuses_the_token(rig: Rig) -> None:
    creds = rig.tokens.authorise(ALICE)
    ours = rig.clock.datetime()
    # The server's clock runs ahead of ours: we call the token valid, it does not. The 535
    # itself triggers the refresh, and the one retry logs in.
    rig.clock.advance(601)
    assert not needs_refresh(creds, ours)
    mail = message(ALICE, BOB)
    outcome = login_with_refresh(
        creds, attempt_sending(rig, mail), UrllibTokenTransport(timeout=5), ours
    )
    assert outcome.refused is None and outcome.refreshes == 1
    rig.servers.wait_for_mail(BOB, message_id=str(mail["Message-ID"]))


def test_a_revoked_refresh_token_gives_the_clear_error(rig: Rig) -> None:
    creds = rig.tokens.authorise(ALICE)
    rig.tokens.revoke(creds.refresh_token)
    when = rig.clock.datetime()
    with pytest.raises(OAuthRevoked) as raised:
        refresh_credentials(creds, UrllibTokenTransport(timeout=5), when, account="sales")
    assert str(raised.value).startswith(
        "the refresh token was revoked or has expired (the endpoint said: Token has been"
        " expired or revoked.): re-authorise the account with its provider"
    )
    warning = refresh_warning(mark_revoked(creds, when), when, account="sales")
    assert warning is not None and "postroom accounts add sales --auth xoauth2" in warning.fix


def test_a_token_is_good_for_its_own_user_only(rig: Rig) -> None:
    # Dovecot compares the token's user (username_attribute = email) with the login's.
    creds = rig.tokens.authorise(ALICE)
    refused = submit_with_xoauth2(rig.servers, BOB, creds.access_token).refused
    assert refused is not None and refused.code == 535


def test_password_logins_still_work_beside_xoauth2(rig: Rig) -> None:
    before = rig.tokens.introspections
    with smtplib.SMTP(rig.servers.host, rig.servers.submission_port, timeout=15) as client:
        client.ehlo()
        assert "XOAUTH2" in client.esmtp_features["auth"].split()
        assert client.login(ALICE, rig.servers.password(ALICE))[0] == 235
    # The oauth2 passdb serves XOAUTH2 and OAUTHBEARER only: no token was looked up.
    assert rig.tokens.introspections == before


def test_imap_accepts_the_same_tokens(rig: Rig) -> None:
    creds = rig.tokens.authorise(BOB)
    client = IMAPClient(rig.servers.host, port=rig.servers.imap_port, ssl=False, timeout=10)
    try:
        client.oauth2_login(BOB, creds.access_token)
        assert client.select_folder("INBOX", readonly=True)
    finally:
        client.logout()
