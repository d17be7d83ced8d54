"""Every command registered on the ``postroom`` group (importing this module does it)."""

from __future__ import annotations

from postroom.cli import (
    accounts,
    demo,
    receiving,
    sending,
    serving,
    setup,
    tokens,
    understanding,
    users,
    webhooks,
)
from postroom.cli.base import main

__all__ = [
    "accounts",
    "demo",
    "main",
    "receiving",
    "sending",
    "serving",
    "setup",
    "tokens",
    "understanding",
    "users",
    "webhooks",
]
