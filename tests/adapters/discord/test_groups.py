"""Support groups on Discord (F8): the real discord.py client against the fake server.

A group's space is a hidden text channel with overwrites for its facilitator, members
and the bot; joining and leaving change those overwrites; meetings are Guild Scheduled
Events, cancelled with the group; archiving moves the channel to an archive category,
read-only; a post opens a thread, and (with the opt-in Message Content intent) replies in
it are stored while chatter is not.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.discord.spaces import GUILD_CHANNEL_CAP
from core.clock import FakeClock
from core.models import SupportGroupPost, SupportGroupReply
from core.ports import Attempt, PermanentFailure, Target
from tests.adapters.discord.community import bot_dms, press_in_dm, title
from tests.adapters.discord.conftest import (
    ADA,
    ALICE,
    BOB,
    OWNER,
    Bot,
    BotFactory,
    World,
    button_ids,
    embed_text,
)
from tests.fakes.discord_fake_types import ChannelType, Perm

JSON = dict[str, Any]
CREATE: dict[str, Any] = {
    "name": "New Givers",
    "type": "new_givers",
    "facilitator": ALICE,
    "frequency": "weekly",
    "day": "wednesday",
    "time": "19:00",
    "timezone": "Europe/London",
    "max_members": 2,
}


def _space(bot: Bot) -> JSON:
    (channel,) = [
        c
        for c in bot.fake.state.guild_channels(bot.world.id)
        if c["name"].endswith("new-givers") and c["type"] == ChannelType.GUILD_TEXT
    ]
    return channel


def _sees(bot: Bot, user: int) -> bool:
    return bool(
        bot.fake.state.channel_permissions(int(_space(bot)["id"]), user) & Perm.VIEW_CHANNEL
    )


async def _create(bot: Bot) -> None:
    await bot.set_up()
    await bot.command(ALICE, "mentor help")  # the facilitator has used Mentorbot
    modal = await bot.command(OWNER, "group create", CREATE)
    assert modal.type == 9, modal  # the description is asked in a modal
    assert modal.data is not None
    done = await bot.submit(OWNER, modal.data["custom_id"], {"description": "For new givers"})
    assert "created" in embed_text(done), embed_text(done)
    await bot.deliver()


async def test_a_group_lives_from_creation_to_archive_on_discord(
    discord_bot: BotFactory, world: World, clock: FakeClock
) -> None:
    clock.set(datetime.now(UTC))  # Discord refuses events in the past
    async with discord_bot() as bot:
        await _create(bot)
        channel = _space(bot)
        assert _sees(bot, ALICE)
        assert not _sees(bot, BOB)
        everyone = bot.fake.state.channel_permissions(int(channel["id"]), OWNER)
        assert everyone & Perm.VIEW_CHANNEL  # the owner sees everything; members do not
        events = bot.fake.state.guild(world.id).scheduled_events
        assert len(events) == 4
        assert {e["entity_type"] for e in events.values()} == {3}  # external, linking the channel

        joined = await bot.command(BOB, "group join", {"group": "New Givers"})
        assert "You joined" in embed_text(joined)
        await bot.deliver()
        assert _sees(bot, BOB)

        pending = await bot.fake.send_interaction(
            bot.fake.slash_command(world.id, ADA, "group join", {"group": "New Givers"})
        )
        full = await pending.wait_response()
        assert "is full" in embed_text(full)
        assert pending.original_message_id is not None
        shown = bot.fake.state.any_message(pending.original_message_id)
        waited = await bot.click(ADA, button_ids(shown)["Join the waitlist"], shown)
        assert "place 1" in embed_text(waited), embed_text(waited)

        await bot.command(BOB, "group leave", {"group": "New Givers"})
        await bot.deliver()
        assert not _sees(bot, BOB)
        (offer,) = [m for m in bot_dms(bot, ADA) if title(m).startswith("A place is free")]
        await press_in_dm(bot, ADA, "Take the place", offer)
        await bot.deliver()
        assert _sees(bot, ADA)

        archived = await bot.command(ALICE, "group archive", {"group": "New Givers"})
        assert "archived" in embed_text(archived)
        await bot.deliver()
        channel = _space(bot)
        assert channel["name"] == "archived-new-givers"
        parent = bot.fake.state.channel(int(channel["parent_id"]))
        assert parent["name"] == "Mentorbot archive"
        ada = bot.fake.state.channel_permissions(int(channel["id"]), ADA)
        assert ada & Perm.VIEW_CHANNEL
        assert not ada & Perm.SEND_MESSAGES
        assert {e["status"] for e in events.values()} == {3}  # all cancelled


async def test_moving_a_meeting_moves_its_guild_scheduled_event(
    discord_bot: BotFactory, world: World, clock: FakeClock
) -> None:
    clock.set(datetime.now(UTC))
    async with discord_bot() as bot:
        await _create(bot)
        events = bot.fake.state.guild(world.id).scheduled_events
        first = min(events.values(), key=lambda e: e["scheduled_start_time"])
        start = datetime.fromisoformat(first["scheduled_start_time"])
        local = start.astimezone(ZoneInfo("Europe/London"))
        new_day = (local + timedelta(days=1)).date()
        moved = await bot.command(
            ALICE,
            "group move-meeting",
            {
                "group": "New Givers",
                "date": local.date().isoformat(),
                "to_date": new_day.isoformat(),
                "to_time": "18:00",
            },
        )
        assert "Moved" in embed_text(moved), embed_text(moved)
        await bot.deliver()
        after = datetime.fromisoformat(events[int(first["id"])]["scheduled_start_time"])
        assert after.astimezone(local.tzinfo).date() == new_day
        assert after.astimezone(local.tzinfo).hour == 18


async def test_replies_in_a_post_thread_are_stored_with_the_intent_and_chatter_is_not(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot(capture_group_replies=True) as bot:
        await _create(bot)
        await bot.command(BOB, "group join", {"group": "New Givers"})
        modal = await bot.command(ALICE, "group post", {"group": "New Givers", "pin": True})
        assert modal.data is not None
        await bot.submit(ALICE, modal.data["custom_id"], {"text": "How was your week?"})
        await bot.deliver()
        async with factory() as session:
            post = (await session.execute(select(SupportGroupPost))).scalar_one()
        assert post.platform_thread_id is not None
        thread = bot.fake.state.channel(int(post.platform_thread_id))
        assert thread["parent_id"] == _space(bot)["id"]
        # Chatter first, then a reply: events arrive in order, so once the reply is stored
        # the chatter has been seen (and dropped).
        await bot.fake.user_sends_message(BOB, "just chatting", channel_id=int(_space(bot)["id"]))
        await bot.fake.user_sends_message(
            BOB, "Good, thanks!", channel_id=int(post.platform_thread_id)
        )
        replies: list[str] = []
        for _ in range(100):
            async with factory() as session:
                replies = list((await session.execute(select(SupportGroupReply.content))).scalars())
            if replies:
                break
            await asyncio.sleep(0.02)
        assert replies == ["Good, thanks!"]


async def test_a_server_at_discords_channel_cap_gets_a_clear_refusal(
    discord_bot: BotFactory, world: World
) -> None:
    for n in range(GUILD_CHANNEL_CAP - len(world.fake.state.guild_channels(world.id)) - 1):
        world.fake.add_text_channel(world.id, f"busy-{n}")
    async with discord_bot() as bot:
        target = Target("community", "discord", str(world.id))
        with pytest.raises(PermanentFailure, match="of Discord's 500 channels"):
            await bot.adapter.port.create_private_space(
                target, "One too many", "", (str(ALICE),), Attempt("cap")
            )


async def test_admins_are_told_once_when_a_group_channel_leaves_few_places(
    discord_bot: BotFactory, world: World
) -> None:
    # After the group's channel (and its category), under 25 places are left.
    for n in range(GUILD_CHANNEL_CAP - len(world.fake.state.guild_channels(world.id)) - 21):
        world.fake.add_text_channel(world.id, f"busy-{n}")
    async with discord_bot() as bot:
        await _create(bot)
        await bot.deliver()
        warnings = [m for m in bot.admin_messages() if "Running out of channels" in embed_text(m)]
        assert len(warnings) == 1
        left = GUILD_CHANNEL_CAP - len(bot.fake.state.guild_channels(world.id))
        assert left < 25
        assert f"only {left} more channels" in embed_text(warnings[0])


async def test_a_server_with_room_gets_no_channel_warning(
    discord_bot: BotFactory, world: World
) -> None:
    async with discord_bot() as bot:
        await _create(bot)
        await bot.deliver()
        assert not [m for m in bot.admin_messages() if "Running out" in embed_text(m)]
