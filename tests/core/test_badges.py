"""F12 in the core: each badge awarded once, the moment its rule holds, with its role
and announcement queued; races award once; turning badges on awards history quietly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.badges import BADGES, BY_KEY
from core.clock import FakeClock
from core.errors import NotAllowed
from core.models import (
    BadgeAward,
    Community,
    Delivery,
    Member,
    Mentor,
    MentorSession,
    Mentorship,
    SupportGroup,
    SupportGroupPost,
    SupportGroupReply,
)
from core.service import Mentorbot
from core.settings import CoreSettings
from core.uow import UnitOfWork
from core.usecases.badges import BACKFILL_CURSOR, award_badges, backfill_step
from tests.core.test_connections import (
    active_mentorship,
    approved_mentor,
    inv,
    mentee,
    mentorship_of,
    request,
)


@dataclass
class Pair:
    mentorship_id: str
    mentor_id: str
    mentor_member: str
    mentee_member: str
    community: str


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


async def _pair(bot: Mentorbot, mentor: str = "alice", learner: str = "dave") -> Pair:
    ms = await active_mentorship(bot, mentor, learner)
    async with bot.factory() as session:
        row = await session.get(Mentorship, ms)
        assert row is not None
        mentor_row = await session.get(Mentor, row.mentor_id)
        assert mentor_row is not None
        learner_member = (
            await session.execute(select(Member.id).where(Member.platform_user_id == learner))
        ).scalar_one()
        return Pair(ms, row.mentor_id, mentor_row.user_id, learner_member, row.community_id)


async def awards(factory: async_sessionmaker[AsyncSession], member_id: str) -> list[str]:
    async with factory() as session:
        rows = await session.execute(
            select(BadgeAward.badge).where(BadgeAward.member_id == member_id)
        )
        return sorted(rows.scalars())


async def role_grants(factory: async_sessionmaker[AsyncSession], role_key: str) -> int:
    async with factory() as session:
        rows = await session.execute(select(Delivery.payload).where(Delivery.kind == "grant_role"))
        return sum(1 for p in rows.scalars() if p["role_key"] == role_key)


def completed_session(uow: UnitOfWork, pair: Pair) -> MentorSession:
    return MentorSession(
        community_id=pair.community,
        mentorship_id=pair.mentorship_id,
        mentor_id=pair.mentor_id,
        title="Check-in",
        scheduled_at=uow.now() - timedelta(hours=1),
        duration=30,
        type="one_on_one",
        status="completed",
    )


async def complete_sessions(bot: Mentorbot, pair: Pair, n: int) -> list[str]:
    """What the sessions feature does when a session is completed: the row, then the
    award check, in one transaction. Returns the badges awarded along the way."""
    got = []
    for _ in range(n):
        async with bot.uow() as uow:
            community = await uow.session.get(Community, pair.community)
            assert community is not None
            uow.session.add(completed_session(uow, pair))
            await uow.session.flush()
            new = await award_badges(uow, community, [pair.mentor_member], ("completed_sessions",))
            got += [a.badge.key for a in new]
            await uow.commit()
    return got


async def test_mentorship_started_is_awarded_to_the_mentee_on_accept(bot: Mentorbot) -> None:
    pair = await _pair(bot)
    assert await awards(bot.factory, pair.mentee_member) == ["mentorship_started"]
    assert await awards(bot.factory, pair.mentor_member) == []
    assert await role_grants(bot.factory, "mentorship_started") == 1


async def test_session_badges_are_awarded_exactly_at_their_thresholds(bot: Mentorbot) -> None:
    pair = await _pair(bot)
    assert await complete_sessions(bot, pair, 1) == ["first_mentor_session"]
    assert await complete_sessions(bot, pair, 8) == []
    assert await complete_sessions(bot, pair, 1) == ["dedicated_mentor"]  # the 10th
    assert await complete_sessions(bot, pair, 39) == []
    assert await complete_sessions(bot, pair, 1) == ["mentor_master"]  # the 50th
    assert await complete_sessions(bot, pair, 1) == []
    assert await awards(bot.factory, pair.mentor_member) == [
        "dedicated_mentor",
        "first_mentor_session",
        "mentor_master",
    ]
    for key in ("first_mentor_session", "dedicated_mentor", "mentor_master"):
        assert await role_grants(bot.factory, key) == 1


async def test_an_award_queues_its_role_and_an_announcement(bot: Mentorbot) -> None:
    pair = await _pair(bot)
    await complete_sessions(bot, pair, 1)
    async with bot.factory() as session:
        rows = (
            await session.execute(
                select(Delivery.kind, Delivery.payload).where(
                    Delivery.idempotency_key.like("badge:%")
                )
            )
        ).all()
    kinds = sorted(kind for kind, p in rows if p.get("role_key") != "mentorship_started")
    # No announcement channel is set up here, so the announcement is a DM.
    texts = [p["message"]["text"] for kind, p in rows if kind == "dm"]
    assert "grant_role" in kinds
    assert any("First Mentor Session" in t for t in texts)


async def test_group_facilitator_and_peer_supporter_count_group_rows(bot: Mentorbot) -> None:
    pair = await _pair(bot)
    s = CoreSettings()
    async with bot.uow() as uow:
        community = await uow.session.get(Community, pair.community)
        assert community is not None
        group = SupportGroup(
            community_id=pair.community,
            name="New givers",
            description="For people new to giving",
            type="new_givers",
            facilitator_id=pair.mentor_member,
        )
        uow.session.add(group)
        await uow.session.flush()
        got = await award_badges(uow, community, [pair.mentor_member], ("groups_facilitated",))
        assert [a.badge.key for a in got] == ["group_facilitator"]
        post = SupportGroupPost(
            community_id=pair.community,
            group_id=group.id,
            author_id=pair.mentor_member,
            content="Hi",
        )
        uow.session.add(post)
        await uow.session.flush()
        # Many replies on one day count only up to the daily cap.
        start = uow.now() - timedelta(days=10)
        for n in range(s.peer_supporter_daily_cap + 5):
            uow.session.add(
                SupportGroupReply(
                    community_id=pair.community,
                    post_id=post.id,
                    author_id=pair.mentee_member,
                    content=f"reply {n}",
                    created_at=start + timedelta(minutes=n),
                )
            )
        await uow.session.flush()
        assert await award_badges(uow, community, [pair.mentee_member], ("peer_replies",)) == []
        days_needed = -(-s.peer_supporter_replies // s.peer_supporter_daily_cap) - 1
        for day in range(1, days_needed + 1):
            for n in range(s.peer_supporter_daily_cap):
                uow.session.add(
                    SupportGroupReply(
                        community_id=pair.community,
                        post_id=post.id,
                        author_id=pair.mentee_member,
                        content="more",
                        created_at=start + timedelta(days=day, minutes=n),
                    )
                )
        await uow.session.flush()
        got = await award_badges(uow, community, [pair.mentee_member], ("peer_replies",))
        assert [a.badge.key for a in got] == ["peer_supporter"]
        await uow.commit()


async def test_mentee_success_after_three_completed_mentorships(bot: Mentorbot) -> None:
    mentor_id = await approved_mentor(bot, "alice", max_mentees="3")
    for learner in ("d1", "d2", "d3"):
        await mentee(bot, learner)
        ms = await request(bot, learner, mentor_id)
        await bot.press(inv("alice"), action_id("accept", ms, "1"))
    async with bot.factory() as session:
        mentor = await session.get(Mentor, mentor_id)
        assert mentor is not None
        mentor_member = mentor.user_id
    for n, learner in enumerate(("d1", "d2", "d3")):
        await bot.execute(inv("alice"), "mentorship end", {"person": learner})
        ms = await mentorship_of(bot, learner)
        await bot.submit(
            inv("alice"), action_id("end", ms, "completed", "1"), {"notes": "All goals met."}
        )
        expected = ["mentee_success"] if n == 2 else []
        assert await awards(bot.factory, mentor_member) == expected
    async with bot.factory() as session:
        graduates = (
            await session.execute(
                select(BadgeAward.member_id).where(BadgeAward.badge == "mentorship_graduate")
            )
        ).all()
    assert len(graduates) == 3


@pytest.mark.parametrize("before", [0, 8])
async def test_two_completions_racing_award_the_badge_once(bot: Mentorbot, before: int) -> None:
    """0 → two racing firsts: First Mentor Session once. 8 → 9 and 10 at once: Dedicated
    Mentor once, never zero (the second waits for the first, then counts both)."""
    pair = await _pair(bot)
    await complete_sessions(bot, pair, before)
    postgres = bot.factory.kw["bind"].dialect.name == "postgresql"
    inserted = [asyncio.Event(), asyncio.Event()]

    async def complete(me: int) -> list[str]:
        async with bot.uow() as uow:
            community = await uow.session.get(Community, pair.community)
            assert community is not None
            uow.session.add(completed_session(uow, pair))
            await uow.session.flush()
            if postgres:
                # Both sessions are written, neither committed, before either counts.
                inserted[me].set()
                await inserted[1 - me].wait()
            got = await award_badges(uow, community, [pair.mentor_member], ("completed_sessions",))
            await uow.commit()
            return [a.badge.key for a in got]

    results = await asyncio.gather(complete(0), complete(1))
    wanted = "first_mentor_session" if before == 0 else "dedicated_mentor"
    assert sorted(k for r in results for k in r) == [wanted]
    assert await role_grants(bot.factory, wanted) == 1
    assert wanted in await awards(bot.factory, pair.mentor_member)


async def test_badges_progress_shows_how_far_to_the_next(bot: Mentorbot) -> None:
    pair = await _pair(bot)
    await complete_sessions(bot, pair, 7)
    reply = await bot.execute(inv("alice"), "mentor badges", {})
    assert reply is not None
    assert reply.message is not None
    text = " ".join(f.value for f in reply.message.fields)
    assert "First Mentor Session" in text
    assert "7 of 10 completed sessions to **Dedicated Mentor**" in text
    theirs = await bot.execute(inv("alice"), "mentor badges", {"member": "dave"})
    assert theirs is not None
    assert theirs.message is not None
    assert theirs.message.title == "dave's badges"
    assert "Mentorship Started" in theirs.message.fields[0].value


async def test_turning_badges_on_awards_history_with_one_summary(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    admin = inv("owner", admin=True)
    await bot.execute(admin, "admin setup", {"admin_role": "A", "admin_channel": "adm"})
    await bot.execute(admin, "admin setup", {"badges": "no", "announcement_channel": "news"})
    pair = await _pair(bot)
    await complete_sessions(bot, pair, 2)
    assert await awards(factory, pair.mentor_member) == []
    await bot.execute(admin, "admin setup", {"badges": "yes"})
    async with bot.uow() as uow:
        uow.settings = CoreSettings(badge_batch=1)  # a batch per member: several passes
        while await backfill_step(uow):
            pass
        await uow.commit()
    assert await awards(factory, pair.mentor_member) == ["first_mentor_session"]
    assert await awards(factory, pair.mentee_member) == ["mentorship_started"]
    async with factory() as session:
        posts = (
            (await session.execute(select(Delivery.payload).where(Delivery.kind == "post")))
            .scalars()
            .all()
        )
    badge_posts = [p for p in posts if "badge" in p["message"]["text"].lower()]
    assert len(badge_posts) == 1
    assert "earned 2 badge(s)" in badge_posts[0]["message"]["text"]
    assert await role_grants(factory, "first_mentor_session") == 1


async def test_only_admins_sync_badge_roles(bot: Mentorbot) -> None:
    await _pair(bot)
    with pytest.raises(NotAllowed, match="only community admins"):
        await bot.execute(inv("dave"), "admin badges sync", {})


async def test_every_badge_is_declared_with_a_role_and_a_reachable_rule() -> None:
    assert len({b.key for b in BADGES}) == len(BADGES) == 9
    assert {b.audience for b in BADGES} == {"mentor", "mentee"}
    assert BY_KEY["dedicated_mentor"].needs(CoreSettings()) == 10
    assert BY_KEY["peer_supporter"].needs(CoreSettings(peer_supporter_replies=4)) == 4


async def test_the_daily_sync_regrants_each_award_once_a_day(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    pair = await _pair(bot)
    await complete_sessions(bot, pair, 1)
    assert await bot.sync_badge_roles() == 2  # Mentorship Started, First Mentor Session
    assert await bot.sync_badge_roles() == 0  # done for today
    assert await role_grants(factory, "mentorship_started") == 2
    clock.advance(days=1)
    assert await bot.sync_badge_roles() == 2


async def test_app_home_shows_earned_badges(bot: Mentorbot) -> None:
    await _pair(bot)
    home = await bot.home(inv("dave"))
    assert any(f.name == "Badges" and "Mentorship Started" in f.value for f in home.fields)


async def test_during_a_backfill_only_members_it_reached_earn_badges_live(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    pair = await _pair(bot)
    for reached, expected in (("", []), (pair.mentor_member, ["first_mentor_session"])):
        async with bot.uow() as uow:
            community = await uow.session.get(Community, pair.community)
            assert community is not None
            community.settings = {**community.settings, BACKFILL_CURSOR: reached}
            await uow.commit()
        got = await complete_sessions(bot, pair, 1)
        assert got == expected
