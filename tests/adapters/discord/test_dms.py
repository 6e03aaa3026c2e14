"""F5/F6 on Discord: a request answered with a button in a DM, then mentor and mentee
writing to each other by DMing the bot (a Discord reply keeps the conversation)."""

from __future__ import annotations

import discord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.context import Invocation
from core.models import Community, Delivery, Member, Mentor, MentorMessage, Mentorship
from core.service import Mentorbot
from tests.adapters.discord.community import (
    CAROL,
    MENTEE_PROFILE,
    bot_dms,
    dm_the_bot,
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
from tests.helpers import count, snapshot

APPLICATION = {**APPLY_OPTIONS, "bio": BIO}


async def _connect(bot: Bot) -> None:
    """Alice becomes a mentor; Bob requests her; she accepts with the button in her DM."""
    await bot.set_up()
    await bot.apply()
    await bot.deliver()
    (card,) = bot.admin_messages()
    await bot.click(ADA, button_ids(card)["Approve"], card)
    await bot.command(BOB, "mentee profile", {"goals": "learn_giving", "timezone": "Europe/Paris"})
    requested = await bot.command(BOB, "mentor request", {"mentor": ALICE, "note": "Hi!"})
    assert requested.ephemeral, requested
    await bot.deliver()
    request = bot_dms(bot, ALICE)[-1]
    assert embed_of(request)["author"]["name"] == "Givers"  # the DM names its server
    accept = button_ids(request)["Accept"]
    assert accept.endswith(f"@{bot.world.id}")
    fake = bot.fake
    accepted = await fake.interact(fake.button_click(None, ALICE, accept, int(request["id"])))
    assert accepted.type == 7, accepted
    await bot.deliver()


async def test_mentor_and_mentee_write_to_each_other_through_the_bot(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        await _connect(bot)
        started = bot_dms(bot, BOB)[-1]
        assert "started" in embed_of(started)["title"]

        sent = await dm_the_bot(bot, BOB, "Hello Alice, where do I start?")
        assert "Sent to" in embed_text(sent)
        # Its server came from Bob's stored mentorship: no DM history read from Discord.
        assert bot.fake.calls_to("GET", "/channels/{c}/messages") == []
        await bot.deliver()
        relayed = bot_dms(bot, ALICE)[-1]
        assert embed_of(relayed)["title"] == "💬 bob (your mentee)"
        assert "where do I start?" in embed_text(relayed)

        answer = await dm_the_bot(bot, ALICE, "With a budget!", reply_to=relayed)
        assert "Sent to" in embed_text(answer)
        await bot.deliver()
        back = bot_dms(bot, BOB)[-1]
        assert embed_of(back)["title"] == "💬 alice (your mentor)"
        assert "With a budget!" in embed_text(back)

        await bot.adapter.client.dms.on_reaction(
            discord.RawReactionActionEvent(
                {  # type: ignore[arg-type]  # the gateway's payload, partly
                    "message_id": back["id"],
                    "channel_id": back["channel_id"],
                    "user_id": str(BOB),
                    "type": 0,
                },
                discord.PartialEmoji(name="👍"),
                "REACTION_ADD",
            )
        )

    async with factory() as session:
        stored = (await session.execute(select(MentorMessage))).scalars().all()
    read = {m.content: m.read_at is not None for m in stored}
    # Alice replied to Bob's message, Bob reacted to Alice's: both were read.
    assert read == {"Hello Alice, where do I start?": True, "With a budget!": True}


async def test_a_dm_without_a_conversation_gets_pointed_to_the_commands(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        before = await snapshot(factory)
        answer = await dm_the_bot(bot, BOB, "Hello?")
        assert "/mentor browse" in embed_text(answer)
        await bot.deliver()
        # A stranger's DM is refused like bad input: not even a member row is written.
        assert await snapshot(factory) == before
        assert await count(factory, Member) == 0
        assert await count(factory, MentorMessage) == 0
        assert await count(factory, Delivery) == 0


async def _mentorship_in(service: Mentorbot, guild: int, mentor: int, mentee: int) -> None:
    """An active mentorship in another server, made through the core as the adapter would
    (the server is set up, the mentor approved, the request accepted)."""

    def by(user: int, name: str = "", admin: bool = False) -> Invocation:
        return Invocation("discord", str(guild), str(user), name, is_platform_admin=admin)

    owner = by(OWNER, admin=True)
    await service.execute(owner, "admin setup", {"admin_role": "1", "admin_channel": "2"})
    await service.execute(by(mentor, "alice"), "mentor apply", APPLICATION)
    async with service.factory() as session:
        mentor_id = (
            await session.execute(
                select(Mentor.id)
                .join(Community, Community.id == Mentor.community_id)
                .where(Community.platform_id == str(guild))
            )
        ).scalar_one()
    await service.press(owner, action_id("approve", mentor_id, "1"))
    await service.execute(by(mentee, "carol"), "mentee profile", MENTEE_PROFILE)
    await service.submit(by(mentee, "carol"), action_id("request", mentor_id), {"note": ""})
    async with service.factory() as session:
        ms = (
            await session.execute(select(Mentorship.id).where(Mentorship.mentor_id == mentor_id))
        ).scalar_one()
    await service.press(by(mentor, "alice"), action_id("accept", ms, "1"))


async def test_a_dm_to_someone_with_several_servers_asks_which_conversation(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    other = world.fake.add_guild("Lenders")
    world.fake.add_member(other.id, ALICE, "alice")
    world.fake.add_member(other.id, CAROL, "carol")
    async with discord_bot() as bot:
        await _connect(bot)  # Alice mentors Bob in Givers
        await _mentorship_in(service, other.id, ALICE, CAROL)  # and Carol in Lenders
        dms = f"/channels/{bot.fake.dm_channel_id(ALICE)}/messages"
        before = len(bot.fake.calls)

        answer = await dm_the_bot(bot, ALICE, "Hi, it's me")
        text = embed_text(answer)
        assert "**Givers**" in text
        assert "**Lenders**" in text
        assert "Reply" in text
        # Found from the stored mentorships: the only call is the answer itself.
        assert [(c.method, c.path) for c in bot.fake.calls[before:]] == [
            ("POST", dms),
        ], bot.fake.calls[before:]

        # Carol has one conversation, in Lenders: her DM goes there.
        sent = await dm_the_bot(bot, CAROL, "Hello Alice!")
        assert "Sent to <@2001>" in embed_text(sent)
        assert embed_of(sent)["author"]["name"] == "Lenders"
        # A reply still names its server through the message it answers.
        await bot.deliver()
        from_carol = bot_dms(bot, ALICE)[-1]
        assert embed_of(from_carol)["author"]["name"] == "Lenders"
        answer = await dm_the_bot(bot, ALICE, "Hello Carol!", reply_to=from_carol)
        assert "Sent to <@2003>" in embed_text(answer)
        assert bot.fake.calls_to("GET", "/channels/{c}/messages") == []


async def test_an_attachment_is_relayed_as_a_link_and_stored(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        await _connect(bot)
        await bot.fake.user_sends_message(
            BOB, "My budget so far", files={"budget.csv": b"rent,500"}
        )
        await bot.fake.wait_for_call(
            "POST", f"/channels/{bot.fake.dm_channel_id(BOB)}/messages", ok=True, count=2
        )
        await bot.deliver()
        relayed = bot_dms(bot, ALICE)[-1]
    async with factory() as session:
        (stored,) = (await session.execute(select(MentorMessage))).scalars().all()
    assert stored.attachments is not None
    ((url, filename, content_type),) = [
        (a["url"], a["filename"], a["content_type"]) for a in stored.attachments
    ]
    assert (filename, content_type) == ("budget.csv", "text/csv")
    assert embed_text(relayed).startswith(
        f"💬 bob (your mentee)\nMy budget so far\n\n📎 [budget.csv]({url})"
    )
