"""What the benchmarks share: a seeded community's vocabulary, an emptied database and an
event-loop stall meter."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from sqlalchemy import text

from core import db
from core.models import Base
from core.service import Mentorbot

ZONES = [
    "Europe/London",
    "Europe/Madrid",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Africa/Lagos",
    "Europe/Berlin",
]
LANGS = ["en", "es", "fr", "de", "pt", "ja", "hi", "yo"]
STYLES = ["async", "scheduled", "casual"]


async def reset(url: str) -> str:
    """Empty every table; return a fresh community's id."""
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    community = await Mentorbot(db.session_factory(engine)).join_community("console", "bench")
    await engine.dispose()
    return community.id


class StallMeter:
    """``async with StallMeter() as meter:`` then ``meter.worst_ms``: the longest gap
    between ticks of a 5 ms timer while the block ran, i.e. how long the loop was held.

    ``worst_cpu_ms`` is how much of that gap the loop's thread spent running (its CPU
    time), ``worst_process_cpu_ms`` all the process's threads (a driver thread holding
    the GIL would show here); ``held_ms`` the most CPU the loop's thread spent within
    any one gap. On a machine busy with other work a long gap with little CPU is the
    process waiting for a core, not code holding the loop; ``held_ms`` is what the
    process's own code did.
    """

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self.worst_cpu_ms = 0.0
        self.worst_process_cpu_ms = 0.0
        self.held_ms = 0.0
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last, last_cpu, last_all = time.perf_counter(), time.thread_time(), time.process_time()
        while not self._done.is_set():
            await asyncio.sleep(0.005)
            now, cpu, cpu_all = time.perf_counter(), time.thread_time(), time.process_time()
            gap, used = (now - last) * 1000, (cpu - last_cpu) * 1000
            if gap > self.worst_ms:
                self.worst_ms, self.worst_cpu_ms = gap, used
                self.worst_process_cpu_ms = (cpu_all - last_all) * 1000
            self.held_ms = max(self.held_ms, used)
            last, last_cpu, last_all = now, cpu, cpu_all

    async def __aenter__(self) -> StallMeter:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._task is not None:
            await self._task
