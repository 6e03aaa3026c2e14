"""Outages and refusals: nothing dropped, admins told once, failed effects retried by an admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.clock import FakeClock
from core.effects import DirectMessage, Reminder
from core.errors import NotAllowed, NotFound
from core.messages import Message
from core.models import AuditEntry, Community, Delivery
from core.ports import PermanentFailure
from core.uow import UnitOfWork
from tests.core.delivery_kit import (
    community,
    dispatcher,
    queue,
    queue_effects,
    recording_port,
    rows,
    texts,
)
from tests.helpers import count, snapshot

Factory = async_sessionmaker[AsyncSession]


async def test_a_ten_minute_outage_loses_nothing_and_tells_the_admins_twice(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    start = clock.now()
    port, shown = recording_port(clock)
    port.down_until = start + timedelta(minutes=10)
    d = dispatcher(factory, port, clock)
    # Effects keep arriving during the outage.
    for minute in range(10):
        await queue(factory, clock, c.id, f"m{minute}", user=f"u{minute % 3}")
        for _ in range(12):
            await d.drain()
            clock.advance(seconds=5)
    assert texts(shown) == []
    while clock.now() < start + timedelta(minutes=30):
        await d.drain()
        clock.advance(seconds=5)

    assert sorted(texts(shown)) == [f"m{n}" for n in range(10)]  # each exactly once
    notices = [s.message.title for s in shown if s.channel == "admins"]
    assert notices == ["Delivery is degraded", "Delivery has recovered"]
    assert {r.status for r in await rows(factory)} == {"sent"}


async def test_a_reminder_held_past_its_moment_is_sent_marked_late(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    at = clock.now() + timedelta(minutes=15)
    await queue_effects(factory, clock, c.id, ("rem", Reminder("alice", Message(text="soon"), at)))
    port, shown = recording_port()
    d = dispatcher(factory, port, clock)
    clock.advance(hours=1)  # the bot was down when it fell due
    await d.drain()
    [sent] = [s.message for s in shown]
    assert sent.text == "soon"
    assert "Sent late" in (sent.footer or "")


async def test_a_dm_no_longer_useful_is_recorded_as_expired_not_sent(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "stale")
    port, shown = recording_port()
    clock.advance(days=4)
    await dispatcher(factory, port, clock).drain()
    [row] = await rows(factory)
    assert row.status == "expired"
    assert "no longer useful" in (row.last_error or "")
    assert shown == []


async def _failed_dm(factory: Factory, clock: FakeClock, console: ConsoleBot) -> Community:
    await console.say("as @owner --admin")
    await console.say("/admin setup admin_role:@Admins admin_channel:#mentor-admin")
    async with factory() as session:
        c = (await session.execute(select(Community))).scalar_one()
    async with UnitOfWork(factory, clock) as uow:
        await uow.outbox.add(c.id, DirectMessage("alice", Message(text="welcome")), key="w")
        await uow.commit()
    console.port.fail_next(
        PermanentFailure("403 Missing Access", missing_permission="Send Messages")
    )
    await console.deliver()
    return c


async def test_a_permanent_failure_is_shown_to_admins_and_the_retry_button_sends_it(
    factory: Factory, clock: FakeClock, console: ConsoleBot
) -> None:
    await _failed_dm(factory, clock, console)
    admin_notices = [s for s in console.shown if s.channel == "mentor-admin"]
    assert len(admin_notices) == 1  # told once
    assert "Send Messages" in admin_notices[0].message.text

    out = "\n".join(await console.say("/admin deliveries"))
    assert "Failed" in out
    assert "1 × 403 Missing Access" in out
    out = "\n".join(await console.say("click Retry failed"))
    assert "Retrying 1 failed" in out
    await console.deliver()
    assert [s.message.text for s in console.shown if s.audience == "alice"] == ["welcome"]
    assert await count(factory, Delivery, status="failed") == 0
    assert await count(factory, AuditEntry, action="deliveries.retry") == 1


async def test_only_admins_see_deliveries_and_a_forged_retry_changes_nothing(
    factory: Factory, clock: FakeClock, console: ConsoleBot
) -> None:
    await _failed_dm(factory, clock, console)
    before = await snapshot(factory)
    out = "\n".join(await console.say("as @mallory") + await console.say("/admin deliveries"))
    assert "only community admins" in out
    failed_id = (await rows(factory))[0].id
    # A non-admin pressing a real retry button, and an admin pressing a forged one.
    with pytest.raises(NotAllowed, match="only community admins"):
        await console.service.press(console._invocation(), f"mb:deliveries-retry:{failed_id}")
    await console.say("as @owner")
    with pytest.raises(NotFound):
        await console.service.press(console._invocation(), "mb:deliveries-retry:999999")
    with pytest.raises(NotFound):
        await console.service.press(console._invocation(), "mb:deliveries-retry:abc")
    # Another community's failed delivery: refused exactly like an unknown id.
    other = await community(factory, clock, "elsewhere")
    await queue(factory, clock, other.id, "theirs")
    port, _ = recording_port()
    port.fail_next(PermanentFailure("403"))
    await dispatcher(factory, port, clock).drain()
    theirs = [r for r in await rows(factory) if r.community_id == other.id]
    assert [r.status for r in theirs] == ["failed"]
    before = await snapshot(factory)
    with pytest.raises(NotFound):
        await console.service.press(console._invocation(), f"mb:deliveries-retry:{theirs[0].id}")
    assert await snapshot(factory) == before
