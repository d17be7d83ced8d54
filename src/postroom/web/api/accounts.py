"""``/accounts``: the sending accounts (never their secrets), adding one, and testing one
(connect, log in, say what the server offers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from postroom.access.tokens import Scope
from postroom.accounts import AccountSecrets, AccountSpec, Auth, Envelope, Limits, Security
from postroom.accounts.service import add_account, check_account, list_accounts
from postroom.errors import AccountError, Conflict, InvalidRequest, NotFound
from postroom.web.api.bodies import JsonBody
from postroom.web.api.common import Model, Output
from postroom.web.api.routing import Answer, Call, Endpoint


class ServerOut(Output):
    host: str
    port: int | None
    security: str | None
    auth: str | None = None
    username: str | None


class LimitsOut(Output):
    per_minute: int | None
    per_day: int | None
    recipients_per_day: int | None
    connections: int


class AccountOut(Output):
    """An account as stored, without its secrets (``has_secret`` says whether one is)."""

    id: int
    name: str
    from_address: str
    from_name: str | None
    smtp: ServerOut
    imap: ServerOut | None
    envelope: str
    limits: LimitsOut
    has_secret: bool
    paused_until: datetime | None
    pause_reason: str | None
    last_test: dict[str, Any] | None


class AccountList(Output):
    items: list[AccountOut]


def _out(account: Any) -> AccountOut:
    return AccountOut.model_validate(account.to_json())


def list_all(call: Call) -> Answer:
    """Every sending account."""
    return Answer(AccountList(items=[_out(a) for a in list_accounts(call.room.database)]))


def _find(call: Call) -> Any:
    name = str(call.path["name"])
    for account in list_accounts(call.room.database):
        if account.name == name:
            return account
    raise NotFound(f"there is no account {name!r}; GET {call.link('/accounts')} lists them")


def get_one(call: Call) -> Answer:
    """One sending account."""
    return Answer(_out(_find(call)))


class SmtpIn(Model):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    security: Security = Security.STARTTLS
    auth: Auth = Auth.PLAIN
    username: str | None = Field(None, description="Default: the From address.")
    password: str | None = Field(
        None, description="For plain and login; stored encrypted, never returned."
    )


class ImapIn(Model):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(993, ge=1, le=65535)
    security: Security = Security.TLS
    username: str | None = None
    password: str | None = Field(None, description="Default: the SMTP password.")


class OAuthIn(Model):
    """XOAUTH2 credentials (RFC 6749 refresh token grant); stored encrypted."""

    token_url: str = Field(min_length=8)
    client_id: str = Field(min_length=1)
    client_secret: str = ""
    refresh_token: str = Field(min_length=1)
    scope: str = ""


class LimitsIn(Model):
    per_minute: int | None = Field(None, ge=1)
    per_day: int | None = Field(None, ge=1)
    recipients_per_day: int | None = Field(None, ge=1)
    connections: int = Field(2, ge=1, le=100)


class DkimIn(Model):
    selector: str = Field(min_length=1, max_length=63)
    private_key: str = Field(min_length=1, description="PEM: RSA 2048 or Ed25519 (RFC 8463).")
    domain: str | None = Field(None, description="Default: the From domain.")


class AccountIn(Model):
    name: str = Field(min_length=1, max_length=100)
    from_address: str = Field(min_length=3, max_length=998)
    from_name: str | None = None
    smtp: SmtpIn
    imap: ImapIn | None = None
    oauth: OAuthIn | None = None
    envelope: Envelope = Envelope.ACCOUNT
    limits: LimitsIn = Field(default_factory=LimitsIn)
    dkim: DkimIn | None = None


class AddedOut(AccountOut):
    dkim_record: str | None = Field(description="The DNS TXT record to publish for DKIM.")


def add(call: Call) -> Answer:
    """Add a sending account; its secrets are stored encrypted and never returned."""
    body: AccountIn = call.body
    smtp = body.smtp
    if any(a.name == body.name for a in list_accounts(call.room.database)):
        raise Conflict(f"an account named {body.name!r} exists already")
    login = smtp.username or body.from_address
    spec = AccountSpec(
        name=body.name,
        from_address=body.from_address,
        from_name=body.from_name,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security=smtp.security,
        smtp_auth=smtp.auth,
        smtp_username=None if smtp.auth is Auth.NONE else login,
        imap_host=body.imap.host if body.imap else None,
        imap_port=body.imap.port if body.imap else None,
        imap_security=body.imap.security if body.imap else None,
        imap_username=(body.imap.username or login) if body.imap else None,
        envelope=body.envelope,
        limits=Limits(**body.limits.model_dump()),
    )
    oauth = None
    if body.oauth is not None:
        oauth = {
            "access_token": "",
            "expires_at": None,
            "refresh_expires_at": None,
            **body.oauth.model_dump(),
        }
    record = dkim = None
    if body.dkim is not None:
        from postroom.compose.dkim import DkimKey

        domain = body.dkim.domain or body.from_address.rpartition("@")[2]
        try:
            key = DkimKey(domain, body.dkim.selector, body.dkim.private_key)
        except Exception as exc:  # the key is checked now, not at the first send
            raise InvalidRequest(f"dkim.private_key: {exc}", field="dkim.private_key") from None
        record = f"{key.record_name} TXT {key.dns_record()}"
        dkim = {"selector": body.dkim.selector, "domain": domain}
    secrets = AccountSecrets(
        password=smtp.password,
        oauth=oauth,
        imap_password=(body.imap.password or smtp.password) if body.imap else None,
        dkim_private_key=body.dkim.private_key if body.dkim else None,
        dkim=dkim,
    )
    try:
        account = add_account(call.room.database, call.room.settings, spec, secrets, now=call.now)
    except AccountError as exc:
        raise InvalidRequest(str(exc), problem="invalid-field") from None
    url = call.link(f"/accounts/{account.name}")
    out = AddedOut(**_out(account).model_dump(), dkim_record=record)
    return Answer(out, status=201, headers={"Location": url})


class TestIn(Model):
    timeout: float = Field(30, ge=1, le=300, description="Seconds per SMTP phase.")


class TestOut(Output):
    ok: bool
    lines: list[str] = Field(description="What happened, and the fix when it failed.")
    account: AccountOut


def run_test(call: Call) -> Answer:
    """Connect to the account's server, log in, and say what it offers (a failure names the
    fix). The result is kept on the account (``last_test``)."""
    account = _find(call)
    result = check_account(call.room, account, timeout=call.body.timeout)
    refreshed = _find(call)
    return Answer(TestOut(ok=result.ok, lines=list(result.lines), account=_out(refreshed)))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/accounts",
        "listAccounts",
        "List sending accounts",
        list_all,
        Scope.READ,
        "accounts",
        response=AccountList,
    ),
    Endpoint(
        "POST",
        "/accounts",
        "addAccount",
        "Add a sending account",
        add,
        Scope.ADMIN,
        "accounts",
        body=JsonBody(AccountIn),
        response=AddedOut,
        status=201,
        problems=(
            "invalid-request",
            "invalid-field",
            "conflict",
            "unsupported-media-type",
            "server-misconfigured",
        ),
    ),
    Endpoint(
        "GET",
        "/accounts/{name}",
        "getAccount",
        "Read a sending account",
        get_one,
        Scope.READ,
        "accounts",
        response=AccountOut,
        problems=("not-found",),
    ),
    Endpoint(
        "POST",
        "/accounts/{name}/test",
        "testAccount",
        "Test a sending account's server and login",
        run_test,
        Scope.ADMIN,
        "accounts",
        body=JsonBody(TestIn, required=False),
        response=TestOut,
        problems=("not-found", "invalid-field"),
    ),
)
