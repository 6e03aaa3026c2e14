"""Identifiers: short, random, URL- and custom_id-safe strings (the plan's cuid role)."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


_SPACE = len(_ALPHABET) ** 16
_BYTES = 12  # 96 random bits per id, reduced to the ~82.7 bits of 16 base-36 digits


def new_id() -> str:
    """A 16-character lowercase id (~82 bits of randomness)."""
    return new_ids(1)[0]


def new_ids(count: int) -> list[str]:
    """``count`` ids from one draw of the operating system's randomness.

    A matching round makes tens of thousands at once: one system call for all of them,
    not one (or sixteen) per id.
    """
    raw = secrets.token_bytes(_BYTES * count)
    ids = []
    for k in range(count):
        value = int.from_bytes(raw[k * _BYTES : (k + 1) * _BYTES], "big") % _SPACE
        digits = []
        for _ in range(16):
            value, digit = divmod(value, 36)
            digits.append(_ALPHABET[digit])
        ids.append("".join(digits))
    return ids
