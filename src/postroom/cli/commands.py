"""Every command registered on the ``postroom`` group (importing this module does it)."""

from __future__ import annotations

from postroom.cli import demo, receiving, setup, understanding
from postroom.cli.base import main

__all__ = ["demo", "main", "receiving", "setup", "understanding"]
