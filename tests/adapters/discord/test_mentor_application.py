"""F1 on Discord end to end: setup, /mentor apply through a modal, the application card
with persistent buttons, a restart, approval by an admin, the DM and the Mentor role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Mentor
from tests.adapters.discord.conftest import (
    ADA,
    ALICE,
    BIO,
    BOB,
    OWNER,
    BotFactory,
    World,
    button_ids,
    embed_of,
    embed_text,
)
from tests.helpers import snapshot


async def _mentor(factory: async_sessionmaker[AsyncSession]) -> Mentor:
    async with factory() as session:
        return (await session.execute(select(Mentor))).scalar_one()


async def test_apply_restart_and_approve_grants_the_mentor_role_and_dms_the_applicant(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        setup = await bot.set_up()
        assert setup.ephemeral
        assert embed_of(setup)["title"] == "Mentorbot is set up"

        modal = await bot.command(
            ALICE,
            "mentor apply",
            {
                "expertise": "giving,loans",
                "availability": 6,
                "style": "async",
                "languages": "en,es",
                "timezone": "Europe/Madrid",
            },
        )
        assert modal.type == 9
        assert modal.data is not None
        assert modal.data["title"] == "Apply to mentor"
        (bio_input,) = [row["components"][0] for row in modal.data["components"]]
        assert (bio_input["custom_id"], bio_input["style"]) == ("bio", 2)
        assert (bio_input["min_length"], bio_input["max_length"]) == (20, 1000)

        sent = await bot.submit(ALICE, modal.data["custom_id"], {"bio": BIO})
        assert sent.ephemeral
        assert embed_of(sent)["title"] == "Application sent"
        await bot.deliver()
        (card,) = bot.admin_messages()
        assert embed_of(card)["title"] == "Mentor application: alice"
        assert BIO in embed_text(card)
        buttons = button_ids(card)
        assert set(buttons) == {"Approve", "Reject"}
        assert buttons["Approve"].startswith("mb:approve:")

    commands_put = len(fake.calls_to("PUT", "/applications/{app}/commands", ok=True))
    async with discord_bot() as bot:  # a restart: a new client, the same database
        assert len(fake.identifies) == 2
        # The catalog did not change, so the restart did not sync again.
        assert len(fake.calls_to("PUT", "/applications/{app}/commands")) == commands_put
        approved = await bot.click(ADA, buttons["Approve"], card)
        assert approved.type == 7  # the card itself is updated ...
        assert approved.data is not None
        assert approved.data["components"] == []  # ... without its buttons
        assert "Approved by ada" in embed_text(approved)
        await bot.deliver()

    mentor = await _mentor(factory)
    assert mentor.status == "active"
    (dm,) = fake.dm_messages(ALICE)
    assert embed_of(dm)["title"] == "You're a mentor now 🎉"
    (mentor_role,) = [r for r in fake.state.guild(world.id).roles.values() if r["name"] == "Mentor"]
    grant = fake.calls_to("PUT", f"/guilds/{world.id}/members/{ALICE}/roles/{mentor_role['id']}")
    assert [c.status for c in grant] == [204]
    assert int(mentor_role["id"]) in fake.member_role_ids(world.id, ALICE)
    fake.assert_no_unhandled()


async def test_a_non_admin_pressing_approve_is_refused_privately_and_nothing_changes(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        await bot.set_up()
        await bot.apply()
        await bot.deliver()
        (card,) = bot.admin_messages()
        before = await snapshot(factory)

        refused = await bot.click(BOB, button_ids(card)["Approve"], card)

        assert refused.type == 4
        assert refused.ephemeral
        assert "only community admins" in embed_text(refused)
        assert await snapshot(factory) == before
        assert world.fake.state.messages[int(card["id"])]["components"]  # buttons still there
        assert await bot.deliver() == 0
    assert (await _mentor(factory)).status == "pending"


async def test_invalid_modal_input_gets_a_private_message_naming_the_field(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        await bot.set_up()
        before = await snapshot(factory)

        answer = await bot.apply(bio="Too short.")

        assert answer.ephemeral
        text = embed_text(answer)
        assert "`bio`" in text
        assert "20–1000 characters" in text
        assert await snapshot(factory) == before


async def test_reject_asks_for_a_reason_in_a_modal_then_tells_the_applicant(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        await bot.set_up()
        await bot.apply()
        await bot.deliver()
        (card,) = bot.admin_messages()

        form = await bot.click(OWNER, button_ids(card)["Reject"], card)
        assert form.type == 9
        assert form.data is not None
        assert form.data["custom_id"].startswith("mb:reject:")
        (reason_input,) = [row["components"][0] for row in form.data["components"]]
        assert reason_input["custom_id"] == "reason"

        reason = "Please come back once you have mentored in a study group."
        rejected = await bot.submit(OWNER, form.data["custom_id"], {"reason": reason}, card)
        assert rejected.type == 7
        assert "Rejected by olive" in embed_text(rejected)
        await bot.deliver()

    assert (await _mentor(factory)).status == "rejected"
    (dm,) = world.fake.dm_messages(ALICE)
    assert reason in embed_text(dm)


async def test_an_admin_can_approve_from_the_private_applications_list(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        await bot.set_up()
        await bot.apply()
        pending = await fake.send_interaction(
            fake.slash_command(world.id, ADA, "admin applications")
        )
        listed = await pending.wait_response()
        assert listed.ephemeral
        assert pending.original_message_id is not None
        shown = fake.state.any_message(pending.original_message_id)
        approve = button_ids(shown)["Approve"]

        approved = await fake.interact(
            fake.button_click(world.id, ADA, approve, pending.original_message_id)
        )

        assert approved.type == 7
        assert "Approved by ada" in embed_text(fake.state.any_message(int(shown["id"])))
    assert (await _mentor(factory)).status == "active"
