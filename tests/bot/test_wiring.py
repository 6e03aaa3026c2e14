"""The scheduler is the clock, not the store: it wakes the dispatcher under a fixed job id."""

from __future__ import annotations

import asyncio
import gc

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.port import ConsolePort, Shown
from bot.config import Config, DeliveryConfig
from bot.wiring import (
    DISPATCHER_JOB_ID,
    GC_OLDEST_EVERY,
    build_dispatcher,
    settle_memory,
    start_scheduler,
)
from core.clock import SystemClock
from core.effects import DirectMessage
from core.messages import Message
from core.service import Mentorbot
from core.uow import UnitOfWork


async def test_the_scheduler_wakes_the_dispatcher_which_delivers_due_effects(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = SystemClock()
    shown: list[Shown] = []
    delivered = asyncio.Event()

    def on_shown(item: Shown) -> None:
        shown.append(item)
        delivered.set()

    port = ConsolePort(emit=on_shown, emit_line=lambda _line: None)
    config = Config(delivery=DeliveryConfig(poll_seconds=0.05))
    dispatcher = build_dispatcher(factory, {"console": port}, config, clock)
    community = await Mentorbot(factory, clock).join_community("console", "c")
    scheduler = start_scheduler(dispatcher, config)
    try:
        job = scheduler.get_job(DISPATCHER_JOB_ID)
        assert job is not None
        assert job.max_instances == 1
        # Starting twice replaces the job instead of adding a second one.
        scheduler.add_job(
            dispatcher.run_pending,
            "interval",
            seconds=1,
            id=DISPATCHER_JOB_ID,
            replace_existing=True,
        )
        assert len(scheduler.get_jobs()) == 1
        async with UnitOfWork(factory, clock) as uow:
            await uow.outbox.add(community.id, DirectMessage("ann", Message(text="hi")), key="k")
            await uow.commit()
        await asyncio.wait_for(delivered.wait(), timeout=10)
    finally:
        scheduler.shutdown(wait=False)
        await dispatcher.stop()
    assert [s.message.text for s in shown] == ["hi"]


async def test_a_commit_that_queues_effects_wakes_the_dispatcher(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = SystemClock()
    shown: list[Shown] = []
    port = ConsolePort(emit=shown.append, emit_line=lambda _line: None)
    dispatcher = build_dispatcher(factory, {"console": port}, Config(), clock)
    service = Mentorbot(factory, clock, on_effects=dispatcher.wake)
    community = await service.join_community("console", "c")
    async with service.uow() as uow:
        await uow.outbox.add(community.id, DirectMessage("ann", Message(text="now")), key="k")
        await uow.commit()
    await dispatcher.wait_idle()
    assert [s.message.text for s in shown] == ["now"]
    await dispatcher.stop()
    assert await dispatcher.run_pending() == 0  # stopped: no new passes


def test_settling_keeps_start_up_objects_out_of_later_collections() -> None:
    before = gc.get_threshold()
    started_with: list[str] = []  # alive when the bot is up (a list is tracked by the GC)
    try:
        settle_memory()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] == GC_OLDEST_EVERY
        # Frozen: not among the objects a collection of the oldest generation walks.
        assert all(o is not started_with for o in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
