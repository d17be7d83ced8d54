"""Example applications built on postroom (used by the demo and the end-to-end tests)."""
