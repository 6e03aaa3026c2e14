"""Buttons and forms: namespaced ids and the registry of what each one does.

An action id is ``mb:<name>:<arg>...`` (at most 100 characters, Discord's custom_id cap).
The id only says what was pressed; whether the presser may do it is decided by the
handler, against the database, every time, so a forged or replayed id achieves nothing.

A row that can be decided on more than once (an application sent again after a
rejection, a request reopened after a decline) carries a version, raised on every reuse.
Actions on such a row are registered ``versioned``: their id ends with the version the
card was made for, and the handler refuses it unless that is still the row's version
(``require_current``). An id of the older format, without the version, is outdated too.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from core.context import Actor
from core.errors import OutdatedCard, StaleAction
from core.messages import Reply
from core.uow import UnitOfWork

PREFIX = "mb"
MAX_ID_LENGTH = 100
# An argument is an id, a number, a tag such as "learn_giving" or "-" (browse's "no
# filter"): never a path, a separator or anything else a forger might try.
ARG_RE = re.compile(r"[A-Za-z0-9_-]+")

ButtonHandler = Callable[[UnitOfWork, Actor, list[str]], Awaitable[Reply]]
FormHandler = Callable[[UnitOfWork, Actor, list[str], Mapping[str, str]], Awaitable[Reply]]


@dataclass(frozen=True)
class _Registered:
    handler: ButtonHandler | FormHandler
    arity: int
    versioned: bool = False


BUTTONS: dict[str, _Registered] = {}
FORMS: dict[str, _Registered] = {}


def action_id(name: str, *args: str) -> str:
    parts = [PREFIX, name, *args]
    if any(":" in p for p in parts):
        raise ValueError(f"action id parts may not contain ':': {parts}")
    value = ":".join(parts)
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"action id longer than {MAX_ID_LENGTH}: {value}")
    return value


def parse_action_id(
    custom_id: str, registry: Mapping[str, _Registered]
) -> tuple[_Registered, list[str]]:
    parts = custom_id.split(":")
    if len(parts) < 2 or parts[0] != PREFIX or parts[1] not in registry:
        raise StaleAction()
    entry = registry[parts[1]]
    args = parts[2:]
    if not all(ARG_RE.fullmatch(a) for a in args):
        raise StaleAction()
    if entry.versioned and len(args) == entry.arity - 1:
        raise OutdatedCard()  # a card from before versions were carried
    if len(args) != entry.arity or (entry.versioned and not args[-1].isdigit()):
        raise StaleAction()
    return entry, args


def require_current(card_version: str, current: int) -> None:
    """Refuse a versioned action made for an earlier instance of its row."""
    if int(card_version) != current:
        raise OutdatedCard()


def button(
    name: str, arity: int = 1, *, versioned: bool = False
) -> Callable[[ButtonHandler], ButtonHandler]:
    """Register a button; ``versioned`` ones count the version in ``arity`` (last arg)."""

    def register(fn: ButtonHandler) -> ButtonHandler:
        BUTTONS[name] = _Registered(fn, arity, versioned)
        return fn

    return register


def form(
    name: str, arity: int = 1, *, versioned: bool = False
) -> Callable[[FormHandler], FormHandler]:
    """Register a form; ``versioned`` ones count the version in ``arity`` (last arg)."""

    def register(fn: FormHandler) -> FormHandler:
        FORMS[name] = _Registered(fn, arity, versioned)
        return fn

    return register
