"""Shared layer of the speech API: everything the two thin handlers call."""
