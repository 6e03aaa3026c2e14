"""DiscordPort against the fake: roles, private group channels, scheduled events, posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.messages import Button, File, Message
from core.ports import Attempt, PermanentFailure, RetryLater, Target
from tests.adapters.discord.conftest import ALICE, BOB, BotFactory, World, button_ids
from tests.fakes.discord_fake import ChannelType, Perm


def _target(world: World, category: int | None = None) -> Target:
    return Target("c1", "discord", str(world.id), str(category) if category else None)


async def test_ensure_role_reuses_a_known_role_finds_one_by_name_or_creates_it(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    existing = fake.add_role(world.id, "Dedicated Mentor")
    async with discord_bot() as bot:
        port = bot.adapter.port
        assert await port.ensure_role(_target(world), "Dedicated Mentor", None) == existing["id"]
        assert await port.ensure_role(_target(world), "Anything", existing["id"]) == existing["id"]
        created = await port.ensure_role(_target(world), "Mentor", "999")  # 999: deleted role
        assert fake.state.role(world.id, int(created))["name"] == "Mentor"
    assert len(fake.calls_to("POST", "/guilds/{g}/roles")) == 1


async def test_ensure_role_respects_the_250_role_cap(discord_bot: BotFactory, world: World) -> None:
    fake = world.fake
    while len(fake.state.guild(world.id).roles) < 250:
        fake.add_role(world.id, "filler")
    async with discord_bot() as bot:
        with pytest.raises(PermanentFailure, match="250 roles"):
            await bot.adapter.port.ensure_role(_target(world), "Mentor", None)
    assert not fake.calls_to("POST", "/guilds/{g}/roles")


async def test_revoking_from_a_member_who_left_is_done_and_a_deleted_role_is_retried(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    role = fake.add_role(world.id, "Mentor")["id"]
    async with discord_bot() as bot:
        port = bot.adapter.port
        await port.revoke_role(_target(world), "4040", role)  # not a member: nothing to do
        with pytest.raises(RetryLater, match="deleted"):
            await port.grant_role(_target(world), str(ALICE), "4041")
        fake.fail_next("PUT", "/guilds/{g}/members/{u}/roles/{r}", status=403)
        with pytest.raises(PermanentFailure) as refused:
            await port.grant_role(_target(world), str(ALICE), role)
    assert (
        refused.value.missing_permission == "Manage Roles with its own role placed above “Mentor”"
    )


async def test_a_private_space_is_a_hidden_channel_in_the_group_category(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    category = int(fake.add_category(world.id, "Support groups")["id"])
    async with discord_bot() as bot:
        port = bot.adapter.port
        space = await port.create_private_space(
            _target(world, category),
            "New Givers #1",
            "Weekly, Wednesdays",
            (str(ALICE),),
            Attempt("test-2"),
        )
        channel = fake.state.channel(int(space))
        assert (channel["name"], channel["parent_id"]) == ("new-givers-1", str(category))
        assert fake.state.channel_permissions(int(space), ALICE) & Perm.VIEW_CHANNEL
        assert fake.state.channel_permissions(int(space), BOB) == 0

        await port.set_space_member(_target(world), space, str(BOB), add=True)
        assert fake.state.channel_permissions(int(space), BOB) & Perm.SEND_MESSAGES
        await port.set_space_member(_target(world), space, str(ALICE), add=False)
        await port.set_space_member(_target(world), space, str(ALICE), add=False)  # again: fine
        assert fake.state.channel_permissions(int(space), ALICE) == 0

        await port.archive_space(_target(world), space)
        archived = fake.state.channel(int(space))
        assert archived["name"] == "archived-new-givers-1"
        bob = fake.state.channel_permissions(int(space), BOB)
        assert bob & Perm.VIEW_CHANNEL
        assert not bob & Perm.SEND_MESSAGES


async def test_a_full_category_overflows_into_a_new_one(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    category = int(fake.add_category(world.id, "Support groups")["id"])
    for n in range(50):
        fake.add_text_channel(world.id, f"group-{n}", parent_id=category)
    async with discord_bot() as bot:
        port = bot.adapter.port
        first = await port.create_private_space(
            _target(world, category), "Overflow", "", (), Attempt("test-3")
        )
        second = await port.create_private_space(
            _target(world, category), "Overflow 2", "", (), Attempt("test-4")
        )
    overflow = int(fake.state.channel(int(first))["parent_id"])
    assert fake.state.channel(overflow)["name"] == "Support groups 2"
    assert fake.state.channel(overflow)["type"] == ChannelType.GUILD_CATEGORY
    assert fake.state.channel(int(second))["parent_id"] == str(overflow)
    assert len(fake.calls_to("POST", "/guilds/{g}/channels", ok=True)) == 3


async def test_a_group_meeting_becomes_a_scheduled_event_linking_the_channel(
    discord_bot: BotFactory, world: World
) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    async with discord_bot() as bot:
        event_id = await bot.adapter.port.create_scheduled_event(
            _target(world),
            str(world.general),
            "Loan funders",
            "Monthly",
            start,
            start + timedelta(hours=1),
        )
    event = world.fake.state.guild(world.id).scheduled_events[int(event_id)]
    assert event["name"] == "Loan funders"
    assert event["entity_metadata"]["location"].endswith(f"/{world.id}/{world.general}")


async def test_posts_carry_buttons_files_and_pins(discord_bot: BotFactory, world: World) -> None:
    message = Message(
        text="Facilitator prompt",
        buttons=(Button("Join", "mb:join:abc", "primary"),),
        files=(File("agenda.txt", b"1. hello"),),
    )
    async with discord_bot() as bot:
        sent = await bot.adapter.port.post(
            _target(world), str(world.general), message, True, Attempt("test-5")
        )
        dm = await bot.adapter.port.send_dm(
            _target(world), str(ALICE), message, None, Attempt("test-6")
        )
    posted = world.fake.state.messages[int(sent["message_id"])]
    assert posted["pinned"]
    assert button_ids(posted) == {"Join": "mb:join:abc"}
    assert world.fake.attachment_data[int(posted["attachments"][0]["id"])] == b"1. hello"
    (in_dm,) = world.fake.dm_messages(ALICE)
    assert in_dm["id"] == dm["message_id"]
    # In a DM the button also names the server, which a press there cannot tell otherwise.
    assert button_ids(in_dm) == {"Join": f"mb:join:abc@{world.id}"}


async def test_posting_where_the_bot_cannot_names_the_permissions(
    discord_bot: BotFactory, world: World
) -> None:
    hidden = world.fake.add_text_channel(
        world.id,
        "staff",
        overwrites=[{"id": world.guild.bot_role_id, "type": 0, "deny": str(Perm.VIEW_CHANNEL)}],
    )
    world.fake.set_bot_permissions(world.id, Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    async with discord_bot() as bot:
        with pytest.raises(PermanentFailure) as refused:
            await bot.adapter.port.post(
                _target(world), hidden["id"], Message(text="hi"), False, Attempt("test-7")
            )
    assert refused.value.missing_permission == (
        f"View Channel, Send Messages, Embed Links and Attach Files in <#{hidden['id']}>"
    )
