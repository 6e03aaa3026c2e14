"""Uninstalled communities (issue 16): deliveries stop at once, the data goes after the
grace period unless the app is installed again, and no table holding community data is
missed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core import db
from core.clock import FakeClock
from core.effects import DirectMessage
from core.messages import Message
from core.models import Community, Delivery
from core.usecases.community_erasure import erasure_tables
from tests.adapters.console.test_groups import CREATE, GROUP, SETUP, run

# Tables that hold no community's data: the communities themselves, and the bot's own
# bookkeeping (dedupe keys and state expire on their own; heartbeats are per process).
NOT_COMMUNITY_DATA = {"communities", "bot_state", "processed_events", "dispatchers"}
ERASED = "erased-workspace"


async def _schema(factory: async_sessionmaker[AsyncSession]) -> dict[str, set[str]]:
    """Table → columns, as the migrated database has them (not as the models say)."""

    def read(conn: Connection) -> dict[str, set[str]]:
        found = inspect(conn)
        return {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names()}

    async with factory() as session:
        conn = await session.connection()
        return await conn.run_sync(read)


async def test_every_table_of_the_schema_holding_community_data_is_erased(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    schema = await _schema(factory)
    schema.pop("alembic_version")
    with_community = {t for t, columns in schema.items() if "community_id" in columns}
    assert {t.name for t in erasure_tables()} == with_community
    # A table added without a community_id would hold data no erasure reaches.
    without = set(schema) - with_community - db.LIBRARY_TABLES
    assert without == NOT_COMMUNITY_DATA, "add community_id, or list it here with why"


async def _seed(console: ConsoleBot, clock: FakeClock) -> None:
    """A community with a bit of everything: setup, a mentor, a mentorship with a goal and
    a session, a support group with a post, a message and queued deliveries."""
    await run(console, "as @owner --admin", SETUP, "as @fran", "/mentor help", "as @owner", CREATE)
    await run(
        console,
        "as @alice",
        '/mentor apply bio:"Alice has mentored newcomers for years." expertise:giving '
        "availability:10 max_mentees:5 style:async languages:en timezone:UTC",
        "as @owner",
        "click Approve",
        "as @dave",
        "/mentee profile goals:learn_giving languages:en timezone:UTC",
        "/mentor request mentor:@alice",
        "as @alice",
        "click Accept",
        "as @dave",
        '/goal add person:@alice title:"Fund a first loan" target_date:2027-01-15 '
        'milestones:"Read the guide;Pick a borrower"',
        'click "Read the guide"',
        '/session schedule person:@alice title:"Budget" when:"2026-03-20 10:00" duration:60',
        "as @amy",
        f"/group join {GROUP}",
        "as @fran",
        f'/group post {GROUP} text:"How was your week?" pin:yes',
    )


async def _rows(
    factory: async_sessionmaker[AsyncSession], community_id: str
) -> dict[str, list[tuple[Any, ...]]]:
    """The community's rows in every table holding community data."""
    found = {}
    async with factory() as session:
        for table in erasure_tables():
            rows = await session.execute(
                select(table).where(table.c.community_id == community_id).order_by(*table.c)
            )
            found[table.name] = [tuple(map(repr, row)) for row in rows]
    return found


async def _two_communities(console: ConsoleBot, clock: FakeClock) -> tuple[str, str]:
    """The same community twice (the first renamed to ``ERASED``); returns both ids."""
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))
    await _seed(console, clock)
    factory = console.service.factory
    async with factory() as session, session.begin():
        first = (await session.execute(select(Community.id))).scalar_one()
        await session.execute(
            update(Community).where(Community.id == first).values(platform_id=ERASED)
        )
    await _seed(console, clock)
    async with factory() as session:
        second = (
            await session.execute(select(Community.id).where(Community.id != first))
        ).scalar_one()
    return first, second


async def test_an_uninstalled_community_stops_and_is_erased_after_the_grace_period(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    first, second = await _two_communities(console, clock)
    before = await _rows(factory, first)
    assert sum(1 for rows in before.values() if rows) >= 15, before
    kept = await _rows(factory, second)
    service = console.service

    async with factory() as session:
        pending = await session.scalar(
            select(Delivery.id).where(Delivery.community_id == first, Delivery.status == "pending")
        )
    assert pending is not None  # reminders and the like, still queued
    cancelled = await service.uninstall_community("console", ERASED, "app_uninstalled")
    assert cancelled
    assert await service.uninstall_community("console", ERASED, "app_uninstalled") == 0
    async with factory() as session:
        statuses = set(
            (
                await session.execute(
                    select(Delivery.status, Delivery.last_error).where(
                        Delivery.community_id == first,
                        Delivery.status.not_in(("sent", "expired")),
                    )
                )
            ).all()
        )
    assert statuses == {("cancelled", "uninstalled")}

    clock.advance(days=29, hours=23)
    assert await service.erase_uninstalled() == 0
    assert await _rows(factory, first) == {
        **before,
        "deliveries": (await _rows(factory, first))["deliveries"],
        "audit_log": (await _rows(factory, first))["audit_log"],
    }

    clock.advance(hours=2)
    service.settings = type(service.settings)(prune_batch=3)  # many short batches
    assert await service.erase_uninstalled() == 1
    assert all(rows == [] for rows in (await _rows(factory, first)).values())
    async with factory() as session:
        assert await session.get(Community, first) is None
    assert await _rows(factory, second) == kept


async def test_a_reinstall_reactivates_the_community_and_calls_the_erasure_off(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    first, _ = await _two_communities(console, clock)
    service = console.service
    await service.uninstall_community("console", ERASED, "tokens_revoked")
    clock.advance(days=10)
    community = await service.install_community("console", ERASED, "Back again")
    assert community.id == first
    assert community.uninstalled_at is None
    clock.advance(days=60)
    assert await service.erase_uninstalled() == 0
    rows = await _rows(factory, first)
    assert rows["mentorships"]
    assert rows["members"]
    actions = [r for r in rows["audit_log"] if "community.reinstalled" in " ".join(r)]
    assert actions


async def test_an_effect_queued_after_the_uninstall_is_cancelled_not_sent(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    first, _ = await _two_communities(console, clock)
    service = console.service
    await service.uninstall_community("console", ERASED, "app_uninstalled")
    async with service.uow() as uow:
        await uow.outbox.add(first, DirectMessage("dave", Message(text="late")), key="late-dm")
        await uow.commit()
    calls_before = len(console.port.calls)
    await console.dispatcher.drain()
    async with factory() as session:
        row = (
            await session.execute(select(Delivery).where(Delivery.idempotency_key == "late-dm"))
        ).scalar_one()
    assert (row.status, row.last_error, row.attempts) == ("cancelled", "uninstalled", 0)
    assert len(console.port.calls) == calls_before
