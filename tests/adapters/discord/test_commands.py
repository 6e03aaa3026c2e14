"""Every catalog command reaches Discord with its options, and autocomplete answers."""

from __future__ import annotations

from typing import Any

from core.catalog import Option, OptionType
from core.commands import CATALOG
from tests.adapters.discord.conftest import ALICE, BotFactory, World

# Discord's application-command option types.
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
DISCORD_TYPES = {
    OptionType.STRING: 3,
    OptionType.TEXT: 3,
    OptionType.LIST: 3,
    OptionType.INTEGER: 4,
    OptionType.BOOLEAN: 5,
    OptionType.USER: 6,
    OptionType.CHANNEL: 7,
    OptionType.ROLE: 8,
}
LIMITS = ("min_value", "max_value", "min_length", "max_length")


def _expected(option: Option) -> dict[str, Any]:
    return {
        "type": DISCORD_TYPES[option.type],
        "description": option.description,
        "required": option.required,
        "choices": list(option.choices),
        "autocomplete": option.autocomplete is not None,
        **{limit: getattr(option, limit) for limit in LIMITS},
    }


def _sample(option: Option, world: World) -> object:
    """A value Discord would accept for a required slash option (the core may refuse it)."""
    match option.type:
        case OptionType.INTEGER:
            return option.min_value if option.min_value is not None else 1
        case OptionType.BOOLEAN:
            return True
        case OptionType.USER:
            return ALICE
        case OptionType.CHANNEL:
            return world.general
        case OptionType.ROLE:
            return world.admins_role
    return option.choices[0] if option.choices else "x" * (option.min_length or 1)


def _registered(option: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": option["type"],
        "description": option["description"],
        "required": option.get("required", False),
        "choices": [c["value"] for c in option.get("choices") or []],
        "autocomplete": option.get("autocomplete", False),
        **{limit: option.get(limit) for limit in LIMITS},
    }


async def test_every_catalog_command_and_option_is_registered_on_discord(
    discord_bot: BotFactory, world: World
) -> None:
    async with discord_bot() as bot:
        await bot.set_up()  # form commands below need a set-up community to get this far
        registered = {c["name"]: c for c in world.fake.commands()}
        assert set(registered) == set(CATALOG.groups)
        for command in CATALOG:
            group = registered[command.group]
            assert (group["contexts"], group["integration_types"]) == ([0], [0])  # servers only
            subcommands = {o["name"]: o for o in group["options"]}
            # "badges sync" is the command "sync" of the subcommand group "badges".
            top = {c.name.split(" ")[0] for c in CATALOG.in_group(command.group)}
            assert set(subcommands) == top
            *parent, leaf = command.name.split(" ")
            if parent:
                assert subcommands[parent[0]]["type"] == SUB_COMMAND_GROUP
                subcommands = {o["name"]: o for o in subcommands[parent[0]]["options"]}
            sub = subcommands[leaf]
            assert sub["type"] == SUB_COMMAND
            assert sub["description"] == command.description
            options = {o["name"]: _registered(o) for o in sub.get("options") or []}

            in_modal: set[str] = set()
            if command.form_title is not None:
                required = {
                    o.name: _sample(o, world)
                    for o in command.options
                    if o.required and o.type is not OptionType.TEXT
                }
                form = await bot.command(ALICE, command.path, required)
                assert form.type == 9, command.path
                assert form.data is not None
                assert form.data["title"] == command.form_title
                inputs = [row["components"][0] for row in form.data["components"]]
                in_modal = {i["custom_id"] for i in inputs}
                for field in inputs:
                    option = command.option(field["custom_id"])
                    assert option.type is OptionType.TEXT
                    assert field.get("required", True) == option.required
                    assert field.get("min_length") == option.min_length
                    assert field.get("max_length") == option.max_length

            # Every catalog option is a slash option or a modal input, never both or neither.
            assert set(options) | in_modal == {o.name for o in command.options}, command.path
            assert not set(options) & in_modal
            for option in command.options:
                if option.name in options:
                    assert options[option.name] == _expected(option), (command.path, option.name)


async def test_required_options_come_first_as_discord_demands(
    discord_bot: BotFactory, world: World
) -> None:
    async with discord_bot():
        for group in world.fake.commands():
            for sub in group["options"]:
                flags = [o.get("required", False) for o in sub.get("options") or []]
                assert flags == sorted(flags, reverse=True), sub["name"]


async def test_autocomplete_suggests_timezones_languages_and_the_communitys_expertise(
    discord_bot: BotFactory,
) -> None:
    async with discord_bot() as bot:

        async def suggest(option: str, typed: str) -> list[dict[str, str]]:
            return await bot.autocomplete(ALICE, "mentor apply", option, typed)

        await bot.set_up()
        assert {"name": "Europe/Madrid", "value": "Europe/Madrid"} in await suggest(
            "timezone", "europe/mad"
        )
        languages = await suggest("languages", "en,spa")
        assert {c["value"] for c in languages} == {"en,es"}
        assert await suggest("expertise", "giving,lo") == [
            {"name": "loans", "value": "giving,loans"}
        ]
