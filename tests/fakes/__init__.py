"""Fake upstream servers that speak the real wire protocols, on loopback, for tests."""
