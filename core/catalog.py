"""The command catalog's vocabulary: commands, options, and turning raw input into values.

Every user-facing command is declared once (see ``core.commands``). Discord app
commands, the Slack ``/mentor`` parser, help and manifest, and the console parser are
all built from those declarations; the option limits here are enforced in the core, so a
platform that cannot express a limit still gets it checked. Free text is cleaned here
(``validation.clean``) before any length is checked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from core import validation
from core.context import Actor, ChannelKind, Picked
from core.errors import InvalidValue, UnknownCommand, UnknownOption
from core.messages import Reply
from core.uow import UnitOfWork


class OptionType(StrEnum):
    STRING = "string"  # one line
    TEXT = "text"  # long text; collected in a form where the platform has them
    INTEGER = "integer"
    BOOLEAN = "boolean"
    LIST = "list"  # several values; typed comma-separated
    CHANNEL = "channel"
    ROLE = "role"
    USER = "user"


class Access(StrEnum):
    EVERYONE = "everyone"
    ADMIN = "admin"


class Autocomplete(StrEnum):
    TIMEZONES = "timezones"
    LANGUAGES = "languages"
    EXPERTISE = "expertise"
    GOALS = "goals"
    # Free times with the command's ``person`` (Discord, where the choices can depend on
    # the options typed so far).
    FREE_SLOTS = "free_slots"
    GROUPS = "groups"


@dataclass(frozen=True)
class Option:
    name: str
    type: OptionType
    description: str
    required: bool = False
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    autocomplete: Autocomplete | None = None
    # CHANNEL options only: the kind of channel the option takes.
    channel_kind: ChannelKind = ChannelKind.POSTS


Handler = Callable[[UnitOfWork, Actor, Any], Awaitable[Reply]]
V = TypeVar("V")


@dataclass(frozen=True)
class Planned:
    """A command that reads and computes at length before it writes (a matching round).

    ``read`` runs in a unit of work that is rolled back, so it may not write; ``compute``
    runs after that with no transaction open, however long it takes; ``write`` gets the
    options, the computed plan and a unit of work of its own (the one that records the
    event's dedupe key) and must re-check whatever may have changed in between.
    """

    read: Callable[[UnitOfWork, Actor, Any], Awaitable[Any]]
    compute: Callable[[Any], Awaitable[Any]]
    write: Callable[[UnitOfWork, Actor, Any, Any], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    group: str  # "mentor", "mentee", "admin"
    name: str  # "apply"
    description: str
    handler: Handler | Planned
    params: type  # a dataclass whose fields are the options
    options: tuple[Option, ...] = ()
    access: Access = Access.EVERYONE
    # Platforms with forms (modals) collect the TEXT options of such a command in one.
    form_title: str | None = None
    # Changes nothing (no row, no queued effect): runs in a read-only unit of work on a
    # reader connection, so it never waits for the writer.
    read_only: bool = False

    @property
    def path(self) -> str:
        return f"{self.group} {self.name}"

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(name)

    def usage(self) -> str:
        parts = [f"/{self.path}"]
        for opt in self.options:
            parts.append(f"{opt.name}:<{opt.type.value}>" if opt.required else f"[{opt.name}:…]")
        return " ".join(parts)


class Catalog:
    def __init__(self, commands: Sequence[Command]) -> None:
        self.commands = tuple(commands)
        self._by_path = {c.path: c for c in self.commands}
        if len(self._by_path) != len(self.commands):
            raise ValueError("two catalog commands share a path")
        for cmd in self.commands:
            fields = {f.name for f in dataclasses.fields(cmd.params)}
            names = {o.name for o in cmd.options}
            if fields != names:
                raise ValueError(f"/{cmd.path}: options {names} do not match params {fields}")

    def __iter__(self) -> Any:
        return iter(self.commands)

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(c.group for c in self.commands))

    def in_group(self, group: str) -> list[Command]:
        return [c for c in self.commands if c.group == group]

    def find(self, path: str) -> Command:
        path = " ".join(path.strip().lstrip("/").split())
        try:
            return self._by_path[path]
        except KeyError:
            group = path.split(" ")[0] if path else ""
            subs = [c.name for c in self.in_group(group)]
            hint = (
                f"`/{group}` has: {', '.join(subs)}."
                if subs
                else f"Commands start with: {', '.join('/' + g for g in self.groups)}."
            )
            raise UnknownCommand("/" + path, hint) from None

    def build(
        self, command: Command, raw: Mapping[str, object], *, community: str | None = None
    ) -> Any:
        """Check and convert raw option values, then build the command's params object.

        ``community`` is the platform id of the community the command runs in: a channel
        or role picked elsewhere (see ``Picked``) is refused.
        """
        allowed = [o.name for o in command.options]
        for key in raw:
            if key not in allowed:
                raise UnknownOption("/" + command.path, key, allowed)
        values: dict[str, Any] = {}
        for opt in command.options:
            value = _convert(opt, _checked_pick(opt, raw.get(opt.name), community))
            if value is None and opt.type is OptionType.LIST and opt.name in raw:
                # Given but empty (`languages:""`): never silently the default.
                raise InvalidValue(opt.name, "is empty; give at least one value, comma-separated")
            if value is None and opt.required:
                raise InvalidValue(opt.name, "is required")
            values[opt.name] = value
        return command.params(**values)


KIND_RULES = {
    ChannelKind.POSTS: "must be a channel that holds messages, not a category, voice "
    "channel, forum, direct message or archived channel",
    ChannelKind.CATEGORY: "must be a category (a group of channels), not a channel",
}


def _checked_pick(opt: Option, raw: object, community: str | None) -> object:
    """The id of a picked channel or role, once it is known to be usable here."""
    if not isinstance(raw, Picked):
        return raw
    if community is not None and raw.community_platform_id != community:
        noun = "channel" if opt.type is OptionType.CHANNEL else opt.type.value
        raise InvalidValue(
            opt.name, f"must be a {noun} of this community that the bot can see", raw.id
        )
    if opt.type is OptionType.CHANNEL and raw.kind is not opt.channel_kind:
        raise InvalidValue(opt.name, KIND_RULES[opt.channel_kind], raw.id)
    return raw.id


def put_option(options: dict[str, V], name: str, value: V) -> None:
    """Add one typed ``name:value`` to ``options``; a name given twice is refused.

    Every adapter that reads options from typed text (the console, Slack's ``/mentor``
    line) adds them through here, so a repeated option never silently overrides.
    """
    if name in options:
        raise InvalidValue(name, "is given more than once; give each option once")
    options[name] = value


_ID_WRAPPERS = re.compile(r"^<[#@]&?!?([^>]+)>$")


def _convert(opt: Option, raw: object) -> Any:
    if isinstance(raw, str):
        raw = validation.clean(raw)
    if raw is None or raw == "":
        return None
    match opt.type:
        case OptionType.STRING | OptionType.TEXT:
            value = str(raw)
            if opt.choices:
                if value.lower() not in opt.choices:
                    raise InvalidValue(opt.name, f"must be one of {', '.join(opt.choices)}", value)
                return value.lower()
            lo, hi = opt.min_length or 0, opt.max_length
            if len(value) < lo or (hi is not None and len(value) > hi):
                rule = f"must be {lo}–{hi} characters" if lo else f"must be at most {hi} characters"
                raise InvalidValue(opt.name, f"{rule} (it is {len(value)})", value)
            return value
        case OptionType.INTEGER:
            if isinstance(raw, bool):
                raise InvalidValue(opt.name, "must be a whole number", raw)
            try:
                number = int(str(raw).strip()) if not isinstance(raw, int) else raw
            except ValueError:
                raise InvalidValue(opt.name, "must be a whole number", raw) from None
            low, high = opt.min_value, opt.max_value
            if (low is not None and number < low) or (high is not None and number > high):
                raise InvalidValue(opt.name, f"must be a whole number from {low} to {high}", number)
            return number
        case OptionType.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("true", "yes", "on", "1"):
                return True
            if text in ("false", "no", "off", "0"):
                return False
            raise InvalidValue(opt.name, "must be yes or no", raw)
        case OptionType.LIST:
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            values = [validation.clean(str(i)) for i in items]
            return [v for v in values if v] or None
        case OptionType.CHANNEL | OptionType.ROLE | OptionType.USER:
            text = str(raw).strip()
            wrapped = _ID_WRAPPERS.match(text)
            if wrapped:
                text = wrapped.group(1)
            text = text.lstrip("#@&")
            if not text or len(text) > 64 or any(c.isspace() for c in text):
                raise InvalidValue(opt.name, f"must be a {opt.type.value}", raw)
            return text
    raise AssertionError(f"unhandled option type {opt.type}")
