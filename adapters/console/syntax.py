"""Console syntax: the parts of a line that are checked before anything runs.

Each function raises ParseError for a line that is not console syntax; the bot counts
those, and a script stops at the first one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from core.catalog import put_option
from core.messages import Button

NAME_MAX = 32  # Discord's limit for a user name; Slack's display names are longer
_NAME_PUNCTUATION = frozenset("_-.")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class ParseError(Exception):
    """A console line that is not console syntax (distinct from a bot-level mistake)."""


def member_name(raw: str) -> str:
    """The member an `as @name` line means: letters, combining marks and digits of any
    script plus '_', '-', '.', as on Discord or Slack; never whitespace, control or
    invisible format characters. NFC, so a typed accent and a composed one are one name."""
    name = unicodedata.normalize("NFC", raw)
    if not 1 <= len(name) <= NAME_MAX or not all(
        unicodedata.category(c)[0] in "LMN" or c in _NAME_PUNCTUATION for c in name
    ):
        raise ParseError(
            f"member names are 1–{NAME_MAX} letters, digits, '.', '_' or '-' (nobody is acting now)"
        )
    return name


def duration(args: list[str]) -> tuple[int, int, int]:
    """(days, hours, minutes) of `advance 1d2h30m`."""
    match = _DURATION.match("".join(args))
    if not args or match is None or not any(match.groups()):
        raise ParseError("use `advance 1d`, `advance 2h30m`, `advance 15m`")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days, hours, minutes


def split_command(tokens: list[str]) -> tuple[str, dict[str, str]]:
    path: list[str] = [tokens[0][1:]]
    options: dict[str, str] = {}
    for token in tokens[1:]:
        name, sep, value = token.partition(":")
        if not sep:
            if options:
                raise ParseError(f"expected name:value after the options started, got {token!r}")
            path.append(token)
            continue
        if not name:
            raise ParseError(f"option without a name: {token!r}")
        put_option(options, name, value)  # a repeated option: a UserError
    return " ".join(path), options


def find_button(messages: Sequence[Sequence[Button]], label: str) -> tuple[int, Button]:
    """The button ``label`` means among the messages' buttons (latest message first):
    an exact label on the latest message that has one, else the latest message whose
    labels contain ``label`` once; several different labels there must be told apart.
    Returns the message's index and the button."""
    wanted = plain(label)
    for index, buttons in enumerate(messages):
        for b in buttons:
            if plain(b.label) == wanted:
                return index, b
    for index, buttons in enumerate(messages if wanted else ()):
        matches = [b for b in buttons if wanted in plain(b.label)]
        labels = list(dict.fromkeys(b.label for b in matches))
        if len(labels) == 1:
            return index, matches[0]
        if labels:
            raise ParseError(
                f"{label!r} matches several buttons: {', '.join(labels)} (type more of one)"
            )
    raise ParseError(f"no message you saw has a button labelled {label!r}")


def plain(label: str) -> str:
    """A label as typed: case and symbols ignored, so `click Next` presses "Next ▶"."""
    return " ".join(re.sub(r"[^\w\s]", " ", label).casefold().split())
