"""Opening an account's IMAP session: TLS as configured, then a password login or XOAUTH2
with the account's OAuth credentials (the same grant its SMTP login uses; the access token is
refreshed first when it has expired, and once more when the server refuses it, RFC 6749
section 6, as :mod:`postroom.outbound.xoauth2` does for SMTP).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from postroom.accounts.model import Account, Auth
from postroom.accounts.service import read_secrets, write_secrets
from postroom.accounts.vault import AccountSecrets
from postroom.errors import ImapFailed, MailboxError, OAuthCredentialsInvalid
from postroom.mailbox.capabilities import ImapCapabilities
from postroom.mailbox.session import ImapClientSession, ImapSession, connect_client

if TYPE_CHECKING:
    from postroom.app import Postroom

#: Opens a logged-in session for an account (the seam tests replace with a fake).
SessionOpener = Callable[[Account, "ImapCapabilities | None"], ImapSession]


def imap_user(account: Account) -> str:
    return account.imap_username or account.smtp_username or account.from_address


def require_imap(account: Account) -> None:
    if not account.imap_host or not account.imap_port:
        raise MailboxError(
            f"account {account.name!r} has no IMAP settings",
            f"give them: postroom accounts add {account.name} ... --imap HOST:PORT "
            "(--imap-security tls|starttls|none)",
        )


class AccountLogin:
    """Opens sessions for accounts of one application; ``ca_file`` trusts a private CA."""

    def __init__(
        self,
        room: Postroom,
        *,
        timeout: float = 30.0,
        ca_file: str | None = None,
        token_transport: Any = None,
    ) -> None:
        self.room = room
        self.timeout = timeout
        self.ca_file = ca_file
        self.token_transport = token_transport

    def __call__(self, account: Account, known: ImapCapabilities | None) -> ImapSession:
        require_imap(account)
        secrets = read_secrets(self.room.database, self.room.settings, account)
        if account.smtp_auth is Auth.XOAUTH2:
            return self._oauth(account, secrets, known)
        password = secrets.imap_password or secrets.password
        if not password:
            raise MailboxError(
                f"account {account.name!r} has no password for its IMAP login",
                "give --imap-password (or --password, used for both)",
            )
        client = self._client(account)
        try:
            client.login(imap_user(account), password)
        except Exception as exc:
            client.shutdown()
            raise ImapFailed(
                f"the IMAP server refused the login of {imap_user(account)}: {exc}",
                "check the account's IMAP user name and password",
                transient=False,
            ) from exc
        return ImapClientSession(client, known)

    def _client(self, account: Account) -> Any:
        return connect_client(
            str(account.imap_host),
            int(account.imap_port or 993),
            str(account.imap_security or "tls"),
            timeout=self.timeout,
            ca_file=self.ca_file,
        )

    def _oauth(
        self, account: Account, secrets: AccountSecrets, known: ImapCapabilities | None
    ) -> ImapSession:
        from postroom.outbound.oauth import OAuthCredentials, needs_refresh, refresh_credentials
        from postroom.outbound.token_transport import UrllibTokenTransport

        if not secrets.oauth:
            raise OAuthCredentialsInvalid(
                f"account {account.name!r} has no OAuth credentials",
                "give them with `postroom accounts add ... --auth xoauth2`",
            )
        transport = self.token_transport or UrllibTokenTransport()
        creds = OAuthCredentials.from_json(secrets.oauth)
        now = self.room.clock()
        refreshed = False
        if needs_refresh(creds, now):
            creds = refresh_credentials(creds, transport, now, account=account.name)
            refreshed = True
        for attempt in range(2):
            client = self._client(account)
            try:
                client.oauth2_login(imap_user(account), creds.access_token)
            except Exception as exc:
                client.shutdown()
                if attempt == 0 and not refreshed:
                    creds = refresh_credentials(creds, transport, now, account=account.name)
                    refreshed = True
                    continue
                raise ImapFailed(
                    f"the IMAP server refused the XOAUTH2 login of {imap_user(account)}: {exc}",
                    "re-authorise the account (its grant may lack the IMAP scope)",
                    transient=False,
                ) from exc
            if refreshed:
                updated = dataclasses.replace(secrets, oauth=creds.to_json())
                write_secrets(self.room.database, self.room.settings, account, updated, now=now)
            return ImapClientSession(client, known)
        raise AssertionError("unreachable")
