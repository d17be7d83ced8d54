"""Building MIME and personalising it per recipient. No I/O."""
