"""Issue 8 on Discord: `/admin setup` takes only this server's channels and roles, of the
right kind; a repeated interaction is dropped quietly; an incoming DM is relayed and marked
read in one core call, and a refused one writes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Community, MentorMessage
from core.service import Mentorbot
from tests.adapters.discord.community import (
    Mentor,
    bot_dms,
    dm_the_bot,
    member,
    press_in_dm,
    request_mentor,
    seed_mentors,
)
from tests.adapters.discord.conftest import (
    ADA,
    ALICE,
    APPLY_OPTIONS,
    BIO,
    BOB,
    OWNER,
    Bot,
    BotFactory,
    World,
    button_ids,
    embed_of,
    embed_text,
)
from tests.fakes.discord_fake import InteractionCallback
from tests.helpers import snapshot

JSON = dict[str, Any]


async def _settings(factory: async_sessionmaker[AsyncSession], world: World) -> tuple[Any, ...]:
    async with factory() as session:
        community = (
            await session.execute(select(Community).where(Community.platform_id == str(world.id)))
        ).scalar_one()
    return (
        community.is_set_up,
        community.admin_role_id,
        community.admin_channel_id,
        community.group_category_id,
    )


def _leaves(payload: JSON) -> list[JSON]:
    (subcommand,) = payload["data"]["options"]  # /admin setup: data.name is "admin"
    return list(subcommand["options"])


def with_foreign_role(bot: Bot, payload: JSON, guild_id: int, role_id: int) -> JSON:
    """A hand-made /admin setup payload whose ``admin_role`` names another server's role
    (Discord's own client offers only this server's roles)."""
    (leaf,) = [o for o in _leaves(payload) if o["name"] == "admin_role"]
    leaf["value"] = str(role_id)
    payload["data"]["resolved"]["roles"] = {
        str(role_id): dict(bot.fake.state.role(guild_id, role_id))
    }
    return payload


async def _refused(
    bot: Bot,
    factory: async_sessionmaker[AsyncSession],
    options: dict[str, Any],
    edit: Callable[[JSON], JSON] | None = None,
) -> str:
    """Run /admin setup as the owner; it must be refused privately, changing nothing."""
    before = await snapshot(factory)
    payload = bot.fake.slash_command(bot.world.id, OWNER, "admin setup", options)
    answer = await bot.fake.interact(edit(payload) if edit else payload)
    assert answer.ephemeral, answer
    assert embed_of(answer)["color"] == 0xED4245  # the error tone
    assert await snapshot(factory) == before
    return embed_text(answer)


# ----- 1. channels and roles from another server ------------------------------------------


async def test_a_channel_or_role_of_another_server_is_refused_naming_the_option(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    other = world.fake.add_guild("Elsewhere", owner_id=OWNER)
    their_channel = int(world.fake.add_text_channel(other.id, "their-admin")["id"])
    their_role = int(world.fake.add_role(other.id, "Their admins")["id"])
    async with discord_bot() as bot:
        text = await _refused(
            bot, factory, {"admin_role": world.admins_role, "admin_channel": their_channel}
        )
        assert "`admin_channel`: must be a channel of this community" in text
        text = await _refused(
            bot,
            factory,
            {"admin_role": world.admins_role, "admin_channel": world.admin_channel},
            lambda payload: with_foreign_role(bot, payload, other.id, their_role),
        )
        assert "`admin_role`: must be a role of this community" in text

        saved = await bot.set_up()  # this server's own channel and role are fine
        assert embed_of(saved)["title"] == "Mentorbot is set up"
        text = await _refused(bot, factory, {"announcement_channel": their_channel})
        assert "`announcement_channel`" in text
    assert await _settings(factory, world) == (
        True,
        str(world.admins_role),
        str(world.admin_channel),
        None,
    )


# ----- 2. channel types ---------------------------------------------------------------------


async def test_channel_options_offer_only_the_types_that_fit(
    discord_bot: BotFactory, world: World
) -> None:
    async with discord_bot():
        (admin,) = [c for c in world.fake.commands() if c["name"] == "admin"]
    (setup,) = [o for o in admin["options"] if o["name"] == "setup"]
    types = {o["name"]: o.get("channel_types") for o in setup["options"] if o["type"] == 7}
    assert types == {
        "admin_channel": [0, 5],  # text, announcement
        "announcement_channel": [0, 5],
        "group_category": [4],  # categories
    }


async def test_a_category_as_admin_channel_or_a_channel_as_category_is_refused(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    category = int(world.fake.add_category(world.id, "Support groups")["id"])
    voice = int(world.fake.state.add_channel(world.id, "Lounge", type=2)["id"])
    async with discord_bot() as bot:
        text = await _refused(
            bot, factory, {"admin_role": world.admins_role, "admin_channel": category}
        )
        assert "`admin_channel`: must be a channel that holds messages" in text
        assert "not a category" in text
        text = await _refused(
            bot, factory, {"admin_role": world.admins_role, "admin_channel": voice}
        )
        assert "`admin_channel`" in text
        await bot.set_up()
        text = await _refused(bot, factory, {"group_category": world.general})
        assert "`group_category`: must be a category" in text
        saved = await bot.command(OWNER, "admin setup", {"group_category": category})
        assert embed_of(saved)["title"] == "Settings saved", embed_text(saved)
    assert (await _settings(factory, world))[3] == str(category)


# ----- 6. a repeated interaction --------------------------------------------------------------


async def _twice(bot: Bot, payload: JSON, caplog: pytest.LogCaptureFixture) -> int:
    """Deliver ``payload`` as Discord would, then the very same INTERACTION_CREATE again;
    returns how many callbacks the bot attempted for it."""
    fake = bot.fake
    first = await fake.send_interaction(payload)
    await first.wait_response()
    await fake.gateway.dispatch("INTERACTION_CREATE", payload)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not any("repeated delivery" in r.getMessage() for r in caplog.records):
        assert loop.time() < deadline, "the repeated delivery was not seen"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # room for a (wrong) second answer to be attempted
    return len(fake.calls_to("POST", f"/interactions/{payload['id']}/{{token}}/callback"))


@pytest.mark.parametrize("kind", ["command", "autocomplete", "button", "modal submit"])
async def test_a_repeated_interaction_is_dropped_quietly(
    discord_bot: BotFactory, world: World, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="adapters.discord")
    fake = world.fake
    async with discord_bot() as bot:
        await bot.set_up()
        if kind == "command":  # answered with a form: a second answer is refused by Discord
            payload = fake.slash_command(world.id, ALICE, "mentor apply", APPLY_OPTIONS)
        elif kind == "autocomplete":
            payload = fake.autocomplete(
                world.id, ALICE, "mentor apply", {"timezone": "Europe/Ma"}, "timezone"
            )
        else:
            modal: InteractionCallback = await bot.command(ALICE, "mentor apply", APPLY_OPTIONS)
            assert modal.data is not None
            payload = fake.modal_submit(world.id, ALICE, modal.data["custom_id"], {"bio": BIO})
            if kind == "button":
                await fake.interact(payload)
                await bot.deliver()
                (card,) = bot.admin_messages()
                payload = fake.button_click(
                    world.id, ADA, button_ids(card)["Approve"], int(card["id"])
                )
        callbacks = await _twice(bot, payload, caplog)
    assert callbacks == 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# ----- 14. an incoming DM ------------------------------------------------------------------


async def _connected(bot: Bot, service: Mentorbot, world: World) -> JSON:
    """Alice mentors Bob; Alice's first message is relayed to Bob. Returns that DM."""
    await bot.set_up()
    await seed_mentors(service, world, [Mentor(ALICE, "alice")])
    await bot.command(BOB, "mentee profile", {"goals": "learn_giving", "timezone": "UTC"})
    request = await request_mentor(bot, BOB, ALICE)
    await press_in_dm(bot, ALICE, "Accept", request)
    await bot.deliver()
    sent = await dm_the_bot(bot, ALICE, "Hello Bob, how is the budget going?")
    assert "Sent to" in embed_text(sent)
    await bot.deliver()
    return bot_dms(bot, BOB)[-1]


