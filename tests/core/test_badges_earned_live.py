"""Badges earn from the features that produce them, in the same transaction: a held
session (First Mentor Session, and a review invite with ``review_after_sessions``), a
group created (Group Facilitator) and replies in a group post's thread (Peer Supporter)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.models import Delivery, MentorSession, SupportGroupPost
from core.service import Mentorbot
from core.settings import CoreSettings
from tests.core.test_badges import _pair, awards
from tests.core.test_connections import inv


async def test_a_held_session_awards_its_mentor_and_invites_a_review(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    bot = Mentorbot(factory, clock, settings=CoreSettings(review_after_sessions=True))
    pair = await _pair(bot)
    when = (clock.now() + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    made = await bot.execute(
        inv("dave"), "session schedule", {"person": "alice", "title": "Budget", "when": when}
    )
    assert made is not None
    assert made.message is not None
    assert made.message.tone == "success"
    async with factory() as s:
        session_id = (await s.execute(select(MentorSession.id))).scalar_one()
    assert "first_mentor_session" not in await awards(factory, pair.mentor_member)
    clock.advance(days=2, hours=1)
    await bot.execute(inv("dave"), "session complete", {"session": session_id})
    assert "first_mentor_session" in await awards(factory, pair.mentor_member)
    async with factory() as s:
        keys = (
            await s.execute(select(Delivery.idempotency_key).where(Delivery.kind == "dm"))
        ).scalars()
        invites = [k for k in keys if "review" in k and session_id in k]
    assert len(invites) == 1, invites


async def test_creating_a_group_awards_its_facilitator_and_replies_count_for_peers(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    bot = Mentorbot(factory, clock, settings=CoreSettings(peer_supporter_replies=2))
    pair = await _pair(bot)
    owner = inv("owner", admin=True)
    created = await bot.execute(
        owner,
        "group create",
        {
            "name": "New givers",
            "type": "new_givers",
            "facilitator": "alice",
            "frequency": "weekly",
            "day": "monday",
            "time": "18:00",
            "timezone": "UTC",
        },
    )
    assert created is not None
    assert created.message is not None
    assert created.message.tone == "success", created.message.text
    assert "group_facilitator" in await awards(factory, pair.mentor_member)

    await bot.execute(inv("dave"), "group join", {"group": "New givers"})
    await bot.execute(inv("alice"), "group post", {"group": "New givers", "text": "How was it?"})
    async with factory() as s:
        post = (await s.execute(select(SupportGroupPost))).scalar_one()
        post.platform_thread_id = "thread-1"  # as delivery records it once posted
        await s.commit()
    dave = inv("dave")
    for day in range(2):
        assert await bot.group_thread_reply(dave, "thread-1", f"Day {day}: it went well")
        assert ("peer_supporter" in await awards(factory, pair.mentee_member)) == (day == 1)
        clock.advance(days=1)
