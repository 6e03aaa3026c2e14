"""F5/F6 refusals on Discord: someone outside a mentorship, an id from another server, or
a forged button or form id is told so privately, and nothing is written or sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.messages import Message
from core.ports import Attempt, Target
from core.service import Mentorbot
from tests.adapters.discord.community import (
    CAROL,
    Mentor,
    add_members,
    become_mentee,
    bot_dms,
    dm_the_bot,
    mentorships,
    press_in_dm,
    request_mentor,
    seed_mentors,
)
from tests.adapters.discord.conftest import (
    ALICE,
    BOB,
    Bot,
    BotFactory,
    World,
    embed_of,
    embed_text,
)
from tests.fakes.discord_fake import FakeGuild
from tests.helpers import snapshot

JSON = dict[str, Any]
DAN = 3001
MENTORS = [Mentor(ALICE, "alice"), Mentor(DAN, "dan")]


@pytest.fixture
def lenders(world: World) -> FakeGuild:
    """A second server with the bot, Alice and Carol in it."""
    world.fake.add_member(world.id, CAROL, "carol")
    add_members(world, MENTORS[1:])
    other = world.fake.add_guild("Lenders")
    for user, name in ((ALICE, "alice"), (CAROL, "carol")):
        world.fake.add_member(other.id, user, name)
    return other


async def _mentorship_and_an_outsider(bot: Bot, service: Mentorbot, world: World) -> str:
    """Alice mentors Bob (one message relayed); Carol's request to Dan was declined, so
    Carol has DMs from the bot about this server but no mentorship. Returns Bob's."""
    await bot.set_up()
    await seed_mentors(service, world, MENTORS)
    for mentee in (BOB, CAROL):
        await become_mentee(bot, mentee)
    await press_in_dm(bot, ALICE, "Accept", await request_mentor(bot, BOB, ALICE))
    await press_in_dm(bot, DAN, "Decline", await request_mentor(bot, CAROL, DAN))
    await bot.deliver()
    await dm_the_bot(bot, BOB, "Hi Alice!")
    await bot.deliver()
    (ms,) = [m for m in await mentorships(service.factory) if m.status == "active"]
    return ms.id


async def test_outsiders_other_servers_and_forged_ids_are_refused_and_write_nothing(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    lenders: FakeGuild,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        ms = await _mentorship_and_an_outsider(bot, service, world)
        about_lenders = Message(title="News from Lenders")
        await bot.adapter.port.send_dm(
            Target("c", "discord", str(lenders.id)),
            str(ALICE),
            about_lenders,
            None,
            Attempt("test-9"),
        )
        alices_givers_dm, alices_lenders_dm = bot_dms(bot, ALICE)[-2:]
        assert embed_of(alices_givers_dm)["title"] == "💬 bob (your mentee)"
        carols_givers_dm = bot_dms(bot, CAROL)[-1]
        dms_before = {user: len(bot_dms(bot, user)) for user in (ALICE, BOB, CAROL)}
        before = await snapshot(factory)

        async def refused(payload: JSON) -> str:
            answer = await fake.interact(payload)
            assert answer.type == 4
            assert answer.ephemeral
            return embed_text(answer)

        def in_dm(user: int, custom_id: str, message: JSON | None = None) -> JSON:
            on = int(message["id"]) if message is not None else None
            return fake.button_click(None, user, custom_id, on)

        here, there = world.id, lenders.id
        # Carol, outside the mentorship, with its ids: as buttons, forms and commands.
        for payload in (
            in_dm(CAROL, f"mb:accept:{ms}:1@{here}", carols_givers_dm),
            fake.button_click(here, CAROL, f"mb:decline:{ms}:1"),
            fake.button_click(here, CAROL, f"mb:relay:abcdefgh12345678:{ms}"),
            fake.modal_submit(here, CAROL, f"mb:end:{ms}:completed:1", {"notes": "Done now."}),
        ):
            assert "doesn't exist in this community" in await refused(payload)
        for path, options in (
            ("mentorship message", {"person": ALICE, "text": "Hi, I'm Bob"}),
            ("mentorship export", {"person": BOB}),
            ("mentorship end", {"person": ALICE}),
        ):
            assert "`person`" in await refused(fake.slash_command(here, CAROL, path, options))

        # Alice herself, with this server's ids in the other server.
        for payload in (
            fake.button_click(there, ALICE, f"mb:accept:{ms}:1"),
            fake.modal_submit(there, ALICE, f"mb:end:{ms}:completed:1", {"notes": "Done now."}),
            in_dm(ALICE, f"mb:decline:{ms}:1@{there}", alices_lenders_dm),
        ):
            assert "doesn't exist in this community" in await refused(payload)
        message_there = {"person": BOB, "text": "Hi"}
        text = await refused(fake.slash_command(there, ALICE, "mentorship message", message_there))
        assert "`person`" in text
        # In a DM, a button's server must be the one its message is about.
        for payload in (
            in_dm(ALICE, f"mb:decline:{ms}:1@{there}", alices_givers_dm),
            in_dm(ALICE, f"mb:decline:{ms}:1@{here}"),  # on no message of the bot's
        ):
            assert "not valid" in await refused(payload)

        # Forged ids: malformed, unknown, wrong arity, smuggled separators.
        for custom_id in (
            f"mb:accept:../{ms}",
            f"mb:accept:{ms}:extra",
            "mb:launch:1",
            f"mb:accept:{ms}:1@not-a-server",
            "mb:browse:1:giving:en:async:3:2",
        ):
            assert "not valid" in await refused(fake.button_click(here, BOB, custom_id))
        assert "`outcome`" in await refused(
            fake.modal_submit(here, BOB, f"mb:end:{ms}:won:1", {"notes": "Done now."})
        )

        # Carol DMs the bot, and replies "to" Alice's relayed message from her own DM.
        answer = await dm_the_bot(bot, CAROL, "Alice, can you mentor me too?")
        assert "no active mentorship" in embed_text(answer)
        answer = await dm_the_bot(bot, CAROL, "Hello?", reply_to=alices_givers_dm)
        assert "no active mentorship" in embed_text(answer)

        assert await snapshot(factory) == before
        assert await bot.deliver() == 0
    dms_before[CAROL] += 2  # the two answers above
    assert {user: len(bot_dms(bot, user)) for user in dms_before} == dms_before
    fake.assert_no_unhandled()
