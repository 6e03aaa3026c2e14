"""The catalog on Slack: ``/mentor <sub> name:value …`` parsing and modals for long forms.

Slack has one slash command (``/mentor`` by default). Catalog group ``mentor`` maps to
``/mentor <name>``; every other group to ``/mentor <group> <name>`` (``/mentor admin
setup``). Options are typed ``name:value`` as in the console; quote values with spaces;
lists are comma-separated. A command with a form title (``/mentor apply``) typed with no
options opens a modal built from its catalog options instead.

Slack escapes what the member typed (``&amp;`` …) and, with ``should_escape`` on (see the
manifest), sends picked users, channels and user groups as ``<@U1|ana>``, ``<#C1|name>``
and ``<!subteam^S1|@handle>``. Those become the core's portable tokens here, and the
values of user/channel/role options become bare ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.slack.blocks import MAX_MODAL_TITLE, Block, input_block, plain, truncate
from core.catalog import Autocomplete, Catalog, Command, Option, OptionType, put_option
from core.errors import UnknownCommand, UserError

COMMAND_FORM_PREFIX = "mbcmd:"
SUGGEST_PREFIX = "mbac:"
MAX_STATIC_OPTIONS = 100

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})
_SLACK_REF = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|[^>]*)?>")
_TOKEN = re.compile(r'([a-z_]+):(?:"([^"]*)"|(\S*))|"([^"]*)"|(\S+)')
_BARE_ID = re.compile(r"^<(?:#|@&|@)([A-Z0-9]+)>$")


@dataclass(frozen=True)
class Parsed:
    """A ``/mentor`` line understood: which catalog command, with which raw options."""

    command: Command
    options: dict[str, object] = field(default_factory=dict)

    @property
    def opens_form(self) -> bool:
        return self.command.form_title is not None and not self.options


def subcommand(command: Command) -> str:
    """What follows ``/mentor``: ``apply``, ``admin setup``."""
    return command.name if command.group == "mentor" else command.path


def from_slack(text: str) -> str:
    """Slack's escaped message text → plain text with the core's portable tokens."""

    def ref(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "!":
            if target.startswith("subteam^"):
                return f"<@&{target.removeprefix('subteam^')}>"
            # <!here>, <!channel>, <!date…>: keep what it said, never its ping
            return label or f"@{target}"
        return f"<{sigil}{target}>"

    text = _LINK.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    text = _SLACK_REF.sub(ref, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.translate(_QUOTES)


def bare_id(value: str) -> str:
    """``<#C1>`` / ``<@U1>`` / ``<@&S1>`` → ``C1`` / ``U1`` / ``S1``; anything else as is."""
    match = _BARE_ID.match(value.strip())
    return match.group(1) if match else value.strip()


