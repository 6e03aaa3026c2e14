"""F5/F6 through the service: requests, the race for the last place, threads, security."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.clock import FakeClock
from core.context import Invocation
from core.errors import Conflict, InvalidValue, NotAllowed, NotFound, StaleAction
from core.models import Delivery, Member, Mentee, Mentor, MentorMessage, Mentorship
from core.service import Mentorbot
from tests.core.test_bad_input import APPLICATION
from tests.helpers import snapshot

GUILD = "guild-a"


def inv(user: str, *, guild: str = GUILD, admin: bool = False) -> Invocation:
    return Invocation("console", guild, user, user, is_platform_admin=admin)


async def approved_mentor(bot: Mentorbot, user: str, *, guild: str = GUILD, **changes: str) -> str:
    await bot.execute(
        inv("owner", guild=guild, admin=True),
        "admin setup",
        {"admin_role": "A", "admin_channel": "adm"},
    )
    await bot.execute(inv(user, guild=guild), "mentor apply", {**APPLICATION, **changes})
    async with bot.factory() as session:
        mentor_id = (
            (
                await session.execute(
                    select(Mentor.id).where(Mentor.status == "pending").order_by(Mentor.created_at)
                )
            )
            .scalars()
            .first()
        )
    assert mentor_id is not None
    await bot.press(inv("owner", guild=guild, admin=True), action_id("approve", mentor_id, "1"))
    return mentor_id


async def mentee(bot: Mentorbot, user: str, *, guild: str = GUILD) -> None:
    await bot.execute(
        inv(user, guild=guild),
        "mentee profile",
        {"goals": "learn_giving", "timezone": "Europe/Madrid", "languages": "en"},
    )


async def request(bot: Mentorbot, user: str, mentor_id: str) -> str:
    await bot.submit(inv(user), action_id("request", mentor_id), {"note": ""})
    return await mentorship_of(bot, user, mentor_id)


async def mentorship_of(bot: Mentorbot, user: str, mentor_id: str | None = None) -> str:
    """The id of ``user``'s mentorship (with ``mentor_id``, if they have several)."""
    async with bot.factory() as session:
        stmt = (
            select(Mentorship.id)
            .join(Mentee, Mentee.id == Mentorship.mentee_id)
            .join(Member, Member.id == Mentee.user_id)
            .where(Member.platform_user_id == user)
        )
        if mentor_id is not None:
            stmt = stmt.where(Mentorship.mentor_id == mentor_id)
        return (await session.execute(stmt)).scalar_one()


async def active_mentorship(bot: Mentorbot, mentor: str, learner: str, **changes: str) -> str:
    """``mentor`` approved, ``learner`` a mentee, the request accepted; the mentorship id."""
    mentor_id = await approved_mentor(bot, mentor, **changes)
    await mentee(bot, learner)
    ms = await request(bot, learner, mentor_id)
    await bot.press(inv(mentor), action_id("accept", ms, "1"))
    return ms


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


