"""The recurring jobs (housekeeping, badge sync, …), run only by the leading process.

Every process wakes its own dispatcher; the recurring jobs are in the scheduler only while
this process leads (``core.leader``): added when it becomes the leader, removed when it
stops being it. Before each run the job asks the leadership to confirm against the
database, so a leader whose connection silently died runs nothing.

When each job last ran is kept in the database (``bot_state``, key ``job:<id>``), so a
new leader (after a failover, or the same process after a restart) continues the
schedule instead of starting it afresh: an interval job next runs one period after its
last run, and a run that fell due while no process led (a daily job's hour passed during
a failover) runs at once. So across all processes each job runs once per period.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.leader import Leadership, process_name
from core.logcontext import log_scope
from core.observe import NULL_OBSERVER, Observer, Outcome, timed_outcome
from core.state import read_state, write_state

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

STATE_PREFIX = "job:"


@dataclass(frozen=True)
class RecurringJob:
    id: str
    run: Callable[[], Awaitable[object]]
    trigger: Any  # an APScheduler trigger (interval or cron)


class RecurringJobs:
    """Keeps ``jobs`` in ``scheduler`` while ``leadership`` says this process leads."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        jobs: Sequence[RecurringJob],
        leadership: Leadership,
        factory: async_sessionmaker[AsyncSession],
        observer: Observer = NULL_OBSERVER,
    ) -> None:
        self.observer = observer
        self.scheduler = scheduler
        self.jobs = tuple(jobs)
        self.leadership = leadership
        self.factory = factory
        self.runs = 0  # runs started by this process (tests, logs)

    async def follow(self, leading: bool) -> None:
        """A leadership listener: schedule the jobs when leading, remove them when not."""
        if leading:
            await self._schedule()
        else:
            self._unschedule()

    async def _schedule(self) -> None:
        now = datetime.now(UTC)
        for job in self.jobs:
            last = await self._last_run(job.id)
            if not self.scheduler.running:
                return  # shut down while reading (a stop right after start): add nothing
            next_run = job.trigger.get_next_fire_time(last, now)
            if next_run is None:
                continue
            # A run missed meanwhile runs now, once, and the schedule goes on from now
            # (APScheduler would count on from the missed time: the next run too soon).
            next_run = max(next_run, now)
            self.scheduler.add_job(
                self._run,
                trigger=job.trigger,
                args=[job],
                id=job.id,
                next_run_time=next_run,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,  # a run due during a failover runs, late
            )
            log.info("recurring job %s scheduled, next at %s", job.id, f"{next_run:%H:%M:%S}")

    def _unschedule(self) -> None:
        from apscheduler.jobstores.base import JobLookupError

        for job in self.jobs:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(job.id)

    async def _last_run(self, job_id: str) -> datetime | None:
        try:
            state = await read_state(self.factory, STATE_PREFIX + job_id)
        except Exception:
            log.warning("cannot read when job %s last ran; counting from now", job_id)
            return None
        if not state or "last_run" not in state:
            return None
        return datetime.fromisoformat(str(state["last_run"]))

    async def _run(self, job: RecurringJob) -> None:
        if not await self.leadership.confirm():
            log.info("recurring job %s skipped: this process no longer leads", job.id)
            return
        self.runs += 1
        started, clock = datetime.now(UTC), time.perf_counter()
        outcome = "ok"

        def report(result: Outcome, seconds: float) -> None:
            self.observer.job_finished(job.id, result, seconds)

        with log_scope(job=job.id):
            try:
                with timed_outcome(report):
                    await job.run()
            except Exception:
                outcome = "failed"
                log.exception("recurring job %s failed; it runs again at its next time", job.id)
        value = {"last_run": started.isoformat(), "by": process_name(), "outcome": outcome}
        try:
            await write_state(self.factory, STATE_PREFIX + job.id, value)
        except Exception:
            log.warning("cannot record that job %s ran", job.id, exc_info=True)
        log.info(
            "recurring job %s ran at %s in %.2fs (%s)",
            job.id,
            started.isoformat(),
            time.perf_counter() - clock,
            outcome,
        )
