"""``python -m postroom.cli``."""

from postroom.cli import main

main()
