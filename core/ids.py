"""Identifiers: short, random, URL- and custom_id-safe strings (the plan's cuid role)."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


_SPACE = len(_ALPHABET) ** 16


def new_id() -> str:
    """A 16-character lowercase id (~82 bits of randomness)."""
    # One draw from the OS, then base 36: a matching round makes tens of thousands at
    # once, and sixteen separate draws cost ~80 µs an id.
    value = secrets.randbelow(_SPACE)
    digits = []
    for _ in range(16):
        value, digit = divmod(value, 36)
        digits.append(_ALPHABET[digit])
    return "".join(digits)
