"""Issue 13 on Discord: a goal added in a modal, ticked with buttons, charted as an
attachment and completed; a review invited on end, rated with buttons and a modal; badges
granted as roles (created when missing) and repaired by /admin badges sync."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime

from sqlalchemy import select

from core.charts import HEIGHT_PX, WIDTH_PX, png_size
from core.clock import FakeClock
from core.models import Mentor as MentorRow
from core.service import Mentorbot
from tests.adapters.discord.community import (
    Mentor,
    add_members,
    become_mentee,
    bot_dms,
    member,
    mentorships,
    press_in_dm,
    seed_mentors,
    title,
)
from tests.adapters.discord.conftest import (
    BOB,
    OWNER,
    Bot,
    BotFactory,
    World,
    button_ids,
    embed_of,
    embed_text,
)

ANA = 3001


async def _mentorship(bot: Bot, service: Mentorbot, world: World) -> str:
    """ana mentors Bob (accepted through the core); returns ana's mentor id."""
    await bot.set_up()
    ids = await seed_mentors(service, world, [Mentor(ANA, "ana", max_mentees=3)])
    await become_mentee(bot, BOB)
    await service.execute(member(world, BOB, "bob"), "mentor request", {"mentor": str(ANA)})
    (request,) = await mentorships(service.factory)
    await service.press(member(world, ANA, "ana"), f"mb:accept:{request.id}:1")
    await bot.deliver()
    return ids["ana"]


async def _private(bot: Bot, user: int, path: str, options: dict[str, object]) -> dict:
    """Run a command whose answer is a private message; return that message."""
    fake = bot.fake
    pending = await fake.send_interaction(fake.slash_command(bot.world.id, user, path, options))
    await pending.wait_response()
    assert pending.original_message_id is not None
    return fake.state.any_message(pending.original_message_id)


