"""The ``postroom`` command line. Maps postroom's errors onto sysexits(3) exit codes.

Each module registers its commands on :data:`postroom.cli.base.main`; importing this package
registers them all.
"""

from __future__ import annotations

from postroom.cli import accounts, demo, receiving, sending, setup, understanding
from postroom.cli.base import main

__all__ = ["accounts", "demo", "main", "receiving", "sending", "setup", "understanding"]
