"""The local mail catcher: an SMTP server that keeps every message it is given (so an
application can send without a real account), and the recipient's side of each message: its
inbox, the message rendered, and open, click, reply and bounce as that recipient.

- :mod:`~postroom.catcher.server`: ``Catcher(room, host, port)`` with ``start()``/``stop()``;
- :mod:`~postroom.catcher.mail`: the tracked URLs of a copy, Gmail-style replies and DSNs (no I/O);
- :mod:`~postroom.catcher.actions`: open, click, reply and bounce as the recipient;
- :mod:`~postroom.catcher.account`: the ``catcher`` account preset and ``ensure_account``.
"""

from postroom.catcher.account import CATCHER_ACCOUNT, ensure_account
from postroom.catcher.server import DEFAULT_HOST, DEFAULT_PORT, Catcher

__all__ = ["CATCHER_ACCOUNT", "DEFAULT_HOST", "DEFAULT_PORT", "Catcher", "ensure_account"]
