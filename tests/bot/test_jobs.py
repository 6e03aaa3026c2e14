"""Recurring jobs run only while this process leads, and continue the schedule they had."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.jobs import STATE_PREFIX, RecurringJob, RecurringJobs
from bot.wiring import BADGE_SYNC_JOB_ID, HOUSEKEEPING_JOB_ID, recurring_jobs
from core.clock import SystemClock
from core.leader import Leadership
from core.service import Mentorbot
from core.state import read_state, write_state


class Switch(Leadership):
    """A leadership the test turns on and off; ``holds`` is what the database would say."""

    def __init__(self) -> None:
        super().__init__()
        self.holds = True

    async def start(self) -> None:
        await self._become(True)

    async def confirm(self) -> bool:
        if self.leading and not self.holds:
            await self._become(False)
        return self.leading

    async def stop(self) -> None:
        await self._become(False)


@pytest.fixture
async def scheduler() -> AsyncIterator[AsyncIOScheduler]:
    s = AsyncIOScheduler(timezone="UTC")
    s.start()
    yield s
    s.shutdown(wait=False)


def _counting(runs: list[datetime], seconds: float = 3600) -> RecurringJob:
    async def job() -> None:
        runs.append(datetime.now(UTC))

    return RecurringJob("count", job, IntervalTrigger(seconds=seconds, timezone="UTC"))


def _jobs(
    scheduler: AsyncIOScheduler,
    job: RecurringJob,
    lead: Leadership,
    factory: async_sessionmaker[AsyncSession],
) -> RecurringJobs:
    jobs = RecurringJobs(scheduler, [job], lead, factory)
    lead.on_change(jobs.follow)
    return jobs


def test_the_leader_runs_housekeeping_hourly_and_badge_sync_daily(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    jobs = recurring_jobs(Mentorbot(factory, SystemClock()), Config())
    assert [j.id for j in jobs] == [HOUSEKEEPING_JOB_ID, BADGE_SYNC_JOB_ID]
    assert jobs[0].trigger.interval == timedelta(hours=1)
    assert str(jobs[1].trigger) == "cron[hour='4']"


async def test_jobs_are_scheduled_only_while_leading(
    factory: async_sessionmaker[AsyncSession], scheduler: AsyncIOScheduler
) -> None:
    lead = Switch()
    _jobs(scheduler, _counting([]), lead, factory)
    assert scheduler.get_job("count") is None
    await lead.start()
    job = scheduler.get_job("count")
    assert job is not None
    assert job.next_run_time > datetime.now(UTC) + timedelta(minutes=59)
    await lead.stop()
    assert scheduler.get_job("count") is None


async def test_a_new_leader_continues_from_the_last_recorded_run(
    factory: async_sessionmaker[AsyncSession], scheduler: AsyncIOScheduler
) -> None:
    last = datetime.now(UTC) - timedelta(minutes=50)
    await write_state(factory, STATE_PREFIX + "count", {"last_run": last.isoformat()})
    lead = Switch()
    _jobs(scheduler, _counting([]), lead, factory)
    await lead.start()
    job = scheduler.get_job("count")
    assert job is not None
    assert abs(job.next_run_time - (last + timedelta(hours=1))) < timedelta(seconds=1)


async def test_a_run_missed_while_nobody_led_runs_at_once_and_is_recorded(
    factory: async_sessionmaker[AsyncSession], scheduler: AsyncIOScheduler
) -> None:
    last = datetime.now(UTC) - timedelta(hours=3)
    await write_state(factory, STATE_PREFIX + "count", {"last_run": last.isoformat()})
    runs: list[datetime] = []
    lead = Switch()
    jobs = _jobs(scheduler, _counting(runs), lead, factory)
    await lead.start()
    for _ in range(250):
        state = await read_state(factory, STATE_PREFIX + "count")
        if state and state["last_run"] != last.isoformat():
            break
        await asyncio.sleep(0.02)
    assert len(runs) == 1
    assert jobs.runs == 1
    assert state is not None
    assert state["outcome"] == "ok"
    assert datetime.fromisoformat(state["last_run"]) <= runs[0]
    job = scheduler.get_job("count")
    assert job is not None
    assert job.next_run_time > datetime.now(UTC) + timedelta(minutes=59)


async def test_a_leader_that_lost_its_lock_runs_nothing_and_drops_its_jobs(
    factory: async_sessionmaker[AsyncSession], scheduler: AsyncIOScheduler
) -> None:
    runs: list[datetime] = []
    lead = Switch()
    jobs = _jobs(scheduler, _counting(runs, seconds=0.05), lead, factory)
    await lead.start()
    lead.holds = False  # the database no longer says this process holds the lock
    for _ in range(50):
        if scheduler.get_job("count") is None:
            break
        await asyncio.sleep(0.02)
    assert runs == []
    assert jobs.runs == 0
    assert scheduler.get_job("count") is None
    assert await read_state(factory, STATE_PREFIX + "count") is None


async def test_a_failing_job_is_logged_recorded_and_keeps_its_schedule(
    factory: async_sessionmaker[AsyncSession],
    scheduler: AsyncIOScheduler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    lead = Switch()
    job = RecurringJob("broken", broken, IntervalTrigger(seconds=0.1, timezone="UTC"))
    _jobs(scheduler, job, lead, factory)
    await lead.start()
    for _ in range(250):
        state = await read_state(factory, STATE_PREFIX + "broken")
        if state:
            break
        await asyncio.sleep(0.02)
    assert state is not None
    assert state["outcome"] == "failed"
    assert "recurring job broken failed" in caplog.text
    assert scheduler.get_job("broken") is not None
    await lead.stop()
