"""Issue 8 item 12: a reopened request keeps its created_at; expiry and nudges read requested_at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.clock import FakeClock
from core.models import Delivery, Mentorship
from core.service import Mentorbot
from tests.core.test_connections import approved_mentor, inv, mentee, request


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


async def _mentorship(factory: async_sessionmaker[AsyncSession], ms_id: str) -> Mentorship:
    async with factory() as session:
        found = await session.get(Mentorship, ms_id)
    assert found is not None
    return found


async def _keys(factory: async_sessionmaker[AsyncSession], prefix: str) -> list[str]:
    async with factory() as session:
        keys = (await session.execute(select(Delivery.idempotency_key))).scalars().all()
    return sorted(k for k in keys if k.startswith(prefix))


async def test_asking_again_after_a_decline_keeps_created_at_and_restarts_requested_at(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    first_asked = clock.now()
    ms_id = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("decline", ms_id, "1"))
    clock.advance(days=2)

    assert await request(bot, "dave", mentor_id) == ms_id

    ms = await _mentorship(factory, ms_id)
    assert ms.created_at == first_asked
    assert ms.requested_at == clock.now()
    assert (ms.status, ms.request_version) == ("pending", 2)


async def test_a_reopened_request_is_nudged_and_expires_by_when_it_was_asked_again(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    first_asked = clock.now()
    ms_id = await request(bot, "dave", mentor_id)
    clock.advance(days=3, minutes=1)
    assert await bot.housekeeping() == (1, 0)
    clock.advance(days=4)
    assert await bot.housekeeping() == (0, 1)
    clock.advance(days=1)

    assert await request(bot, "dave", mentor_id) == ms_id
    # Eight days after created_at, but just asked again: neither nudged nor expired.
    assert await bot.housekeeping() == (0, 0)
    ms = await _mentorship(factory, ms_id)
    assert ms.status == "pending"
    assert ms.created_at == first_asked
    assert ms.requested_at - ms.created_at == timedelta(days=8, minutes=1)

    clock.advance(days=3, minutes=1)
    assert await bot.housekeeping() == (1, 0)  # nudged again: this is a new request
    clock.advance(days=4)
    assert await bot.housekeeping() == (0, 1)
    assert (await _mentorship(factory, ms_id)).status == "expired"
    assert await _keys(factory, f"nudge:{ms_id}:") == [
        f"nudge:{ms_id}:1:alice",
        f"nudge:{ms_id}:2:alice",
    ]
    assert await _keys(factory, f"expired:{ms_id}:") == [
        f"expired:{ms_id}:1:mentee",
        f"expired:{ms_id}:2:mentee",
    ]
