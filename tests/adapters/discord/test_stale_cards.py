"""Issue 8 item 3 on Discord: a card left over from a rejected application decides nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Mentor
from tests.adapters.discord.conftest import (
    ADA,
    OWNER,
    BotFactory,
    World,
    button_ids,
    embed_text,
)
from tests.helpers import snapshot


async def test_approve_on_a_card_for_the_rejected_application_is_refused_as_outdated(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        await bot.set_up()
        await bot.apply()
        await bot.deliver()
        (card,) = bot.admin_messages()
        # Ada keeps the first application open in her private list ...
        listing = await fake.send_interaction(
            fake.slash_command(world.id, ADA, "admin applications")
        )
        await listing.wait_response()
        assert listing.original_message_id is not None
        old_copy = fake.state.any_message(listing.original_message_id)
        old_approve = button_ids(old_copy)["Approve"]
        # ... while Olive rejects it, and Alice applies again.
        form = await bot.click(OWNER, button_ids(card)["Reject"], card)
        assert form.data is not None
        reason = {"reason": "Please mentor a study group first, then apply again."}
        await bot.submit(OWNER, form.data["custom_id"], reason, card)
        await bot.apply()
        await bot.deliver()
        new_card = bot.admin_messages()[-1]
        assert button_ids(new_card)["Approve"] != old_approve
        before = await snapshot(factory)

        refused = await fake.interact(
            fake.button_click(world.id, ADA, old_approve, listing.original_message_id)
        )

        assert refused.type == 4
        assert refused.ephemeral
        assert "This card is outdated" in embed_text(refused)
        assert await snapshot(factory) == before
        assert await bot.deliver() == 0
    async with factory() as session:
        mentor = (await session.execute(select(Mentor))).scalar_one()
    assert (mentor.status, mentor.application_version) == ("pending", 2)
