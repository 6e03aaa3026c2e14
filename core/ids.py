"""Identifiers: short, random, URL- and custom_id-safe strings (the plan's cuid role)."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    """A 16-character lowercase id (~82 bits of randomness)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))
