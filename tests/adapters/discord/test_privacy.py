"""Privacy (F15) on Discord: the export as an ephemeral attachment, deletion confirmed with
a button, and a member leaving the server (GUILD_MEMBER_REMOVE, with the opt-in Server
Members intent) starting the same deletion, cancelled when they come back in time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.clock import FakeClock
from core.models import Member, Mentor, MentorMessage
from core.service import Mentorbot
from core.usecases.privacy.forget import FORMER_NAME, TOMBSTONE
from tests.adapters.discord.community import (
    Mentor as MentorSpec,
)
from tests.adapters.discord.community import (
    bot_dms,
    member,
    mentorships,
    seed_mentors,
    title,
)
from tests.adapters.discord.conftest import ALICE, BotFactory, World, button_ids, embed_text
from tests.privacy_checks import assert_export_holds, rows_naming, rows_pointing_at

QUILL, QUILL_NAME = 7771234567, "quillon"


async def connected(service: Mentorbot, world: World) -> None:
    """alice mentors quillon; they have written to each other."""
    await seed_mentors(service, world, [MentorSpec(ALICE, "alice")])
    quill = member(world, QUILL, QUILL_NAME)
    await service.execute(
        quill,
        "mentee profile",
        {"goals": "learn_giving", "timezone": "Europe/London", "languages": "en"},
    )
    await service.execute(quill, "mentor request", {"mentor": str(ALICE)})
    (ms,) = await mentorships(service.factory)
    await service.press(member(world, ALICE, "alice"), action_id("accept", ms.id, "1"))
    await service.execute(quill, "mentorship message", {"person": str(ALICE), "text": "Hi!"})
    await service.execute(
        member(world, ALICE, "alice"),
        "mentorship message",
        {"person": str(QUILL), "text": "Welcome aboard."},
    )


async def quill_row(factory: async_sessionmaker[AsyncSession]) -> Member | None:
    async with factory() as session:
        return await session.scalar(select(Member).where(Member.platform_user_id == str(QUILL)))


async def until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Poll a database condition the gateway event leads to; fails after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"not true within {within}s: {check.__name__}")
        await asyncio.sleep(0.01)


async def test_export_arrives_as_an_ephemeral_json_attachment(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    world.fake.add_member(world.id, QUILL, QUILL_NAME)
    async with discord_bot() as bot:
        await bot.set_up()
        await connected(service, world)
        exported = await bot.command(QUILL, "privacy export")
    assert exported.ephemeral
    assert "Only you received this file" in embed_text(exported)
    (upload,) = exported.files
    assert upload.filename.endswith(".json")
    document = json.loads(upload.data)
    quill = await quill_row(factory)
    assert quill is not None
    assert_export_holds(document, await rows_pointing_at(factory, quill.id))
    assert {m["content"] for m in document["tables"]["mentor_messages"]} == {
        "Hi!",
        "Welcome aboard.",
    }


async def test_delete_is_confirmed_with_a_button_and_cancelled_with_another(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    world.fake.add_member(world.id, QUILL, QUILL_NAME)
    async with discord_bot() as bot:
        await bot.set_up()
        await connected(service, world)
        asked = await bot.command(QUILL, "privacy delete")
        assert asked.ephemeral
        assert asked.data is not None
        confirm = button_ids(asked.data)["Delete my data"]
        message = {"id": "1", "channel_id": str(world.general)}
        done = await bot.click(QUILL, confirm, message)
        assert "Your data will be deleted" in embed_text(done)
        assert done.data is not None
        quill = await quill_row(factory)
        assert quill is not None
        assert quill.deletion_reason == "request"
        keep = button_ids(done.data)["Keep my data"]
        kept = await bot.click(QUILL, keep, message)
        assert "Cancelled: your data stays" in embed_text(kept)
        # alice pressing quillon's card is refused, and changes nothing.
        forged = await bot.click(ALICE, confirm, message)
        assert "only the member it was made for" in embed_text(forged)
    quill = await quill_row(factory)
    assert quill is not None
    assert quill.deletion_reason is None


async def test_leaving_the_server_starts_the_deletion_and_coming_back_cancels_it(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    world.fake.add_member(world.id, QUILL, QUILL_NAME)
    async with discord_bot(member_events=True) as bot:
        await bot.set_up()
        await connected(service, world)
        await bot.deliver()

        async def left() -> bool:
            row = await quill_row(factory)
            return row is not None and row.deletion_reason == "left"

        async def back() -> bool:
            row = await quill_row(factory)
            return row is not None and row.deletion_reason is None and row.left_at is None

        await world.fake.remove_member(world.id, QUILL)
        await until(left)
        await world.fake.member_join(world.id, QUILL, QUILL_NAME)
        await until(back)

        await world.fake.remove_member(world.id, QUILL)
        await until(left)
        clock.advance(days=7, hours=1)
        await service.housekeeping()
        await bot.deliver()
        await service.housekeeping()  # the sent role revokes' rows go too
        ended = [m for m in bot_dms(bot, ALICE) if title(m) == "Mentorship ended"]
        assert len(ended) == 1
    assert await rows_naming(factory, str(QUILL), QUILL_NAME) == []
    async with factory() as session:
        gone = await session.scalar(select(Member).where(Member.display_name == FORMER_NAME))
        assert gone is not None
        contents = (
            await session.execute(select(MentorMessage.content).order_by(MentorMessage.created_at))
        ).scalars()
        assert sorted(contents) == sorted([TOMBSTONE, "Welcome aboard."])  # same instant
        alice = await session.scalar(select(Mentor))
        assert alice is not None
        assert alice.current_mentees == 0


async def test_without_the_members_intent_leaving_changes_nothing(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    world.fake.add_member(world.id, QUILL, QUILL_NAME)
    async with discord_bot() as bot:
        await bot.set_up()
        await connected(service, world)
        await world.fake.remove_member(world.id, QUILL)
        await asyncio.sleep(0.2)
    quill = await quill_row(factory)
    assert quill is not None
    assert (quill.left_at, quill.deletion_reason) == (None, None)


def test_the_gateway_asks_for_the_members_intent_only_when_configured() -> None:
    from adapters.discord.bot import intents

    assert not intents().members
    assert intents(member_events=True).members


def test_a_file_over_discords_limit_is_sent_in_parts_that_fit() -> None:
    import gzip
    import os

    from adapters.discord import render
    from core.messages import File, Message

    data = os.urandom(render.MAX_FILE_BYTES + 1000)  # incompressible: parts are needed
    rendered = render.render(Message(text="Your data", files=(File("my-data.json", data),)))
    assert [f.filename for f in rendered.files] == ["my-data.json.gz.001", "my-data.json.gz.002"]
    parts = [f.fp.read() for f in rendered.files]
    assert all(len(p) <= render.MAX_FILE_BYTES for p in parts)
    assert gzip.decompress(b"".join(parts)) == data
    assert rendered.embed is not None
    assert "split into 2 parts" in (rendered.embed.description or "")
