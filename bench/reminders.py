"""Scheduled effects on time: drift, event-loop stalls, and start-up with a large backlog.

    .venv/bin/python bench/reminders.py [--n 10000] [--span 60] [--pending 100000]
                                        [--pg URL] [--quick]

1. ``--n`` effects due at random moments within ``--span`` seconds (real clock; a
   shorter span compresses the same load), delivered by one dispatcher with its
   wake-up and the production poll, through a no-op port: drift (sent - due) p50 / p99 /
   max, and the longest event-loop stall seen by a 10 ms ticker.
   Run twice: as plain DMs, then as ``--n`` scheduled sessions' reminders (one session
   each; before each is sent the dispatcher re-reads its session's version, so a moved
   or cancelled session is never reminded of).
2. ``--pending`` effects due in an hour plus one due 2 s after launch: time from
   launching a dispatcher process to ready (heartbeat written, first pass done, wake-up
   armed), and the drift of that first due effect.

SQLite (a temporary file) always; PostgreSQL too with ``--pg`` / $MENTORBOT_BENCH_PG_URL
(its tables are emptied!).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.config import Config
from bot.wiring import delivery_settings, settle_memory, start_scheduler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.common
from bench.common import StallMeter, reset
from core import db
from core.clock import SystemClock
from core.delivery import Dispatcher
from core.effects import DirectMessage, Reminder, dump
from core.messages import Message
from core.models import Delivery, Member, Mentor, MentorSession

ROOT = Path(__file__).resolve().parent.parent


class TimingPort:
    platform = "console"

    def __init__(self) -> None:
        self.sent_at: dict[str, datetime] = {}

    async def send_dm(self, target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
        self.sent_at.setdefault(attempt.key, datetime.now(UTC))
        return {}


async def _bulk_queue(
    url: str, community_id: str, due: list[datetime], prefix: str, *, sessions: bool = False
) -> None:
    engine = db.create_engine(url)
    payloads = [dump(DirectMessage("u", Message(text="reminder")))] * len(due)
    kind = "dm"
    if sessions:
        kind = "reminder"
        payloads = await _sessions(engine, community_id, due)
    now = datetime.now(UTC)
    rows = [
        {
            "community_id": community_id,
            "kind": kind,
            "payload": payloads[i],
            "idempotency_key": f"{prefix}:{i}",
            "destination": f"user:u{i}",
            "status": "pending",
            "due_at": when,
            "attempts": 0,
            "created_at": now,
        }
        for i, when in enumerate(due)
    ]
    async with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(insert(Delivery), rows[start : start + 5000])
    await engine.dispose()


async def _sessions(engine: Any, community_id: str, due: list[datetime]) -> list[dict[str, Any]]:
    """One scheduled session per reminder (each 24 h after its reminder); their payloads."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Member).values(
                id="benchmember",
                community_id=community_id,
                platform_user_id="host",
                display_name="host",
                languages=[],
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(Mentor).values(
                id="benchmentor",
                community_id=community_id,
                user_id="benchmember",
                bio="b",
                expertise=[],
                availability=1,
                max_mentees=1,
                current_mentees=0,
                preferred_style="async",
                languages=[],
                is_accepting=True,
                application_date=now,
                status="active",
                application_version=1,
                total_mentees=0,
                created_at=now,
                updated_at=now,
            )
        )
        rows = [
            {
                "id": f"bs{i}",
                "community_id": community_id,
                "mentor_id": "benchmentor",
                "title": "Session",
                "scheduled_at": when + timedelta(hours=24),
                "duration": 60,
                "type": "workshop",
                "status": "scheduled",
                "version": 1,
                "created_at": now,
            }
            for i, when in enumerate(due)
        ]
        for start in range(0, len(rows), 5000):
            await conn.execute(insert(MentorSession), rows[start : start + 5000])
    return [
        dump(
            Reminder(
                f"u{i}",
                Message(text="Your session starts soon."),
                at=when + timedelta(hours=24),
                session_id=f"bs{i}",
                session_version=1,
            )
        )
        for i, when in enumerate(due)
    ]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _drift(url: str, n: int, span: float, *, sessions: bool = False) -> None:
    community_id = await reset(url)
    start = datetime.now(UTC) + timedelta(seconds=3 + (n / 2000 if sessions else 0))
    due = [start + timedelta(seconds=random.uniform(0, span)) for _ in range(n)]
    due_by_key = {f"r:{i}": d for i, d in enumerate(due)}
    await _bulk_queue(url, community_id, due, "r", sessions=sessions)
    engine = db.create_engine(url)
    port = TimingPort()
    config = Config()
    dispatcher = Dispatcher(
        db.session_factory(engine),
        {"console": port},
        SystemClock(),
        delivery_settings(config.delivery),
    )
    await dispatcher.start()
    scheduler = start_scheduler(dispatcher, config)
    # As `mentorbot run` does once it is up: start-up's objects (the imported modules) are
    # kept out of later full garbage collections, each of which would otherwise walk them
    # while the loop waits (59 ms here, 2026-11-29), wherever one happened to fall.
    settle_memory()
    # Stalls are measured while effects fall due (start-up, compiling statements, is not).
    deadline = time.monotonic() + span + 60
    async with StallMeter() as stall:
        while len(port.sent_at) < n and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    scheduler.shutdown(wait=False)
    await dispatcher.stop()
    await engine.dispose()
    drift = [(port.sent_at[k] - due_by_key[k]).total_seconds() for k in port.sent_at]
    what = "scheduled sessions' reminders" if sessions else "effects"
    print(
        f"  {n} {what} due within {span:g} s: sent {len(drift)}, drift p50 "
        f"{statistics.median(drift) * 1000:.0f} ms, p99 {_pct(drift, 0.99) * 1000:.0f} ms, "
        f"max {max(drift) * 1000:.0f} ms; longest event-loop stall {stall.worst_ms:.0f} ms "
        f"(the process ran {stall.worst_process_cpu_ms:.0f} ms of it, its loop's thread "
        f"{stall.worst_cpu_ms:.0f} ms; that thread ran at most "
        f"{stall.held_ms:.0f} ms in any one gap; load {os.getloadavg()[0]:.1f})"
    )