async def test_twenty_accepts_racing_for_two_places_make_exactly_two_mentorships(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice", max_mentees="2")
    requests = []
    for n in range(20):
        await mentee(bot, f"m{n}")
        requests.append(await request(bot, f"m{n}", mentor_id))
    assert len(set(requests)) == 20

    async def accept(mentorship_id: str) -> str:
        try:
            await bot.press(inv("alice"), action_id("accept", mentorship_id, "1"))
        except Conflict as refused:
            return refused.message
        return "ok"

    outcomes = await asyncio.gather(*(accept(r) for r in requests))
    assert outcomes.count("ok") == 2
    refusals = [o for o in outcomes if o != "ok"]
    assert len(refusals) == 18
    assert all("no free mentee place" in r for r in refusals)
    async with factory() as session:
        mentor = await session.get(Mentor, mentor_id)
        statuses = (await session.execute(select(Mentorship.status))).scalars().all()
        matched = (
            (await session.execute(select(Mentee).where(Mentee.status == "matched")))
            .scalars()
            .all()
        )
    assert mentor is not None
    assert (mentor.current_mentees, mentor.total_mentees) == (2, 2)
    assert sorted(statuses).count("active") == 2
    assert sorted(statuses).count("pending") == 18
    assert len(matched) == 2


async def test_a_message_each_way_is_stored_and_relayed_in_the_mentorship(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("accept", ms, "1"))
    await bot.execute(inv("alice"), "mentorship message", {"person": "dave", "text": "Hello!"})
    await bot.relay_dm(inv("dave"), "Hi, thanks!")
    async with factory() as session:
        stored = (await session.execute(select(MentorMessage))).scalars().all()
        dms = (
            (await session.execute(select(Delivery.payload).where(Delivery.kind == "dm")))
            .scalars()
            .all()
        )
    assert sorted(m.content for m in stored) == ["Hello!", "Hi, thanks!"]
    assert {m.mentorship_id for m in stored} == {ms}
    relayed = [p for p in dms if p["message"]["title"] and p["message"]["title"].startswith("💬")]
    assert [(p["user_id"], p["thread"]) for p in relayed] == [("dave", ms), ("alice", ms)]


async def test_outsiders_forged_ids_and_other_communities_are_refused_and_write_nothing(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("accept", ms, "1"))
    await mentee(bot, "eve")
    before = await snapshot(factory)
    with pytest.raises(NotFound):
        await bot.press(inv("eve"), action_id("decline", ms, "1"))
    with pytest.raises(InvalidValue, match="person"):
        await bot.execute(inv("eve"), "mentorship message", {"person": "alice", "text": "hi"})
    with pytest.raises(InvalidValue):
        await bot.execute(inv("eve"), "mentorship history", {"person": "dave"})
    with pytest.raises(NotFound):
        await bot.press(inv("alice", guild="guild-b"), action_id("accept", ms, "1"))
    with pytest.raises(StaleAction):
        await bot.press(inv("alice"), "mb:accept:../" + ms)
    assert await snapshot(factory) == before


async def test_messages_to_a_paused_mentorship_are_refused_with_a_note(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("accept", ms, "1"))
    await bot.execute(inv("dave"), "mentorship pause", {"person": "alice"})
    with pytest.raises(Conflict, match="paused"):
        await bot.execute(inv("alice"), "mentorship message", {"person": "dave", "text": "hi"})
    await bot.execute(inv("alice"), "mentorship resume", {"person": "dave"})
    await bot.execute(inv("alice"), "mentorship message", {"person": "dave", "text": "back"})


async def test_a_dm_with_several_mentorships_asks_which_one(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    for name in ("dave", "erin"):
        await mentee(bot, name)
        await bot.press(inv("alice"), action_id("accept", await request(bot, name, mentor_id), "1"))
    chooser = await bot.relay_dm(inv("alice"), "Group tip: read chapter 2")
    assert chooser is not None
    assert chooser.message is not None
    labels = [b.label for b in chooser.message.buttons]
    assert labels == ["To dave", "To erin"]
    with pytest.raises(NotFound):  # someone else cannot send alice's pending message
        await bot.press(inv("dave"), chooser.message.buttons[1].action)
    await bot.press(inv("alice"), chooser.message.buttons[1].action)
    async with factory() as session:
        stored = (await session.execute(select(MentorMessage))).scalars().one()
    assert stored.content == "Group tip: read chapter 2"


async def test_ending_updates_counts_and_statuses(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("accept", ms, "1"))
    ask = await bot.execute(inv("dave"), "mentorship end", {"person": "alice"})
    assert ask is not None
    assert ask.form is not None
    with pytest.raises(InvalidValue, match="notes"):
        await bot.submit(inv("dave"), ask.form.action, {"notes": "ok"})
    await bot.submit(inv("dave"), ask.form.action, {"notes": "Learned a lot, thanks."})
    async with factory() as session:
        mentorship = await session.get(Mentorship, ms)
        mentor = await session.get(Mentor, mentor_id)
        the_mentee = (await session.execute(select(Mentee))).scalar_one()
    assert mentorship is not None
    assert mentor is not None
    assert (mentorship.status, mentorship.completion_notes) == (
        "completed",
        "Learned a lot, thanks.",
    )
    assert (mentor.current_mentees, mentor.total_mentees) == (0, 1)
    assert the_mentee.status == "completed"


async def test_unanswered_requests_are_nudged_once_then_expire(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms = await request(bot, "dave", mentor_id)
    assert await bot.housekeeping() == (0, 0)
    clock.advance(days=3, minutes=1)
    assert await bot.housekeeping() == (1, 0)
    assert await bot.housekeeping() == (0, 0)  # one nudge only
    clock.advance(days=4)
    assert await bot.housekeeping() == (0, 1)
    async with factory() as session:
        mentorship = await session.get(Mentorship, ms)
        kinds = (await session.execute(select(Delivery.idempotency_key))).scalars().all()
    assert mentorship is not None
    assert mentorship.status == "expired"
    assert any(k.startswith("nudge:") for k in kinds)
    assert any(k.startswith("expired:") for k in kinds)
    # The mentee can ask again afterwards.
    assert await request(bot, "dave", mentor_id) == ms


async def test_a_matching_round_proposes_and_both_sides_accept(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice", max_mentees="1")
    await mentee(bot, "dave")
    await mentee(bot, "erin")
    result = await bot.execute(inv("owner", admin=True), "admin match-round", {})
    assert result is not None
    assert result.message is not None
    assert "Proposed 1 pair(s) to 2 waiting mentee(s)" in result.message.text
    async with factory() as session:
        ms = (await session.execute(select(Mentorship))).scalar_one()
    assert (ms.origin, ms.status, ms.mentor_accepted, ms.mentee_accepted) == (
        "round",
        "pending",
        False,
        False,
    )
    async with factory() as session:
        proposed = await session.get(Mentee, ms.mentee_id)
        assert proposed is not None
        member = await session.get(Member, proposed.user_id)
    assert member is not None
    mentee_user = member.platform_user_id
    await bot.press(inv("alice"), action_id("accept", ms.id, "1"))
    await bot.press(inv(mentee_user), action_id("accept", ms.id, "1"))
    async with factory() as session:
        ms_after = await session.get(Mentorship, ms.id)
        mentor = await session.get(Mentor, mentor_id)
    assert ms_after is not None
    assert mentor is not None
    assert ms_after.status == "active"
    assert mentor.current_mentees == 1
    with pytest.raises(NotAllowed):  # a non-admin cannot run a round
        await bot.execute(inv("dave"), "admin match-round", {})
