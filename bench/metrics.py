"""Impact metrics at community scale (issue 14).

    .venv/bin/python bench/metrics.py [--database URL] [--quick]

Seeds one community with a year of activity by bulk inserts (100,000 members, 10,000
mentors, 30,000 mentees, 30,000 mentorships, 150,000 sessions, 15,000 reviews, 60,000
goal changes, 500 groups with 25,000 meetings; ``--quick``: a fiftieth), then times
through ``core.service`` as an adapter calls it: ``/admin metrics`` without charts (30
days, 365 days, all time), with one chart (under the event-loop stall meter), and the
per-mentor CSV export. Beside them, in the same run, the bare floor: the very SQL statements
one ``/admin metrics period:365d`` sent, replayed through the raw driver (aiosqlite or
asyncpg), and the service's time as a ratio to it. Targets: figures within 1 s, with a
chart within 2 s, no loop stall over 50 ms.

The database is a temporary SQLite file unless ``--database`` (or
MENTORBOT_BENCH_DATABASE_URL) names one; a PostgreSQL database given here is emptied.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.common
from bench.common import LANGS, STYLES, ZONES, StallMeter, fresh_database
from core import db
from core.context import Invocation
from core.ids import new_id
from core.models import (
    Community,
    GoalProgress,
    Member,
    Mentee,
    MenteeGoal,
    Mentor,
    MentorReview,
    MentorSession,
    Mentorship,
    SupportGroup,
    SupportGroupMeeting,
    SupportGroupMember,
)
from core.service import Mentorbot

PLATFORM, GUILD = "console", "bench-metrics"
ADMIN = Invocation(PLATFORM, GUILD, "admin", "admin", "Bench", is_platform_admin=True)
DAY = 86400
ACCEPTED = ("active", "paused", "completed", "ended")


@dataclass(frozen=True)
class Sizes:
    members: int
    mentors: int
    mentees: int
    mentorships: int
    sessions: int
    reviews: int
    goals: int
    goal_changes: int
    groups: int
    meetings: int
    repeats: int


FULL = Sizes(100_000, 10_000, 30_000, 30_000, 150_000, 15_000, 20_000, 60_000, 500, 25_000, 5)
QUICK = Sizes(2_000, 200, 600, 600, 3_000, 300, 400, 1_200, 10, 500, 2)


async def _bulk(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        for start in range(0, len(rows), 5_000):
            await conn.execute(insert(table), rows[start : start + 5_000])


def _ago(rng: random.Random, now: datetime, days: int = 365) -> datetime:
    return now - timedelta(seconds=rng.randint(0, days * DAY))


async def seed(engine: AsyncEngine, n: Sizes, now: datetime) -> str:
    rng = random.Random(1)
    cid = new_id()
    await _bulk(
        engine,
        Community.__table__,
        [
            {
                "id": cid,
                "platform": PLATFORM,
                "platform_id": GUILD,
                "name": "Bench",
                "admin_channel_id": "admins",
                "default_timezone": "UTC",
                "expertise_options": [],
                "goal_options": [],
                "roles": {},
                "settings": {},
                "is_set_up": True,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    members = [
        {
            "id": new_id(),
            "community_id": cid,
            "platform_user_id": f"u{i:06d}",
            "display_name": f"u{i:06d}",
            "timezone": rng.choice(ZONES),
            "languages": rng.sample(LANGS, 2),
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n.members)
    ]
    await _bulk(engine, Member.__table__, members)
    mentors = []
    for m in members[: n.mentors]:
        applied = _ago(rng, now, 400)
        status = rng.choices(("active", "paused", "pending", "retired"), (80, 8, 7, 5))[0]
        mentors.append(
            {
                "id": new_id(),
                "community_id": cid,
                "user_id": m["id"],
                "bio": "I help with budgets, giving and loans.",
                "expertise": ["giving"],
                "availability": rng.randint(2, 40),
                "max_mentees": 3,
                "current_mentees": 0,
                "preferred_style": rng.choice(STYLES),
                "languages": ["en"],
                "is_accepting": True,
                "application_date": applied,
                "approved_date": None if status == "pending" else applied + timedelta(days=1),
                "status": status,
                "listed_on_boards": rng.random() > 0.1,
                "total_mentees": 0,
                "created_at": applied,
                "updated_at": applied,
            }
        )
    await _bulk(engine, Mentor.__table__, mentors)
    mentees = []
    for m in members[n.mentors : n.mentors + n.mentees]:
        created = _ago(rng, now, 400)
        mentees.append(
            {
                "id": new_id(),
                "community_id": cid,
                "user_id": m["id"],
                "goals": ["learn_giving"],
                "preferred_style": "any",
                "languages": ["en"],
                "status": rng.choices(("seeking", "matched", "completed"), (2, 5, 3))[0],
                "created_at": created,
                "updated_at": created,
            }
        )
    await _bulk(engine, Mentee.__table__, mentees)
    ships, pairs = [], set()
    while len(ships) < n.mentorships:
        mentor, mentee = rng.choice(mentors), rng.choice(mentees)
        if (mentor["id"], mentee["id"]) in pairs:
            continue
        pairs.add((mentor["id"], mentee["id"]))
        status = rng.choices(
            ("active", "paused", "completed", "ended", "declined", "expired", "pending"),
            (30, 5, 35, 10, 8, 7, 5),
        )[0]
        requested = _ago(rng, now)
        start = requested
        if status in ACCEPTED:
            start = min(now, requested + timedelta(seconds=rng.randint(600, 7 * DAY)))
        end = None
        if status in ("completed", "ended", "declined", "expired"):
            end = min(now, start + timedelta(seconds=rng.randint(DAY, 150 * DAY)))
        ships.append(
            {
                "id": new_id(),
                "community_id": cid,
                "mentor_id": mentor["id"],
                "mentee_id": mentee["id"],
                "status": status,
                "origin": "request",
                "mentee_accepted": True,
                "mentor_accepted": status in ACCEPTED,
                "requested_at": requested,
                "request_version": 1,
                "goals": [],
                "start_date": start,
                "end_date": end,
                "created_at": requested,
                "updated_at": requested,
            }
        )
    await _bulk(engine, Mentorship.__table__, ships)
    accepted = [s for s in ships if s["status"] in ACCEPTED]
    sessions = []
    for _ in range(n.sessions):
        ship = rng.choice(accepted)
        when = now + timedelta(days=14) - timedelta(seconds=rng.randint(0, 380 * DAY))
        sessions.append(
            {
                "id": new_id(),
                "community_id": cid,
                "mentorship_id": ship["id"],
                "mentor_id": ship["mentor_id"],
                "title": "Check-in",
                "scheduled_at": when,
                "duration": 45,
                "type": "one_on_one",
                "status": rng.choices(
                    ("completed", "no_show", "cancelled", "scheduled"), (70, 8, 10, 12)
                )[0],
                "version": 1,
                "created_at": when,
            }
        )
    await _bulk(engine, MentorSession.__table__, sessions)
    mentee_users = {m["id"]: m["user_id"] for m in mentees}
    await _bulk(
        engine,
        MentorReview.__table__,
        [
            {
                "id": new_id(),
                "community_id": cid,
                "mentor_id": ship["mentor_id"],
                "mentorship_id": ship["id"],
                "reviewer_id": mentee_users[ship["mentee_id"]],
                "rating": float(rng.choices((1, 2, 3, 4, 5), (2, 3, 10, 35, 50))[0]),
                "is_public": rng.random() < 0.6,
                "created_at": _ago(rng, now),
            }
            for ship in rng.sample(accepted, min(n.reviews, len(accepted)))
        ],
    )
    goals = [
        {
            "id": new_id(),
            "community_id": cid,
            "mentorship_id": rng.choice(accepted)["id"],
            "title": "Build a budget",
            "status": "active",
            "progress": 0.0,
            "progress_manual": False,
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(n.goals)
    ]
    await _bulk(engine, MenteeGoal.__table__, goals)
    await _bulk(
        engine,
        GoalProgress.__table__,
        [
            {
                "id": new_id(),
                "community_id": cid,
                "goal_id": rng.choice(goals)["id"],
                "progress": 50.0,
                "change": rng.choice(
                    ("created", "milestone", "milestone", "completed", "abandoned")
                ),
                "at": _ago(rng, now),
            }
            for _ in range(n.goal_changes)
        ],
    )
    groups = [
        {
            "id": new_id(),
            "community_id": cid,
            "name": f"Group {i}",
            "description": "Peer support",
            "type": "new_givers",
            "max_members": 12,
            "is_private": False,
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n.groups)
    ]
    await _bulk(engine, SupportGroup.__table__, groups)
    await _bulk(
        engine,
        SupportGroupMember.__table__,
        [
            {
                "id": new_id(),
                "community_id": cid,
                "group_id": group["id"],
                "user_id": members[(g * 10 + k) % n.members]["id"],
                "role": "member",
                "joined_at": _ago(rng, now),
                "status": "active",
                "offer_version": 0,
            }
            for g, group in enumerate(groups)
            for k in range(10)
        ],
    )
    await _bulk(
        engine,
        SupportGroupMeeting.__table__,
        [
            {
                "id": new_id(),
                "community_id": cid,
                "group_id": groups[i % n.groups]["id"],
                "scheduled_at": (when := now + timedelta(days=7) - timedelta(hours=i * 3 % 9000)),
                "duration": 60,
                "attendee_count": rng.choice((None, 4, 6, 8)),
                "occurrence_at": when + timedelta(seconds=i),
                "status": "scheduled",
                "created_at": when,
            }
            for i in range(n.meetings)
        ],
    )
    return cid


def _line(label: str, samples: list[float], target: float | None = None) -> str:
    s = sorted(samples)
    mark = "" if target is None else ("  ok" if s[len(s) // 2] <= target else "  OVER TARGET")
    return f"{label:<44} p50 {statistics.median(s):8.1f} ms   max {s[-1]:8.1f} ms" + (
        f"   (target {target:.0f} ms){mark}" if target else ""
    )


async def _times(call: Callable[[], Awaitable[Any]], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _capture(engines: list[AsyncEngine]) -> tuple[list[tuple[str, Any]], Callable[[], None]]:
    """Record every statement (and its parameters) the engines send, until undone."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") or statement.lstrip().startswith("WITH"):
            seen.append((statement, params))

    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)

    def undo() -> None:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)

    return seen, undo