CHILD = """
import asyncio, sys, time
from datetime import UTC, datetime
from bot.config import Config
from bot.wiring import delivery_settings, start_scheduler
from core import db
from core.clock import SystemClock
from core.delivery import Dispatcher

class TimingPort:
    platform = "console"

    def __init__(self):
        self.sent_at = {{}}

    async def send_dm(self, target, user_id, message, thread, attempt):
        self.sent_at.setdefault(attempt.key, datetime.now(UTC))
        return {{}}

async def main():
    print("imported", datetime.now(UTC).isoformat(), time.process_time(), flush=True)
    engine = db.create_engine(sys.argv[1])
    port = TimingPort()
    config = Config()
    d = Dispatcher(db.session_factory(engine), {{"console": port}}, SystemClock(),
                   delivery_settings(config.delivery))
    await d.start()
    await d.wait_idle()
    scheduler = start_scheduler(d, config)
    print("ready", datetime.now(UTC).isoformat(), time.process_time(), flush=True)
    while "first" not in port.sent_at:
        await asyncio.sleep(0.01)
    print("sent", port.sent_at["first"].isoformat(), flush=True)
    scheduler.shutdown(wait=False)
    await d.stop()
    await engine.dispose()

asyncio.run(main())
"""


async def _start_up(url: str, pending: int) -> None:
    community_id = await reset(url)
    later = datetime.now(UTC) + timedelta(hours=1)
    await _bulk_queue(url, community_id, [later] * pending, "p")
    launched = datetime.now(UTC)
    first_due = launched + timedelta(seconds=2)
    await _bulk_queue(url, community_id, [first_due], "first-tmp")
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            Delivery.__table__.update()
            .where(Delivery.idempotency_key == "first-tmp:0")
            .values(idempotency_key="first")
        )
    await engine.dispose()
    launched = datetime.now(UTC)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD.format(),
        url,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdout is not None
    try:
        _, imported_at, imported_cpu = (await child.stdout.readline()).decode().split()
        _, ready_at, ready_cpu = (await child.stdout.readline()).decode().split()
        imported, ready = datetime.fromisoformat(imported_at), datetime.fromisoformat(ready_at)
        sent = datetime.fromisoformat((await child.stdout.readline()).decode().split()[1])
        await child.wait()
    finally:
        if child.returncode is None:  # interrupted: leave no dispatcher running
            child.kill()
            await child.wait()
    # The CPU the child used is what it asked of the machine; on a busy machine the wall
    # time is that plus the waits for a core.
    print(
        f"  {pending} future effects pending: launch to ready "
        f"{(ready - launched).total_seconds():.2f} s (of which Python start and imports "
        f"{(imported - launched).total_seconds():.2f} s; CPU used to ready "
        f"{float(ready_cpu):.2f} s, imports {float(imported_cpu):.2f} s), first due effect drift "
        f"{(sent - first_due).total_seconds() * 1000:.0f} ms (load {os.getloadavg()[0]:.1f})"
    )


async def _run(name: str, url: str, args: argparse.Namespace) -> None:
    await db.upgrade_async(url)
    print(name)
    await _drift(url, args.n, args.span)
    await _drift(url, args.n, args.span, sessions=True)
    await _start_up(url, args.pending)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--span", type=float, default=60.0)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--pg", default=os.environ.get("MENTORBOT_BENCH_PG_URL"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.span, args.pending = 300, 3.0, 2_000
    with tempfile.TemporaryDirectory() as tmp:
        await _run("sqlite", db.normalise_url(f"sqlite:///{tmp}/bench.db"), args)
    if args.pg:
        await _run("postgresql", db.normalise_url(args.pg), args)


if __name__ == "__main__":
    asyncio.run(main())
