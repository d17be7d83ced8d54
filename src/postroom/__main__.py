"""``python -m postroom``: the ``postroom`` program."""

from postroom.cli import run

run()
