"""The catalog on Slack: /mentor parsing, help, reachability, the manifest."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.commands import SlashCommands, from_slack
from adapters.slack.manifest import build_manifest
from core.catalog import Command
from core.commands import CATALOG
from core.errors import UserError
from tests.adapters.slack.conftest import ANA, OWNER, Slack, texts
from tests.helpers import snapshot

COMMANDS = SlashCommands(CATALOG)


def test_subcommands_follow_the_catalog_groups() -> None:
    assert COMMANDS.parse("apply").command.path == "mentor apply"
    assert COMMANDS.parse("admin setup").command.path == "admin setup"
    assert COMMANDS.parse("Mentee Profile").command.path == "mentee profile"
    assert COMMANDS.parse("").command.path == "mentor help"
    assert COMMANDS.usage(CATALOG.find("admin audit")) == "/mentor admin audit [limit:…]"


def test_options_are_name_value_with_quotes_and_slack_escapes() -> None:
    parsed = COMMANDS.parse(
        "apply bio:“I fund loans &amp; love it” expertise:giving, loans availability:6 "
        "timezone:America/New_York"
    )
    assert parsed.options == {
        "bio": "I fund loans & love it",
        "expertise": "giving,loans",
        "availability": "6",
        "timezone": "America/New_York",
    }
    assert not parsed.opens_form
    assert COMMANDS.parse("apply").opens_form


def test_picked_users_channels_and_groups_become_ids() -> None:
    parsed = COMMANDS.parse(
        "admin setup admin_role:<!subteam^S0ADM|@mentor-admins> admin_channel:<#C0ADM|admins>"
    )
    assert parsed.options == {"admin_role": "S0ADM", "admin_channel": "C0ADM"}
    # In free text they stay mentions (the core's portable tokens); pings never survive.
    assert (
        from_slack("thanks <@U0ANA|ana> and <!channel> &lt;3") == "thanks <@U0ANA> and @channel <3"
    )
    assert (
        from_slack("see <https://example.org/loans|our guide>") == "see https://example.org/loans"
    )


def test_help_takes_a_command_in_slack_words() -> None:
    assert COMMANDS.parse("help admin setup").options == {"command": "admin setup"}
    assert COMMANDS.parse("help apply").options == {"command": "mentor apply"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("teleport", "Unknown command `/mentor teleport`"),
        ("admin teleport", "Unknown command `/mentor admin teleport`"),
        ('apply bio:"never closed', "The quote after `bio:` is never closed"),
        ("apply bio:x giving", "Expected `name:value` after the options started, got `giving`"),
        ("profile now", "takes `name:value` options, not `now`"),
    ],
)
def test_unreadable_lines_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(UserError) as error:
        COMMANDS.parse(text)
    assert problem in error.value.message


@pytest.mark.parametrize("command", list(CATALOG), ids=lambda c: c.path)
async def test_every_catalog_command_is_reachable_through_mentor(
    slack: Slack, command: Command
) -> None:
    bot = await slack()
    await bot.command(OWNER, COMMANDS.subcommand(command))
    if command.form_title:
        [opened] = await bot.fake.wait_for_calls("views.open")
        assert opened.ok, opened.response
        callback = opened.args["view"]["callback_id"]
        assert COMMANDS.form_command(callback) is command
        return
    answer = texts((await bot.reply())["blocks"])
    assert "Unknown command" not in answer
    assert "Sorry" not in answer


def test_every_catalog_command_is_listed_in_the_manifest() -> None:
    manifest = build_manifest(CATALOG, socket_mode=True, request_url=None)
    [slash] = manifest["features"]["slash_commands"]
    hint = set()
    for item in slash["usage_hint"].split(" | "):
        head, _, rest = item.partition(" ")
        hint |= {f"{head} {name}" for name in rest.split("/")} if rest else {head}
    for command in CATALOG:
        assert COMMANDS.subcommand(command) in hint
        assert (
            f"/mentor {COMMANDS.subcommand(command)}"
            in manifest["display_information"]["long_description"]
        )
    assert len(slash["usage_hint"]) <= 1000
    assert 175 <= len(manifest["display_information"]["long_description"]) <= 4000


def test_manifest_in_socket_mode_and_http_mode() -> None:
    socket = build_manifest(CATALOG, socket_mode=True, request_url=None, badge_usergroups=False)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in socket["settings"]["interactivity"]
    assert "usergroups:write" not in socket["oauth_config"]["scopes"]["bot"]
    assert socket["features"]["slash_commands"][0]["should_escape"] is True
    app_home = socket["features"]["app_home"]
    assert app_home["home_tab_enabled"] is True
    # Members write to their mentor or mentee in the app's Messages tab.
    assert (app_home["messages_tab_enabled"], app_home["messages_tab_read_only_enabled"]) == (
        True,
        False,
    )
    assert socket["settings"]["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "message.im",
        "message.groups",
        "reaction_added",
        "team_join",
        "user_change",
        "subteam_members_changed",
        "subteam_updated",
        "app_uninstalled",
        "tokens_revoked",
    ]
    assert {"im:history", "reactions:read"} <= set(socket["oauth_config"]["scopes"]["bot"])

    url = "https://mentorbot.example.org/slack/events"
    http = build_manifest(CATALOG, command="/mentoring", socket_mode=False, request_url=url)
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["features"]["slash_commands"][0]["command"] == "/mentoring"
    assert http["features"]["slash_commands"][0]["url"] == url
    assert http["settings"]["event_subscriptions"]["request_url"] == url
    assert http["settings"]["interactivity"]["message_menu_options_url"] == url
    assert {"commands", "chat:write", "users:read", "usergroups:write"} <= set(
        http["oauth_config"]["scopes"]["bot"]
    )
    json.dumps(http)  # ready to print
    with pytest.raises(ValueError, match="request URL"):
        build_manifest(CATALOG, socket_mode=False, request_url=None)


async def test_help_lists_commands_as_slack_users_type_them(slack: Slack) -> None:
    bot = await slack()
    await bot.command(ANA, "help")
    listing = texts((await bot.reply())["blocks"])
    assert "`/mentor apply` — Apply to become a mentor" in listing
    assert "`/mentor mentee profile` — Create or change your mentee profile" in listing
    assert "/mentor admin setup" not in listing  # admins only
    await bot.command(ANA, "help apply")
    assert "/mentor apply bio:&lt;text&gt;" in texts((await bot.reply())["blocks"])  # escaped


async def test_an_unknown_subcommand_is_answered_privately(slack: Slack) -> None:
    bot = await slack()
    await bot.command(ANA, "teleport")
    answer = await bot.reply()
    assert answer["response_type"] == "ephemeral"
    assert "Unknown command `/mentor teleport`" in texts(answer["blocks"])


async def test_a_channel_typed_as_text_is_refused_naming_the_option(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    before = await snapshot(factory)
    await bot.command(OWNER, "admin setup admin_role:@mentor-admins admin_channel:#admins")
    answer = texts((await bot.reply())["blocks"])
    assert "`admin_channel`: pick the channel from Slack's list" in answer
    assert await snapshot(factory) == before  # no settings saved, no audit entry


async def test_a_user_group_typed_as_a_handle_is_looked_up(slack: Slack) -> None:
    bot = await slack()
    await bot.command(OWNER, "admin setup admin_role:@mentor-admins admin_channel:<#C0ADMIN|x>")
    assert "<!subteam^S0ADMINS>" in texts((await bot.reply())["blocks"])
    await bot.command(OWNER, "admin setup admin_role:@nobody")
    assert "no user group is called @nobody" in texts((await bot.reply())["blocks"])


async def test_language_suggestions_come_from_the_core(slack: Slack) -> None:
    bot = await slack()
    await bot.set_up_community()
    view_id = await bot.open_form(ANA, "apply")
    answer = await bot.send(
        "block_suggestion", user_id=ANA, action_id="mbac:languages", value="span", view_id=view_id
    )
    assert {
        "text": {"type": "plain_text", "text": "Spanish (es)", "emoji": True},
        "value": "es",
    } in answer["options"]
