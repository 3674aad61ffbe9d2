"""Integration tests run on the real Twisted reactor (pytest-twisted), on loopback."""
