"""Buttons and forms: namespaced ids and the registry of what each one does.

An action id is ``mb:<name>:<arg>...`` (at most 100 characters, Discord's custom_id cap).
The id only says what was pressed; whether the presser may do it is decided by the
handler, against the database, every time, so a forged or replayed id achieves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from core.context import Actor
from core.errors import StaleAction
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
    if len(args) != entry.arity or not all(ARG_RE.fullmatch(a) for a in args):
        raise StaleAction()
    return entry, args


def button(name: str, arity: int = 1) -> Callable[[ButtonHandler], ButtonHandler]:
    def register(fn: ButtonHandler) -> ButtonHandler:
        BUTTONS[name] = _Registered(fn, arity)
        return fn

    return register


def form(name: str, arity: int = 1) -> Callable[[FormHandler], FormHandler]:
    def register(fn: FormHandler) -> FormHandler:
        FORMS[name] = _Registered(fn, arity)
        return fn

    return register
