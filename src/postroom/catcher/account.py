"""The catcher as a sending account: ``postroom accounts add NAME --from ADDRESS --preset
catcher`` (loopback, no login), or :func:`ensure_account` when no real account is set up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.accounts import AccountSecrets, AccountSpec
from postroom.accounts.presets import PRESETS
from postroom.accounts.service import add_account, list_accounts

if TYPE_CHECKING:
    from postroom.accounts.model import Account
    from postroom.app import Postroom

CATCHER_ACCOUNT = "catcher"


def catcher_spec(
    from_address: str, host: str, port: int, name: str = CATCHER_ACCOUNT
) -> AccountSpec:
    preset = PRESETS["catcher"]
    return AccountSpec(
        name=name,
        from_address=from_address,
        smtp_host=host,
        smtp_port=port,
        smtp_security=preset.smtp_security,
        smtp_auth=preset.smtp_auth,
        envelope=preset.envelope,
        limits=preset.limits,
    )


def ensure_account(
    room: Postroom, host: str, port: int, *, from_address: str | None = None
) -> Account | None:
    """Add the ``catcher`` account pointing at ``host:port`` when ``room`` has no account at
    all (a fresh embedded setup), and return it; None when accounts exist already (then the
    catcher only catches what is sent to it)."""
    if list_accounts(room.database):
        return None
    sender = from_address or f"postroom@{room.settings.reply_domain}"
    return add_account(
        room.database,
        room.settings,
        catcher_spec(sender, host, port),
        AccountSecrets(),
        now=room.clock(),
    )
