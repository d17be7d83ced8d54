"""Sending accounts: the sender's own SMTP (and IMAP) settings, limits and encrypted secrets.

:mod:`~postroom.accounts.model` holds the typed values, :mod:`~postroom.accounts.presets` the
providers' documented limits, :mod:`~postroom.accounts.vault` the encryption at rest and
:mod:`~postroom.accounts.service` the operations behind ``postroom accounts``.
"""

from postroom.accounts.model import (
    Account,
    AccountSpec,
    Auth,
    Envelope,
    Limits,
    Security,
)
from postroom.accounts.vault import AccountSecrets, SecretBox

__all__ = [
    "Account",
    "AccountSecrets",
    "AccountSpec",
    "Auth",
    "Envelope",
    "Limits",
    "SecretBox",
    "Security",
]