async def test_goal_modal_buttons_chart_and_completion(
    discord_bot: BotFactory, world: World, service: Mentorbot, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    add_members(world, [Mentor(ANA, "ana")])
    async with discord_bot() as bot:
        await _mentorship(bot, service, world)
        form = await bot.command(
            BOB,
            "goal add",
            {"person": ANA, "title": "Fund a first loan", "target_date": "2027-01-15"},
        )
        assert form.type == 9  # a modal for the long fields
        assert form.data is not None
        inputs = [row["components"][0]["custom_id"] for row in form.data["components"]]
        assert inputs == ["description", "milestones"]
        fake = bot.fake
        pending = await fake.send_interaction(
            fake.modal_submit(
                world.id,
                BOB,
                form.data["custom_id"],
                {"description": "", "milestones": "Read the guide\nPick a borrower"},
            )
        )
        added = await pending.wait_response()
        assert added.ephemeral
        assert "░░░░░░░░ 0%" in embed_text(added)
        assert pending.original_message_id is not None
        card = fake.state.any_message(pending.original_message_id)

        ticked = await bot.click(BOB, button_ids(card)["☐ Read the guide"], card)
        assert ticked.type == 7  # the card, edited in place
        assert "▓▓▓▓░░░░ 50%" in embed_text(ticked)
        card = fake.state.any_message(int(card["id"]))
        assert "☑ Read the guide" in button_ids(card)
        await bot.deliver()
        assert "ticked “Read the guide”" in embed_text(bot_dms(bot, ANA)[-1])

        # Drawing the first chart imports matplotlib, which may take longer than the 2 s
        # defer margin on a loaded machine; the deferred path has its own tests.
        bot.adapter.router.defer_after = 30.0
        await asyncio.to_thread(importlib.import_module, "matplotlib.pyplot")
        charted = await bot.click(BOB, button_ids(card)["Chart"], card)
        (png,) = charted.files
        assert png.filename == "goal-progress.png"
        assert png_size(png.data) == (WIDTH_PX, HEIGHT_PX)
        assert "Fund a first loan (active)" in embed_text(charted)  # the chart in words

        done = await bot.click(BOB, button_ids(card)["Complete goal"], card)
        assert "completed" in embed_of(done)["title"]
        assert "▓▓▓▓▓▓▓▓ 100%" in embed_text(done)
        await bot.deliver()
        roles = {r["name"]: int(r["id"]) for r in fake.state.guild(world.id).roles.values()}
        assert roles["Goal Achieved"] in fake.member_role_ids(world.id, BOB)


async def test_review_invite_rating_modal_and_average(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    add_members(world, [Mentor(ANA, "ana")])
    async with discord_bot() as bot:
        mentor_id = await _mentorship(bot, service, world)
        form = await bot.command(ANA, "mentorship end", {"person": BOB})
        assert form.data is not None
        await bot.submit(ANA, form.data["custom_id"], {"notes": "Goals met. Next: budgets."})
        await bot.deliver()
        invite = next(m for m in bot_dms(bot, BOB) if title(m) == "How was mentoring with ana?")
        assert list(button_ids(invite)) == ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]
        opened = await press_in_dm(bot, BOB, "4 ★", invite)
        assert opened["type"] == 9
        assert [row["components"][0]["custom_id"] for row in opened["components"]] == [
            "comment",
            "public",
        ]
        saved = await bot.submit(BOB, opened["custom_id"], {"comment": "Clear", "public": "yes"})
        assert saved.ephemeral
        assert "review is saved" in embed_text(saved)
        async with service.factory() as session:
            mentor = await session.get(MentorRow, mentor_id)
            assert mentor is not None
            assert mentor.avg_rating == 4.0
        await bot.deliver()
        assert "rated you ★★★★☆" in embed_text(bot_dms(bot, ANA)[-1])
        # A forged rating is refused privately, naming the field.
        refused = await bot.submit(BOB, "mb:review:x:9", {})
        assert refused.ephemeral
        assert "`rating`" in embed_text(refused)


async def test_badges_become_roles_and_sync_repairs_a_removed_one(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    add_members(world, [Mentor(ANA, "ana")])
    async with discord_bot() as bot:
        await _mentorship(bot, service, world)
        fake = bot.fake
        roles = {r["name"]: r["id"] for r in fake.state.guild(world.id).roles.values()}
        started = int(roles["Mentorship Started"])  # created when missing
        assert started in fake.member_role_ids(world.id, BOB)
        announced = [m for m in fake.channel_messages(world.general) if m["embeds"]]
        assert any("earned the **Mentorship Started** badge" in embed_text(m) for m in announced)

        shown = await bot.command(BOB, "mentor badges", {})
        assert "Mentorship Started" in embed_text(shown)
        assert "0 of 1 goals achieved to **Goal Achieved**" in embed_text(shown)

        fake.state.member(world.id, BOB)["roles"].remove(str(started))  # someone removed it
        refused = await bot.command(BOB, "admin badges sync", {})
        assert "only community admins" in embed_text(refused)
        synced = await bot.command(OWNER, "admin badges sync", {})
        assert synced.ephemeral
        await bot.deliver()
        assert started in fake.member_role_ids(world.id, BOB)
        async with service.factory() as session:
            assert (await session.execute(select(MentorRow.id))).first() is not None


async def test_with_members_listed_sync_also_takes_a_badge_role_given_by_hand(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    add_members(world, [Mentor(ANA, "ana")])
    async with discord_bot(list_role_members=True) as bot:
        await _mentorship(bot, service, world)
        fake = bot.fake
        roles = {r["name"]: r["id"] for r in fake.state.guild(world.id).roles.values()}
        started = str(roles["Mentorship Started"])
        fake.state.member(world.id, ANA)["roles"].append(started)  # handed out by hand
        await bot.command(OWNER, "admin badges sync", {})
        await bot.deliver()
        assert int(started) not in fake.member_role_ids(world.id, ANA)
        assert int(started) in fake.member_role_ids(world.id, BOB)  # earned: kept


async def test_without_members_listed_sync_leaves_other_holders_alone(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    add_members(world, [Mentor(ANA, "ana")])
    async with discord_bot() as bot:
        await _mentorship(bot, service, world)
        fake = bot.fake
        roles = {r["name"]: r["id"] for r in fake.state.guild(world.id).roles.values()}
        started = str(roles["Mentorship Started"])
        fake.state.member(world.id, ANA)["roles"].append(started)
        await bot.command(OWNER, "admin badges sync", {})
        await bot.deliver()
        assert int(started) in fake.member_role_ids(world.id, ANA)
        assert fake.calls_to("GET", "/guilds/{g}/members") == []


async def test_a_bot_role_below_badge_roles_is_reported_once_naming_the_fix(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    add_members(world, [Mentor(ANA, "ana")])
    for user, name in ((4001, "cy"), (4002, "di")):
        world.fake.add_member(world.id, user, name)
    async with discord_bot() as bot:
        await _mentorship(bot, service, world)
        fake = bot.fake
        # From now on Discord refuses role changes: the bot's role sits below the badges.
        fake.fail_next("PUT", "/guilds/{g}/members/{u}/roles/{r}", status=403, times=10)
        ana = member(world, ANA, "ana")
        for user, name in ((4001, "cy"), (4002, "di")):
            learner = member(world, user, name)
            await service.execute(learner, "mentee profile", {"goals": "learn_giving"})
            await service.execute(learner, "mentor request", {"mentor": str(ANA)})
            request = (await mentorships(service.factory))[-1]
            await service.press(ana, f"mb:accept:{request.id}:1")
        await bot.deliver()
        notices = [
            embed_text(m)
            for m in bot.admin_messages()
            if "placed above “Mentorship Started”" in embed_text(m)
        ]
        assert len(notices) == 1  # two refused grants, one notice
        assert "Manage Roles with its own role placed above" in notices[0]