class SlashCommands:
    """The catalog as Slack subcommands: parsing, usage lines and long-form modals."""

    def __init__(self, catalog: Catalog, command: str = "/mentor") -> None:
        self.catalog = catalog
        self.command = command

    # ----- naming -------------------------------------------------------------------------

    def subcommand(self, command: Command) -> str:
        return subcommand(command)

    def usage(self, command: Command) -> str:
        """``/mentor admin setup [admin_role:…] …`` (the catalog's usage, Slack's words)."""
        words = command.usage().split(" ", 2)
        options = words[2] if len(words) > 2 else ""
        return " ".join(p for p in (self.command, self.subcommand(command), options) if p)

    def resolve(self, words: Sequence[str]) -> tuple[Command, list[str]]:
        """The command named by the first words; returns it and the words left over."""
        if not words:
            return self.catalog.find("mentor help"), []
        first = words[0].lower()
        candidates = [(f"mentor {first}", 1)]
        if len(words) > 1 and first in self.catalog.groups:
            candidates.insert(0 if first != "mentor" else 1, (f"{first} {words[1].lower()}", 2))
            if len(words) > 2:  # a command in a subgroup: "admin badges sync"
                candidates.insert(0, (f"{first} {words[1].lower()} {words[2].lower()}", 3))
        for path, used in candidates:
            try:
                return self.catalog.find(path), list(words[used:])
            except UnknownCommand:
                continue
        typed = " ".join(words[:2]) if first in self.catalog.groups else first
        raise UnknownCommand(
            f"{self.command} {typed}", f"`{self.command} help` lists every command."
        )

    # ----- parsing ------------------------------------------------------------------------

    def parse(self, text: str) -> Parsed:
        """Parse what followed ``/mentor``. Raises ``UserError`` for what can't be read."""
        words: list[str] = []
        options: dict[str, object] = {}
        last: str | None = None
        for match in _TOKEN.finditer(from_slack(text).strip()):
            name, quoted, raw, lone_quoted, word = match.groups()
            if name is not None:
                value = quoted if quoted is not None else raw
                if raw is not None and raw.startswith('"'):
                    raise UserError(f"The quote after `{name}:` is never closed.")
                put_option(options, name, value)
                last = name
            elif (
                last is not None
                and isinstance(options[last], str)
                and (str(options[last]).endswith(",") or (word or "").startswith(","))
            ):
                # "expertise:giving, loans": Slack users put spaces after commas.
                options[last] = f"{options[last]}{lone_quoted or word}"
            elif options:
                got = lone_quoted if lone_quoted is not None else word
                raise UserError(
                    f"Expected `name:value` after the options started, got `{got}`. "
                    'Quote values with spaces, e.g. `bio:"I love budgets"`.'
                )
            else:
                words.append(lone_quoted if lone_quoted is not None else word)
        command, rest = self.resolve(words)
        if rest:
            if command.path != "mentor help":
                raise UserError(
                    f"`{self.command} {self.subcommand(command)}` takes `name:value` options, "
                    f"not `{' '.join(rest)}`. `{self.command} help` lists them."
                )
            topic, _ = self.resolve(rest)
            options.setdefault("command", topic.path)
        return Parsed(command, self.id_options(command, options))

    def id_options(self, command: Command, options: Mapping[str, object]) -> dict[str, object]:
        """User/channel/role option values as bare ids; other values untouched."""
        typed = {o.name: o.type for o in command.options}
        id_types = (OptionType.USER, OptionType.CHANNEL, OptionType.ROLE)
        return {
            name: bare_id(value)
            if typed.get(name) in id_types and isinstance(value, str)
            else value
            for name, value in options.items()
        }

    # ----- long forms ---------------------------------------------------------------------

    def form_modal(
        self,
        command: Command,
        private_metadata: str,
        *,
        choices: Mapping[Autocomplete, Sequence[str]],
        timezone: str | None = None,
    ) -> Block:
        """The modal for a catalog command's options; submitted to ``mbcmd:<group>:<name>``.

        ``choices`` holds the community's lists (expertise, goals) for multi-selects;
        ``timezone`` pre-fills a required timezone with the member's Slack zone.
        """
        assert command.form_title is not None
        blocks = [
            input_block(
                opt.name,
                opt.name.replace("_", " ").capitalize(),
                self._element(opt, choices, timezone if opt.required else None),
                optional=not opt.required,
                hint=opt.description,
            )
            for opt in command.options
        ]
        return {
            "type": "modal",
            "callback_id": COMMAND_FORM_PREFIX + command.path.replace(" ", ":"),
            "private_metadata": private_metadata,
            "title": plain(command.form_title, MAX_MODAL_TITLE),
            "submit": plain("Send" if any(o.required for o in command.options) else "Save"),
            "close": plain("Cancel"),
            "blocks": blocks,
        }

    def form_command(self, callback_id: str) -> Command:
        return self.catalog.find(callback_id.removeprefix(COMMAND_FORM_PREFIX).replace(":", " "))

    def _element(
        self, opt: Option, choices: Mapping[Autocomplete, Sequence[str]], timezone: str | None
    ) -> Block:
        name = opt.name
        match opt.type:
            case OptionType.TEXT:
                return _text_input(opt, multiline=True)
            case OptionType.STRING if opt.choices:
                return {
                    "type": "static_select",
                    "action_id": name,
                    "options": _options(opt.choices),
                }
            case OptionType.STRING if opt.autocomplete is Autocomplete.TIMEZONES:
                element = _external("external_select", opt.autocomplete)
                if timezone:
                    element["initial_option"] = _options([timezone])[0]
                return element
            case OptionType.INTEGER:
                element = {"type": "number_input", "action_id": name, "is_decimal_allowed": False}
                if opt.min_value is not None:
                    element["min_value"] = str(opt.min_value)
                if opt.max_value is not None:
                    element["max_value"] = str(opt.max_value)
                return element
            case OptionType.BOOLEAN:
                return {
                    "type": "static_select",
                    "action_id": name,
                    "options": _options(["yes", "no"]),
                }
            case OptionType.LIST if opt.autocomplete is Autocomplete.LANGUAGES:
                return _external("multi_external_select", opt.autocomplete)
            case OptionType.LIST if opt.autocomplete is not None and opt.autocomplete in choices:
                listed = list(choices[opt.autocomplete])[:MAX_STATIC_OPTIONS]
                return {
                    "type": "multi_static_select",
                    "action_id": name,
                    "options": _options(listed),
                }
            case OptionType.CHANNEL:
                return {
                    "type": "conversations_select",
                    "action_id": name,
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                }
            case OptionType.USER:
                return {"type": "users_select", "action_id": name}
            case OptionType.ROLE:
                return {**_text_input(opt), "placeholder": plain("@handle of a user group")}
            case OptionType.LIST:
                return {**_text_input(opt), "placeholder": plain("comma-separated")}
        return _text_input(opt)

    @staticmethod
    def suggest_source(action_id: str) -> Autocomplete:
        return Autocomplete(action_id.removeprefix(SUGGEST_PREFIX))


def _options(values: Sequence[str]) -> list[Block]:
    return [{"text": plain(truncate(v, 75)), "value": v[:150]} for v in values]


def _text_input(opt: Option, *, multiline: bool = False) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": opt.name, "multiline": multiline}
    if opt.min_length:
        element["min_length"] = opt.min_length
    if opt.max_length:
        element["max_length"] = min(opt.max_length, 3000)
    return element


def _external(kind: str, source: Autocomplete) -> Block:
    return {"type": kind, "action_id": SUGGEST_PREFIX + source.value, "min_query_length": 1}


def submitted_values(state: Mapping[str, Any]) -> dict[str, object]:
    """A view's ``state.values`` as ``{block_id: value}``; empty inputs left out.

    Selects give their option values (a list for multi-selects), pickers their ids.
    """
    values: dict[str, object] = {}
    for block_id, actions in state.items():
        for element in actions.values():
            value = _element_value(element)
            if value not in (None, "", []):
                values[block_id] = value
    return values


def _element_value(element: Mapping[str, Any]) -> object:
    if "selected_options" in element:
        return [o["value"] for o in element.get("selected_options") or []]
    if "selected_option" in element:
        option = element.get("selected_option")
        return option["value"] if option else None
    for key in ("selected_conversation", "selected_channel", "selected_user"):
        if key in element:
            return element[key]
    return element.get("value")
