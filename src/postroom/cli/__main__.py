"""``python -m postroom.cli``: the ``postroom`` program."""

from postroom.cli import run

run()
