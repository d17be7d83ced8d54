"""postroom: a self-hosted two-way email engine."""
