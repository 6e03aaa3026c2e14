"""The command catalog as Discord app commands, generated, never written out again.

Each catalog group (``mentor``, ``mentee``, ``admin``, …) becomes a server-only command
group; each command a subcommand whose options carry the catalog's types, descriptions,
choices, numeric ranges, length limits and autocomplete. discord.py reads a command's
options from its callback's signature, so the callback is one generic coroutine given a
generated ``__signature__`` (real annotation objects such as ``Range[int, 1, 10]``) plus
the same ``describe`` / ``choices`` / ``autocomplete`` data its decorators would set.

A command with a ``form_title`` (``/mentor apply``) collects its TEXT options (the bio)
in a modal instead of as slash options: Discord's slash options are single-line and
modals are how Discord users expect to write long text. Discord modals hold at most five
inputs, which the builder checks.

``/admin`` commands do *not* get ``default_member_permissions``: that would hide them
from members of the community's Mentorbot admin role (chosen with ``/admin setup``)
unless a server admin also edited the integration's permissions; the core checks every
admin command anyway.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import discord
from discord import app_commands

from adapters.discord.render import MODAL_INPUTS_MAX, Input, clip
from core.catalog import Autocomplete, Catalog, Command, Option, OptionType
from core.context import ChannelKind, Picked

GROUP_DESCRIPTION_MAX = 100
# What Discord offers for each kind of channel option, and what each Discord channel type
# is to the core (threads, voice, stage, forum, media, directory: neither kind).
CHANNEL_TYPES = {
    ChannelKind.POSTS: (discord.ChannelType.text, discord.ChannelType.news),
    ChannelKind.CATEGORY: (discord.ChannelType.category,),
}
KIND_OF_TYPE = {t: kind for kind, types in CHANNEL_TYPES.items() for t in types}


class CommandRunner(Protocol):
    """What the generated callbacks call (the interaction router implements it)."""

    async def run_command(
        self, interaction: discord.Interaction, command: Command, options: dict[str, object]
    ) -> None: ...

    async def suggest(
        self, interaction: discord.Interaction, source: Autocomplete, current: str
    ) -> list[app_commands.Choice[str]]: ...


def modal_options(command: Command) -> tuple[Option, ...]:
    """The options a form command collects in a modal rather than as slash options."""
    if command.form_title is None:
        return ()
    return tuple(o for o in command.options if o.type is OptionType.TEXT)


def slash_options(command: Command) -> tuple[Option, ...]:
    in_modal = set(modal_options(command))
    return tuple(o for o in command.options if o not in in_modal)


def modal_inputs(command: Command) -> list[Input]:
    return [
        Input(
            name=o.name,
            label=o.name.replace("_", " ").capitalize(),
            long=True,
            required=o.required,
            min_length=o.min_length,
            max_length=o.max_length,
            placeholder=o.description,
        )
        for o in modal_options(command)
    ]


def annotation(option: Option) -> Any:
    """The discord.py annotation that makes the option's Discord type and limits."""
    match option.type:
        case OptionType.STRING | OptionType.TEXT | OptionType.LIST:
            # LIST options are typed comma-separated; the core splits them.
            if option.choices or (option.min_length is None and option.max_length is None):
                return str
            return app_commands.Range[str, option.min_length, option.max_length]
        case OptionType.INTEGER:
            if option.min_value is None and option.max_value is None:
                return int
            return app_commands.Range[int, option.min_value, option.max_value]
        case OptionType.BOOLEAN:
            return bool
        case OptionType.CHANNEL:
            return ChannelOption(option.channel_kind)
        case OptionType.ROLE:
            return discord.Role
        case OptionType.USER:
            return discord.User
    raise AssertionError(f"unhandled option type {option.type}")


class ChannelOption(app_commands.Transformer):
    """A channel option offering only the channel types of its kind, passed on raw (the
    resolved ``AppCommandChannel``, by id, whatever its type): a hand-made payload can
    carry any channel, so what it is gets checked from the server's own channel list
    (:func:`picked`) and refused by the core, with a message naming the option."""

    def __init__(self, kind: ChannelKind) -> None:
        super().__init__()
        self._types = list(CHANNEL_TYPES[kind])

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return self._types

    async def transform(self, interaction: discord.Interaction, value: Any, /) -> Any:
        return value


Callback = Callable[..., Coroutine[Any, Any, None]]
Completer = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[Any]]]


def _completer(runner: CommandRunner, source: Autocomplete) -> Completer:
    async def complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await runner.suggest(interaction, source, current)

    return complete


