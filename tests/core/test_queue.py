"""The delivery queue's statements on the bare driver (core.queue) agree with SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiosqlite import core as aiosqlite_core
from sqlalchemy import select, text
from sqlalchemy.dialects.sqlite import aiosqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db, queue
from core.clock import FakeClock
from core.delivery import DeliverySettings, Dispatcher
from core.effects import DirectMessage, Reminder, load
from core.messages import Message
from core.models import Community, Delivery
from core.models.base import UTCDateTime
from core.uow import DUMP_ON_THREAD, UnitOfWork
from tests.conftest import PG_URL


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # no microseconds: still written out
        datetime(2026, 3, 29, 3, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_a_time_is_written_as_sqlalchemy_writes_it_on_sqlite(moment: datetime) -> None:
    # Rows are compared as text on SQLite, so both writers must agree to the character.
    dialect = aiosqlite.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert queue.sqlite_time(moment) == process(moment)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        queue.sqlite_time(datetime(2026, 1, 1))


async def test_an_effect_queued_on_the_driver_reads_back_through_the_orm(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    at = clock.now() + timedelta(days=2)
    async with factory() as session, session.begin():
        community = Community(platform="console", platform_id="g1", name="G")
        session.add(community)
    due = at - timedelta(hours=1, microseconds=7)
    reminder = Reminder("ann", Message(text="soon", title="Session"), at)
    async with UnitOfWork(factory, clock) as uow:
        assert await uow.outbox.add(community.id, reminder, key="r1", due_at=due, group_key="s")
        assert not await uow.outbox.add(community.id, reminder, key="r1", due_at=due)
        await uow.commit()
    async with factory() as session:
        row = (await session.execute(select(Delivery))).scalar_one()
    assert (row.kind, row.idempotency_key, row.group_key) == ("reminder", "r1", "s")
    assert (row.status, row.attempts, row.destination) == ("pending", 0, "user:ann")
    assert row.due_at == due
    assert row.created_at == clock.now()
    assert row.result is None


@pytest.mark.parametrize("how_many", [DUMP_ON_THREAD - 1, DUMP_ON_THREAD + 1])
async def test_a_batch_of_effects_is_queued_with_each_ones_own_payload(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, how_many: int
) -> None:
    # From DUMP_ON_THREAD effects on, the payloads are dumped on a thread: same rows.
    async with factory() as session, session.begin():
        community = Community(platform="console", platform_id="g1", name="G")
        session.add(community)
    at = clock.now() + timedelta(days=1)
    effects = [
        (Reminder(f"u{n}", Message(text=f"note {n}", title="Session"), at), f"k{n}")
        for n in range(how_many)
    ]
    async with UnitOfWork(factory, clock) as uow:
        assert await uow.outbox.add_many(community.id, effects) == how_many
        await uow.commit()
    async with factory() as session:
        rows = (await session.execute(select(Delivery))).scalars().all()
    queued = {row.idempotency_key: load(row.kind, row.payload) for row in rows}
    assert queued == {key: effect for effect, key in effects}


async def test_a_write_that_cannot_get_the_lock_fails_as_sqlalchemy_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    holder, waiter = db.create_engine(url), db.create_engine(url)
    try:
        async with holder.begin() as holding:
            await holding.execute(text("CREATE TABLE t (x INTEGER)"))
            with pytest.raises(OperationalError, match="locked"):
                async with db.session_factory(waiter)() as session, session.begin():
                    await session.execute(text("SELECT 1"))
    finally:
        await holder.dispose()
        await waiter.dispose()


sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite's driver thread")


@sqlite_only
async def test_a_batch_transaction_is_one_trip_to_the_driver_thread(
    database_url: str, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    # Begin, the last batch's marks, the next claim, its communities and the commit go
    # to aiosqlite's thread together: a hand-off costs more than SQLite's own work here.
    await _community_with_dms(factory, clock, 25)
    port = _CountingPort()
    dispatcher = Dispatcher(factory, {"console": port}, clock, DeliverySettings(batch_size=10))
    trips = 0
    original = aiosqlite_core.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await original(self, fn, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aiosqlite_core.Connection, "_execute", counted)
        assert await dispatcher.drain() == 25
    # Batches of 10, 10 and 5: the first claim, then each batch's marks with the next
    # claim (the last finding nothing).
    assert (trips, port.sent) == (4, 25)
    async with factory() as session:
        statuses = (await session.execute(select(Delivery.status))).scalars().all()
    assert statuses == ["sent"] * 25


@sqlite_only
async def test_a_gathered_statement_that_fails_is_named_and_nothing_of_its_trip_stays(
    database_url: str, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with factory() as session, session.begin():
        session.add(Community(platform="console", platform_id="g1", name="Before"))
    engine = db.create_engine(database_url)
    try:
        pooled = await engine.raw_connection()
        try:
            conn = queue.on_driver("sqlite", pooled.driver_connection)
            await conn.begin()
            await conn.executemany("UPDATE communities SET name = ?", [("After",)])
            with pytest.raises(OperationalError, match="no_such_table") as raised:
                await conn.fetch("SELECT * FROM no_such_table", ())
            assert raised.value.statement == "SELECT * FROM no_such_table"
            await conn.rollback()
            assert not pooled.driver_connection.in_transaction
        finally:
            pooled.close()
    finally:
        await engine.dispose()
    async with factory() as session:
        assert (await session.execute(select(Community.name))).scalar_one() == "Before"


@sqlite_only
async def test_a_claim_sent_as_the_last_statement_commits_and_nothing_may_follow(
    database_url: str, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    community = await _community_with_dms(factory, clock, 1)
    engine = db.create_engine(database_url)
    now = clock.now()
    params = ("w1", queue.sqlite_time(now + timedelta(seconds=4)), queue.sqlite_time(now), 10)
    try:
        pooled = await engine.raw_connection()
        try:
            conn = queue.on_driver("sqlite", pooled.driver_connection)
            await conn.begin()
            rows, communities = await conn.claim(queue.SQLITE.claim, params, last=True)
            assert [r[5] for r in rows] == ["k0"]
            assert [c[0] for c in communities] == [community.id]
            assert not pooled.driver_connection.in_transaction  # committed with it
            with pytest.raises(RuntimeError, match="after the transaction was committed"):
                await conn.execute("DELETE FROM deliveries", ())
            await conn.commit()  # the transaction's end: nothing left to do
        finally:
            pooled.close()
    finally:
        await engine.dispose()
    async with factory() as session:
        row = (await session.execute(select(Delivery))).scalar_one()
    assert row.claimed_by == "w1"


async def _community_with_dms(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, count: int
) -> Community:
    """A community with ``count`` DMs queued (keys k0, k1, ...)."""
    async with factory() as session, session.begin():
        community = Community(platform="console", platform_id="g1", name="G")
        session.add(community)
    async with UnitOfWork(factory, clock) as uow:
        for n in range(count):
            await uow.outbox.add(
                community.id, DirectMessage(f"u{n}", Message(text="hi")), key=f"k{n}"
            )
        await uow.commit()
    return community


class _CountingPort:
    platform = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send_dm(
        self, target: Any, user_id: str, message: Any, thread: Any, attempt: Any
    ) -> Any:
        self.sent += 1
        return {}
