"""The local mail catcher inside ``postroom serve`` (the ``[catcher]`` settings).

``enabled = "auto"`` (the default) runs it with the embedded SQLite database while no sending
account other than the catcher's own is set up, so a fresh install sends somewhere the
dashboard shows; ``on`` always, ``off`` never. When it runs, the ``catcher`` account is added
(or pointed at ``host:port`` again when those settings changed) so ``room.send(account=
"catcher")`` and the API reach it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.accounts.service import list_accounts
from postroom.catcher.account import CATCHER_ACCOUNT, ensure_account
from postroom.catcher.server import Catcher
from postroom.store.accounts import update_account

if TYPE_CHECKING:
    from postroom.app import Postroom


def embedded_catcher_reason(room: Postroom) -> tuple[bool, str]:
    """Whether ``postroom serve`` runs the catcher for ``room``, and why (shown to the user)."""
    mode = room.settings.catcher.enabled
    if mode == "off":
        return False, "catcher.enabled = off"
    if mode == "on":
        return True, "catcher.enabled = on"
    if not room.settings.database_url.startswith("sqlite"):
        return False, "not the embedded SQLite database (set catcher.enabled = on to run it)"
    others = [a.name for a in list_accounts(room.database) if a.name != CATCHER_ACCOUNT]
    if others:
        return False, f"sending accounts are set up ({', '.join(sorted(others))})"
    return True, "no sending account is set up yet"


def start_embedded_catcher(room: Postroom) -> Catcher:
    """Start the catcher on ``catcher.host:catcher.port`` and make the ``catcher`` account
    point at it. CatcherError when the port is taken."""
    settings = room.settings.catcher
    catcher = Catcher(room, settings.host, settings.port)
    catcher.start()
    if ensure_account(room, catcher.host, catcher.port) is None:
        for account in list_accounts(room.database):
            if account.name == CATCHER_ACCOUNT and (
                account.smtp_host != catcher.host or account.smtp_port != catcher.port
            ):
                with room.database.transaction() as tx:
                    update_account(
                        tx,
                        account.id,
                        now=room.clock(),
                        smtp_host=catcher.host,
                        smtp_port=catcher.port,
                    )
    return catcher
