"""Issue 10 item 7: housekeeping prunes dedupe records, pending relays and routes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.models import (
    Community,
    Member,
    Mentee,
    Mentor,
    Mentorship,
    MessageRoute,
    PendingRelay,
    ProcessedEvent,
)
from core.service import Mentorbot
from core.settings import CoreSettings
from tests.helpers import count


async def _seed(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    """For each table: rows just past retention ("old-") and just inside it ("new-")."""
    now = clock.now()
    s = CoreSettings()
    async with factory() as session, session.begin():
        community = Community(platform="console", platform_id="g", name="G")
        session.add(community)
        await session.flush()
        mentor_member = Member(community_id=community.id, platform_user_id="m")
        mentee_member = Member(community_id=community.id, platform_user_id="e")
        session.add_all([mentor_member, mentee_member])
        await session.flush()
        mentor = Mentor(
            community_id=community.id,
            user_id=mentor_member.id,
            bio="b",
            availability=4,
            preferred_style="async",
            application_date=now,
            status="active",
        )
        mentee = Mentee(community_id=community.id, user_id=mentee_member.id)
        session.add_all([mentor, mentee])
        await session.flush()
        ms = Mentorship(
            community_id=community.id,
            mentor_id=mentor.id,
            mentee_id=mentee.id,
            requested_at=now,
        )
        session.add(ms)
        await session.flush()
        for prefix, age in (("old", 1), ("new", -1)):
            # ``age`` hours beyond (1) or within (-1) each table's retention.
            def when(days: int, age: int = age) -> datetime:
                return now - timedelta(days=days, hours=age)

            for i in range(3):
                session.add(
                    ProcessedEvent(key=f"{prefix}-{i}", created_at=when(s.dedupe_retention_days))
                )
                session.add(
                    PendingRelay(
                        community_id=community.id,
                        member_id=mentee_member.id,
                        content=f"{prefix}-{i}",
                        created_at=when(s.pending_relay_retention_days),
                    )
                )
                session.add(
                    MessageRoute(
                        community_id=community.id,
                        mentorship_id=ms.id,
                        recipient_id=mentor_member.id,
                        platform_message_id=f"{prefix}-{i}",
                        created_at=when(s.route_retention_days),
                    )
                )


async def _left(factory: async_sessionmaker[AsyncSession]) -> tuple[list[str], ...]:
    async with factory() as session:
        events = (await session.execute(select(ProcessedEvent.key))).scalars()
        relays = (await session.execute(select(PendingRelay.content))).scalars()
        routes = (await session.execute(select(MessageRoute.platform_message_id))).scalars()
        return sorted(events), sorted(relays), sorted(routes)


async def test_housekeeping_deletes_rows_past_retention_and_keeps_recent_ones(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(factory, clock)
    bot = Mentorbot(factory, clock)

    assert await bot.housekeeping() == (0, 0)

    recent = ["new-0", "new-1", "new-2"]
    assert await _left(factory) == (recent, recent, recent)
    assert await count(factory, Mentorship) == 1  # nothing else is touched


async def test_pruning_goes_in_batches_and_a_pass_is_bounded(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(factory, clock)
    # Batches of 2, at most one batch a pass: 3 old rows per table take two passes.
    bot = Mentorbot(factory, clock, settings=replace(CoreSettings(), prune_batch=2))
    bot.settings = replace(bot.settings, prune_max_batches=1)

    first = await bot.prune()
    assert (first.dedupe, first.pending_relays, first.routes) == (2, 2, 2)
    assert await count(factory, ProcessedEvent) == 4

    second = await bot.prune()
    assert (second.dedupe, second.pending_relays, second.routes) == (1, 1, 1)
    recent = ["new-0", "new-1", "new-2"]
    assert await _left(factory) == (recent, recent, recent)
    assert (await bot.prune()).total() == 0


async def test_retention_is_a_setting(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _seed(factory, clock)
    clock.advance(days=400)  # everything is old now, but routes are kept for 1000 days
    bot = Mentorbot(factory, clock, settings=replace(CoreSettings(), route_retention_days=1000))

    await bot.housekeeping()

    events, relays, routes = await _left(factory)
    assert events == []
    assert relays == []
    assert len(routes) == 6
