"""The delivery queue: effects are sent once, survive failures and dead dispatchers."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.port import ConsolePort, Shown
from core import db
from core.clock import FakeClock
from core.delivery import DeliverySettings, Dispatcher
from core.effects import DirectMessage, GrantRole
from core.messages import Message
from core.models import Community, Delivery
from core.ports import PermanentFailure, RetryLater
from core.service import Mentorbot
from core.uow import UnitOfWork


def _port() -> tuple[ConsolePort, list[Shown]]:
    shown: list[Shown] = []
    return ConsolePort(emit=shown.append, emit_line=lambda _line: None), shown


async def _community(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Community:
    community = await Mentorbot(factory, clock).join_community("console", "c1", "Test")
    async with UnitOfWork(factory, clock) as uow:
        row = await uow.session.get(Community, community.id)
        assert row is not None
        row.admin_channel_id = "admins"
        await uow.commit()
    return community


async def _queue(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, community_id: str, *keys: str
) -> None:
    async with UnitOfWork(factory, clock) as uow:
        for key in keys:
            await uow.outbox.add(community_id, DirectMessage("alice", Message(text=key)), key=key)
        await uow.commit()


async def _rows(factory: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with factory() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


def _dispatcher(
    factory: async_sessionmaker[AsyncSession],
    port: ConsolePort,
    clock: FakeClock,
    **settings: float,
) -> Dispatcher:
    return Dispatcher(
        factory,
        {"console": port},
        clock,
        DeliverySettings(**settings),  # type: ignore[arg-type]
        rng=random.Random(7),
    )


async def test_a_failed_send_is_retried_after_retry_after_and_delivered_once(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    await _queue(factory, clock, community.id, "hello")
    port, shown = _port()
    port.fail_next(RetryLater("429 rate limited", retry_after=30))
    dispatcher = _dispatcher(factory, port, clock)

    assert await dispatcher.run_once() == 1
    [row] = await _rows(factory)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.due_at >= clock.now() + timedelta(seconds=30)
    assert "429" in (row.last_error or "")

    assert await dispatcher.run_once() == 0  # not due yet
    clock.advance(seconds=31)
    assert await dispatcher.run_once() == 1
    [row] = await _rows(factory)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, clock.now())
    assert [s.message.text for s in shown] == ["hello"]
    assert await dispatcher.drain() == 0


async def test_backoff_grows_and_the_effect_is_given_up_after_max_attempts(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    await _queue(factory, clock, community.id, "doomed")
    port, shown = _port()
    port.fail_next(*(RetryLater("503") for _ in range(3)))
    dispatcher = _dispatcher(factory, port, clock, max_attempts=3, base_backoff_seconds=10)

    delays = []
    for _ in range(2):
        await dispatcher.run_once()
        [row] = await _rows(factory)
        delays.append((row.due_at - clock.now()).total_seconds())
        clock.advance(seconds=3600)
    await dispatcher.run_once()
    [row] = await _rows(factory)
    assert row.status == "failed"
    assert row.attempts == 3
    assert shown == []
    assert 5 <= delays[0] <= 10  # base * 2^0 with jitter in [0.5, 1]
    assert 10 <= delays[1] <= 20  # base * 2^1 with jitter


async def test_an_unexpected_port_error_is_retried(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    await _queue(factory, clock, community.id, "x")
    port, shown = _port()
    port.fail_next(ConnectionResetError("peer went away"))
    dispatcher = _dispatcher(factory, port, clock)
    await dispatcher.run_once()
    clock.advance(seconds=60)
    await dispatcher.run_once()
    assert [s.message.text for s in shown] == ["x"]
    [row] = await _rows(factory)
    assert row.status == "sent"


async def test_a_dispatcher_that_dies_after_claiming_leaves_the_row_to_the_next(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    await _queue(factory, clock, community.id, "survivor")
    dead_port, dead_shown = _port()
    dead = _dispatcher(factory, dead_port, clock, lease_seconds=120)
    claimed = await dead._claim()  # claims, then "crashes" before delivering
    assert len(claimed) == 1

    port, shown = _port()
    alive = _dispatcher(factory, port, clock, lease_seconds=120)
    assert await alive.run_once() == 0  # still leased to the dead one
    clock.advance(seconds=121)
    assert await alive.run_once() == 1
    assert [s.message.text for s in shown] == ["survivor"]
    assert dead_shown == []
    [row] = await _rows(factory)
    assert (row.status, row.claimed_by) == ("sent", None)


async def test_the_same_idempotency_key_is_queued_once(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    await _queue(factory, clock, community.id, "k1", "k1")
    await _queue(factory, clock, community.id, "k1")
    assert len(await _rows(factory)) == 1


async def test_effects_roll_back_with_the_change_that_caused_them(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)

    async def failing_use_case() -> None:
        async with UnitOfWork(factory, clock) as uow:
            await uow.outbox.add(community.id, DirectMessage("a", Message(text="x")), key="k")
            raise RuntimeError("the use case failed half-way")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await _rows(factory) == []


async def test_a_missing_permission_is_reported_once_to_the_admin_channel(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    async with UnitOfWork(factory, clock) as uow:
        for user in ("alice", "bob"):
            await uow.outbox.add(community.id, GrantRole(user, "mentor"), key=f"grant:{user}")
        await uow.commit()
    port, shown = _port()
    denied = PermanentFailure("403 Missing Permissions", missing_permission="Manage Roles")
    port.fail_next(denied, denied)
    await _dispatcher(factory, port, clock).drain()
    statuses = [r.status for r in await _rows(factory)]
    assert statuses == ["failed", "failed", "sent"]
    reports = [s for s in shown if s.channel == "admins"]
    assert len(reports) == 1
    assert "Manage Roles" in reports[0].message.text


async def test_the_role_id_a_port_returns_is_remembered(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    async with UnitOfWork(factory, clock) as uow:
        await uow.outbox.add(community.id, GrantRole("alice", "mentor"), key="g")
        await uow.commit()
    port, _ = _port()
    await _dispatcher(factory, port, clock).drain()
    async with factory() as session:
        row = await session.get(Community, community.id)
    assert row is not None
    assert row.roles["mentor"] == {"name": "Mentor", "id": "Mentor"}
    assert port.roles == {"alice": {"Mentor"}}


async def test_two_dispatchers_deliver_1000_effects_with_no_duplicate_and_none_missing(
    database_url: str, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community(factory, clock)
    async with UnitOfWork(factory, clock) as uow:
        for n in range(1000):
            await uow.outbox.add(
                community.id, DirectMessage(f"u{n}", Message(text=str(n))), key=f"bulk:{n}"
            )
        await uow.commit()

    delivered: list[str] = []

    class SlowPort(ConsolePort):
        async def send_dm(self, target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0)  # let the other dispatcher run between sends
            delivered.append(message.text)
            return {"message_id": message.text}

    engines = [db.create_engine(database_url) for _ in range(2)]
    try:
        dispatchers = [
            Dispatcher(
                db.session_factory(engine),
                {"console": SlowPort(emit=lambda _s: None, emit_line=lambda _l: None)},
                clock,
                DeliverySettings(batch_size=25),
                worker_id=f"worker-{i}",
            )
            for i, engine in enumerate(engines)
        ]
        counts = await asyncio.gather(*(d.drain() for d in dispatchers))
    finally:
        for engine in engines:
            await engine.dispose()

    assert sorted(delivered, key=int) == [str(n) for n in range(1000)]
    assert len(set(delivered)) == 1000
    assert sum(counts) == 1000
    rows = await _rows(factory)
    assert {r.status for r in rows} == {"sent"}
