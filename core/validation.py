"""Field rules shared by every use case. Each failure names the field and the rule."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from functools import cache

import pycountry

from core.errors import InvalidValue

TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_]{1,31}$")
# Terminal escape sequences: CSI (ESC [ … final byte, or its 8-bit form), the string
# sequences OSC, DCS, SOS, PM and APC (ended by BEL or ESC \), and two-byte ESC sequences.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
)
# C0 and C1 control characters, DEL included; newline and tab are kept.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Letters and symbols that draw nothing (fillers, the blank braille pattern).
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Format characters (zero-width space, joiners, bidi marks…), separators, and combining
# marks, which draw nothing on their own.
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_INVISIBLE_CATEGORIES = _BLANK_CATEGORIES | {"Mn", "Me"}


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@cache
def _language_codes() -> frozenset[str]:
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


def timezone_names() -> list[str]:
    return sorted(_timezones())


def language_codes() -> list[str]:
    return sorted(_language_codes())


def language_name(code: str) -> str:
    lang = pycountry.languages.get(alpha_2=code)
    return str(lang.name) if lang is not None else code


def timezone(field: str, value: str) -> str:
    value = value.strip()
    if value not in _timezones():
        raise InvalidValue(
            field, "must be an IANA timezone such as Europe/Madrid or America/New_York", value
        )
    return value


def clean(value: str) -> str:
    """Free text as it is stored and shown to others.

    Line ends become ``\\n``; terminal escape sequences and control characters other
    than newline and tab are removed; blanks at either end (spaces, zero-width and other
    invisible characters) are trimmed, so text with nothing visible in it becomes empty.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROLS.sub("", _ESCAPES.sub("", value))
    start, end = 0, len(value)
    while start < end and _blank(value[start]):
        start += 1
    while end > start and _blank(value[end - 1]):
        end -= 1
    value = value[start:end]
    return value if any(_visible(c) for c in value) else ""


def _blank(char: str) -> bool:
    """Draws nothing and belongs to no neighbour (unlike a combining accent)."""
    return char in _BLANK_GLYPHS or unicodedata.category(char) in _BLANK_CATEGORIES


def _visible(char: str) -> bool:
    return char not in _BLANK_GLYPHS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def text(field: str, value: str, *, min_length: int = 0, max_length: int) -> str:
    """Free text, cleaned (see ``clean``), then held to its length rule."""
    value = clean(value)
    if not min_length <= len(value) <= max_length:
        if min_length:
            rule = f"must be {min_length}–{max_length} characters (it is {len(value)})"
        else:
            rule = f"must be at most {max_length} characters (it is {len(value)})"
        raise InvalidValue(field, rule, value)
    return value


def integer(field: str, value: int, *, minimum: int, maximum: int) -> int:
    if not minimum <= value <= maximum:
        raise InvalidValue(field, f"must be a whole number from {minimum} to {maximum}", value)
    return value


def choice(field: str, value: str, allowed: Sequence[str]) -> str:
    value = value.strip().lower()
    if value not in allowed:
        raise InvalidValue(field, f"must be one of {', '.join(allowed)}", value)
    return value


def choices(
    field: str, values: Iterable[str], allowed: Sequence[str], *, at_least: int = 1
) -> list[str]:
    picked = _dedupe(v.strip().lower() for v in values if v.strip())
    unknown = [v for v in picked if v not in allowed]
    if unknown:
        raise InvalidValue(
            field,
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not offered here; "
            f"choose from {', '.join(allowed)}",
            unknown,
        )
    if len(picked) < at_least:
        raise InvalidValue(field, f"choose at least {at_least} of {', '.join(allowed)}", picked)
    return picked


def languages(field: str, values: Iterable[str]) -> list[str]:
    picked = _dedupe(v.strip().lower() for v in values if v.strip())
    bad = [v for v in picked if v not in _language_codes()]
    if bad:
        raise InvalidValue(
            field, f"{', '.join(bad)}: use two-letter ISO 639-1 codes such as en, es, fr", bad
        )
    if not picked:
        raise InvalidValue(field, "name at least one language (ISO 639-1 code, e.g. en)", picked)
    if len(picked) > 10:
        raise InvalidValue(field, "name at most 10 languages", picked)
    return picked


def tags(field: str, values: Iterable[str]) -> list[str]:
    picked = _dedupe(v.strip().lower() for v in values if v.strip())
    bad = [v for v in picked if not TAG_RE.match(v)]
    if bad:
        raise InvalidValue(
            field, f"{', '.join(bad)}: use 2–32 lowercase letters, digits or underscores", bad
        )
    if not 1 <= len(picked) <= 25:
        raise InvalidValue(field, "give 1–25 entries", picked)
    return picked


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