def _callback(command: Command, runner: CommandRunner) -> Callback:
    async def callback(interaction: discord.Interaction, **options: object) -> None:
        await runner.run_command(interaction, command, options)

    options = slash_options(command)
    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "interaction",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=discord.Interaction,
            ),
            *(
                inspect.Parameter(
                    o.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=annotation(o),
                    default=inspect.Parameter.empty if o.required else None,
                )
                for o in options
            ),
        ]
    )
    if options:
        app_commands.describe(**{o.name: o.description for o in options})(callback)
    choices = {
        o.name: [app_commands.Choice(name=c, value=c) for c in o.choices]
        for o in options
        if o.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    completers = {
        o.name: _completer(runner, o.autocomplete)
        for o in options
        if o.autocomplete is not None and not o.choices
    }
    if completers:
        app_commands.autocomplete(**completers)(callback)
    return callback


def app_command(
    command: Command, runner: CommandRunner, *, name: str | None = None
) -> app_commands.Command[Any, ..., None]:
    if len(modal_options(command)) > MODAL_INPUTS_MAX:
        raise ValueError(
            f"/{command.path}: a Discord modal holds at most {MODAL_INPUTS_MAX} inputs"
        )
    return app_commands.Command(
        name=name or command.name,
        description=command.description,
        callback=_callback(command, runner),
    )


def group_description(group: str, commands: list[Command]) -> str:
    return clip(
        f"{group.capitalize()}: " + ", ".join(c.name for c in commands), GROUP_DESCRIPTION_MAX
    )


def catalog_groups(catalog: Catalog, runner: CommandRunner) -> list[app_commands.Group]:
    """One guild-only app-command group per catalog group, with every command in it."""
    groups = []
    for name in catalog.groups:
        commands = catalog.in_group(name)
        group = app_commands.Group(
            name=name,
            description=group_description(name, commands),
            # Used in servers only (a community is a server), by a bot installed to servers.
            allowed_contexts=app_commands.AppCommandContext(guild=True),
            allowed_installs=app_commands.AppInstallationType(guild=True),
        )
        subgroups: dict[str, app_commands.Group] = {}
        for command in commands:
            sub, _, leaf = command.name.rpartition(" ")
            if not sub:
                group.add_command(app_command(command, runner))
                continue
            # "badges sync" → the subcommand group "badges" with its command "sync".
            if sub not in subgroups:
                subgroups[sub] = app_commands.Group(
                    name=sub, description=clip(f"{name.capitalize()} {sub}", 100), parent=group
                )
            subgroups[sub].add_command(app_command(command, runner, name=leaf))
        groups.append(group)
    return groups


async def option_value(interaction: discord.Interaction, value: object) -> object:
    """A slash-option value as the core takes it: ids for users; channels and roles as
    ``Picked``, with their server and kind (see :func:`picked`)."""
    if isinstance(value, str | int | bool):
        return value
    if isinstance(
        value, discord.Role | app_commands.AppCommandChannel | app_commands.AppCommandThread
    ):
        return await picked(interaction, value)
    return str(value.id)  # type: ignore[attr-defined]  # User, Member


async def picked(
    interaction: discord.Interaction,
    value: discord.Role | app_commands.AppCommandChannel | app_commands.AppCommandThread,
) -> Picked:
    """What the server says a picked channel or role is.

    discord.py gives resolved channels and roles the interaction's server whatever the
    payload said, so they are looked up in the server's own lists (the gateway keeps them
    current: the bot has the guilds intent); a channel that is not there is looked up in
    the bot's other servers, then asked of Discord, which names its real server or refuses
    to show it (another server's).
    """
    guild = interaction.guild
    if isinstance(value, discord.Role):
        known = guild is not None and guild.get_role(value.id) is not None
        return Picked(str(value.id), str(guild.id) if known and guild else None)
    channel: object = guild.get_channel_or_thread(value.id) if guild is not None else None
    if channel is None:
        channel = interaction.client.get_channel(value.id)  # another server the bot is in
    if channel is None:
        try:
            channel = await interaction.client.fetch_channel(value.id)
        except (discord.NotFound, discord.Forbidden):
            return Picked(str(value.id), None, ChannelKind.OTHER)
    owner = getattr(channel, "guild", None)
    kind = KIND_OF_TYPE.get(getattr(channel, "type", None), ChannelKind.OTHER)  # type: ignore[arg-type]
    return Picked(str(value.id), str(owner.id) if owner is not None else None, kind)