async def raw_replay(
    url: str, statements: list[tuple[str, Any]], repeats: int
) -> tuple[str, list[float]]:
    """The captured statements again, through the raw driver: the floor under the service."""
    if db.is_sqlite(url):
        import aiosqlite

        conn = await aiosqlite.connect(url.split("///", 1)[1])
        try:

            async def run() -> None:
                for sql, params in statements:
                    await (await conn.execute(sql, params)).fetchall()

            return "aiosqlite", await _times(run, repeats)
        finally:
            await conn.close()
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:

        async def run_pg() -> None:
            for sql, params in statements:
                await conn.fetch(sql, *params)

        return "asyncpg", await _times(run_pg, repeats)
    finally:
        await conn.close()


async def run(url: str, n: Sizes) -> None:
    url, backend, engine = await fresh_database(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    await seed(engine, n, now)
    if not db.is_sqlite(url):
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    print(
        f"{backend}: seeded {n.members:,} members, {n.mentors:,} mentors, {n.mentees:,} mentees, "
        f"{n.mentorships:,} mentorships, {n.sessions:,} sessions, {n.reviews:,} reviews, "
        f"{n.goal_changes:,} goal changes, {n.meetings:,} group meetings over a year in "
        f"{time.perf_counter() - started:.1f} s (not counted)"
    )
    service = Mentorbot(db.session_factory(engine))

    def metrics(period: str, chart: str) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            reply = await service.execute(
                ADMIN, "admin metrics", {"period": period, "chart": chart}
            )
            assert reply is not None
            assert reply.message is not None
            assert len(reply.message.files) == {"none": 0, "all": 4}.get(chart, 1)

        return call

    await metrics("30d", "none")()  # the admin's member row is written once; not counted
    started = time.perf_counter()
    from core.charts import BarChart, Bars, draw_bar_chart, drawn

    await drawn(
        draw_bar_chart, BarChart("w.png", "warm", ("a",), (Bars("a", (1,), "#000"),), "", "")
    )
    took = (time.perf_counter() - started) * 1000
    print(f"first chart (starts the chart process, imports matplotlib; once): {took:.0f} ms")

    for period in ("30d", "365d", "all"):
        samples = await _times(metrics(period, "none"), n.repeats)
        print(_line(f"/admin metrics period:{period} chart:none", samples, 1000))
    async with StallMeter() as meter:
        with_chart = await _times(metrics("365d", "sessions"), n.repeats)
    print(_line("/admin metrics period:365d chart:sessions", with_chart, 2000))
    print(
        f"{'  event-loop stall meanwhile':<44} worst {meter.worst_ms:.1f} ms "
        f"(CPU in it: the loop's thread {meter.worst_cpu_ms:.1f} ms, the whole process "
        f"{meter.worst_process_cpu_ms:.1f} ms; most CPU the loop held in one gap "
        f"{meter.held_ms:.1f} ms; target 50 ms)"
    )
    async with StallMeter() as meter:
        every = await _times(metrics("365d", "all"), max(1, n.repeats // 2))
    print(_line("/admin metrics period:365d (all four charts)", every))
    print(
        f"{'  event-loop stall meanwhile':<44} worst {meter.worst_ms:.1f} ms "
        f"(process CPU in it {meter.worst_process_cpu_ms:.1f} ms; most CPU the loop held in "
        f"one gap {meter.held_ms:.1f} ms)"
    )

    async def export() -> None:
        reply = await service.execute(ADMIN, "admin export mentors", {"period": "365d"})
        assert reply is not None
        assert reply.message is not None

    print(_line(f"/admin export mentors ({n.mentors:,} rows)", await _times(export, n.repeats)))

    readers = db.reader_engine(engine)
    statements, undo = _capture(
        [engine] + ([readers] if readers is not None and readers is not engine else [])
    )
    ours = await _times(metrics("365d", "none"), 1)
    undo()
    # The figures' own statements (not the actor's lookup, which any command makes).
    figures = [s for s in statements if "communities.platform_id" not in s[0]]
    driver, floor = await raw_replay(url, figures, n.repeats)
    print(_line(f"floor: the same {len(figures)} statements, raw {driver}", floor))
    ours = await _times(metrics("365d", "none"), n.repeats)
    ratio = statistics.median(ours) / statistics.median(floor)
    print(f"/admin metrics 365d p50 / raw floor p50: {ratio:.2f}x")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        default=os.environ.get("MENTORBOT_BENCH_DATABASE_URL"),
        help="database URL (default: a temporary SQLite file); PostgreSQL is emptied first",
    )
    parser.add_argument("--quick", action="store_true", help="a fiftieth of the sizes (seconds)")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        await run(args.database or f"sqlite:///{tmp}/bench.db", QUICK if args.quick else FULL)


if __name__ == "__main__":
    asyncio.run(main())