async def _read(factory: async_sessionmaker[AsyncSession]) -> dict[str, bool]:
    async with factory() as session:
        stored = (await session.execute(select(MentorMessage))).scalars().all()
    return {m.content: m.read_at is not None for m in stored}


async def test_a_refused_reply_is_not_marked_read_and_writes_nothing(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with discord_bot() as bot:
        relayed = await _connected(bot, service, world)
        await service.execute(
            member(world, ALICE, "alice"), "mentorship pause", {"person": str(BOB)}
        )
        before = await snapshot(factory)
        refused = await dm_the_bot(bot, BOB, "Are you there?", reply_to=relayed)
        assert "is paused, so messages are not passed on" in embed_text(refused)
        assert await snapshot(factory) == before
    assert await _read(factory) == {"Hello Bob, how is the budget going?": False}


async def test_a_dm_from_someone_without_a_mentorship_writes_nothing(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        before = await snapshot(factory)
        answer = await dm_the_bot(bot, BOB, "Hello?")
        assert "/mentor browse" in embed_text(answer)
        assert await snapshot(factory) == before


async def test_a_relayed_reply_marks_the_answered_message_read(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with discord_bot() as bot:
        relayed = await _connected(bot, service, world)
        assert await _read(factory) == {"Hello Bob, how is the budget going?": False}
        answer = await dm_the_bot(bot, BOB, "Going well!", reply_to=relayed)
        assert "Sent to" in embed_text(answer)
    assert await _read(factory) == {
        "Hello Bob, how is the budget going?": True,
        "Going well!": False,
    }
