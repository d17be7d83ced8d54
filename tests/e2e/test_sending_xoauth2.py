"""XOAUTH2 end to end through postroom's worker: an account whose login is an OAuth access
token sends through Postfix submission, which authenticates through Dovecot's oauth2 passdb
against the test's token and introspection endpoint (tests/support/oauth.py). The first send
has no access token yet (``accounts add`` stores only the refresh token), so the worker
refreshes first; once that token expires, the next send refreshes again; and when the provider
answers a live-looking token with 535, the worker refreshes once and retries. A revoked grant
pauses the account and says how to re-authorise it. Token lifetimes follow settable clocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postroom.accounts import AccountSecrets, AccountSpec, Auth, Security
from postroom.accounts.service import add_account, get_account, read_secrets
from postroom.app import Postroom
from postroom.compose import Email
from postroom.outbound import Timeouts
from postroom.outbound.oauth import OAuthCredentials
from postroom.store import Database
from support.mailservers import MailServers, start_mail_servers
from support.oauth import SettableClock, TokenServer
from support.sending import settings_with_keys

pytestmark = pytest.mark.mailservers

ALICE, BOB = "alice@example.test", "bob@example.test"


class Clock:
    """postroom's clock, tied to the token server's so both agree on when tokens expire."""

    def __init__(self, tokens: SettableClock) -> None:
        self.tokens = tokens

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.tokens.now, UTC)


@pytest.fixture
def rig(
    database: Database, database_url: str, tmp_path: Path
) -> Iterator[tuple[Postroom, MailServers, TokenServer, SettableClock]]:
    token_clock = SettableClock()
    with TokenServer(clock=token_clock, access_lifetime=600) as tokens:
        servers = start_mail_servers(tmp_path / "mail", oauth2=tokens.rig())
        room = Postroom(
            settings_with_keys(database_url), database=database, clock=Clock(token_clock)
        )
        try:
            yield room, servers, tokens, token_clock
        finally:
            servers.stop()


def _add(room: Postroom, servers: MailServers, creds: OAuthCredentials) -> None:
    stored = creds.to_json()
    stored.update(access_token="", expires_at=None)  # as `accounts add` stores it
    add_account(
        room.database,
        room.settings,
        AccountSpec(
            "alice",
            ALICE,
            servers.host,
            smtp_port=servers.submission_port,
            smtp_security=Security.NONE,
            smtp_auth=Auth.XOAUTH2,
            smtp_username=ALICE,
        ),
        AccountSecrets(oauth=stored),
        now=room.clock(),
    )


def _send_and_drain(room: Postroom, subject: str) -> str:
    result = room.send(Email(account="alice", to=[BOB], subject=subject, text="hello"))
    room.worker(concurrency=1, timeouts=Timeouts.uniform(15)).drain()
    [copy] = room.email(result.email_id).copies
    assert copy.status == "sent", copy.last_reply
    return copy.message_id


def test_the_worker_refreshes_expired_tokens_and_sends(
    rig: tuple[Postroom, MailServers, TokenServer, SettableClock],
) -> None:
    room, servers, tokens, clock = rig
    _add(room, servers, tokens.authorise(ALICE))

    first = _send_and_drain(room, "first")
    assert tokens.refreshes == 1  # no access token was stored: refreshed before the login
    servers.wait_for_mail(BOB, message_id=first)
    stored = read_secrets(room.database, room.settings, get_account(room.database, "alice"))
    assert stored.oauth and stored.oauth["access_token"]  # kept for the next connection

    second = _send_and_drain(room, "second, same token")
    assert tokens.refreshes == 1  # still valid: no refresh

    clock.advance(700)  # past the 600 s lifetime
    third = _send_and_drain(room, "third, after expiry")
    assert tokens.refreshes == 2
    for message_id in (second, third):
        servers.wait_for_mail(BOB, message_id=message_id)
    logins = re.findall(
        r"sasl_method=(\w+), sasl_username=alice@example.test", servers.postfix_log()
    )
    assert logins and set(logins) == {"XOAUTH2"}


def test_a_token_refused_before_its_time_is_refreshed_once_and_the_login_retried(
    rig: tuple[Postroom, MailServers, TokenServer, SettableClock],
) -> None:
    room, servers, tokens, _ = rig
    creds = tokens.authorise(ALICE)
    _add(room, servers, creds)
    _send_and_drain(room, "first")
    # The provider retires the token early (a password change, a revoked session): the stored
    # expiry says it is still good, the server says 535.
    account = get_account(room.database, "alice")
    stored = read_secrets(room.database, room.settings, account)
    assert stored.oauth is not None
    forged = dict(
        stored.oauth,
        access_token="retired-by-the-provider",
        expires_at=(room.clock() + timedelta(minutes=30)).isoformat(),
    )
    from postroom.accounts.service import write_secrets

    write_secrets(
        room.database, room.settings, account, AccountSecrets(oauth=forged), now=room.clock()
    )
    refreshes = tokens.refreshes
    _send_and_drain(room, "after an early retirement")
    assert tokens.refreshes == refreshes + 1


def test_a_revoked_grant_pauses_the_account_with_the_fix(
    rig: tuple[Postroom, MailServers, TokenServer, SettableClock],
) -> None:
    room, servers, tokens, _ = rig
    creds = tokens.authorise(ALICE)
    _add(room, servers, creds)
    tokens.revoke(creds.refresh_token)
    result = room.send(Email(account="alice", to=[BOB], subject="s", text="t"))
    room.worker(concurrency=1, timeouts=Timeouts.uniform(15)).drain()
    [copy] = room.email(result.email_id).copies
    assert copy.status == "deferred"  # nobody fails for the account's problem
    account = get_account(room.database, "alice")
    assert account.paused(room.clock())
    assert "accounts add" in (account.pause_reason or "")  # names how to re-authorise
