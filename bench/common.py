"""What the benchmarks share: a seeded community's vocabulary, an emptied database and an
event-loop stall meter."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def fresh_database(url: str) -> tuple[str, str, AsyncEngine]:
    """A database at the newest schema with nothing in it: (its normalised URL, "SQLite" or
    "PostgreSQL", an engine on it). PostgreSQL's schema is dropped first (a bench database,
    never a real one); a SQLite file is expected to be new."""
    url = db.normalise_url(url)
    backend = "SQLite" if db.is_sqlite(url) else "PostgreSQL"
    if not db.is_sqlite(url):
        engine = db.create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await db.upgrade_async(url)
    return url, backend, db.create_engine(url)


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

    ``meter.phase("solve")`` starts a named phase: ``meter.phases`` then holds each
    phase's wall time (s), longest gap (ms) and most CPU in one gap (ms); a gap is
    counted in the phase it ended in.
    """

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self.worst_cpu_ms = 0.0
        self.worst_process_cpu_ms = 0.0
        self.held_ms = 0.0
        self.phases: dict[str, list[float]] = {}
        self._phase: str | None = None
        self._phase_start = 0.0
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def phase(self, name: str) -> None:
        now = time.perf_counter()
        if self._phase is not None:
            self.phases[self._phase][0] = now - self._phase_start
        self._phase, self._phase_start = name, now
        self.phases.setdefault(name, [0.0, 0.0, 0.0])

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
            if self._phase is not None:
                phase = self.phases[self._phase]
                phase[1], phase[2] = max(phase[1], gap), max(phase[2], used)
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
        if self._phase is not None:
            self.phases[self._phase][0] = time.perf_counter() - self._phase_start
