"""Commands at community scale (issue 10).

    .venv/bin/python bench/commands.py [--database URL] [--quick]

Seeds one community (100,000 members, 10,000 mentors, 5,000 mentees, 50,000 messages;
``--quick``: 2,000 / 200 / 100 / 1,000) with bulk inserts, then runs ``help``,
``browse``, ``suggest``, ``apply`` and a mixed set through ``core.service`` as the adapters
call it, one at a time and 200 at once, and prints p50 / p99 / max latency and failures.
Beside them, in the same run, the bare floor: browse's page query (count + one page)
sent with the raw driver (aiosqlite or asyncpg), and our browse as a ratio to it.

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

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.console.bot import COMMUNITY_ID as CONSOLE_COMMUNITY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.common
from bench.common import LANGS, STYLES, ZONES, fresh_database
from core import db
from core.context import Invocation
from core.defaults import EXPERTISE_OPTIONS, GOAL_OPTIONS
from core.errors import UserError
from core.ids import new_id
from core.models import Community, Member, Mentee, MentorMessage, Mentorship
from core.models.mentoring import Mentor
from core.service import Mentorbot

# The console's own community, so that bench/startup.sh can open the seeded file with
# `mentorbot console` and act as a seeded member.
PLATFORM, GUILD, COMMUNITY_NAME = "console", CONSOLE_COMMUNITY, "Console community"


@dataclass(frozen=True)
class Sizes:
    members: int
    mentors: int
    mentees: int
    messages: int
    calls: int  # one-at-a-time calls per command
    burst: int  # calls at once


FULL = Sizes(100_000, 10_000, 5_000, 50_000, 200, 200)
QUICK = Sizes(2_000, 200, 100, 1_000, 20, 20)


@dataclass
class Seeded:
    community_id: str
    mentees: list[tuple[str, str]]  # (platform user id, display name) with a mentee profile
    applicants: list[tuple[str, str]]  # members who may apply (each once)
    everyone: list[tuple[str, str]]
    seeker_member_id: str
    spare_member_ids: list[str]  # members nobody acts as (for the import)
    some_mentor_id: str  # listed, with a free place


async def _bulk(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        for start in range(0, len(rows), 5_000):
            await conn.execute(insert(table), rows[start : start + 5_000])


async def seed(engine: AsyncEngine, sizes: Sizes, rng: random.Random) -> Seeded:
    now = datetime.now(UTC)
    community_id = new_id()
    await _bulk(
        engine,
        Community.__table__,
        [
            {
                "id": community_id,
                "platform": PLATFORM,
                "platform_id": GUILD,
                "name": COMMUNITY_NAME,
                "admin_channel_id": "admins",
                "default_timezone": "UTC",
                "expertise_options": list(EXPERTISE_OPTIONS),
                "goal_options": list(GOAL_OPTIONS),
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
            "community_id": community_id,
            "platform_user_id": f"u{i:06d}",
            "display_name": f"u{i:06d}",
            "timezone": rng.choice(ZONES),
            "languages": rng.sample(LANGS, 2),
            "created_at": now,
            "updated_at": now,
        }
        for i in range(sizes.members)
    ]
    await _bulk(engine, Member.__table__, members)
    mentor_rows = [
        {
            "id": new_id(),
            "community_id": community_id,
            "user_id": m["id"],
            "bio": "I help with budgets, giving and loans. " * 3,
            "expertise": rng.sample(EXPERTISE_OPTIONS, rng.randint(1, 3)),
            "availability": rng.randint(2, 40),
            "max_mentees": 3,
            "current_mentees": rng.randint(0, 3),
            "preferred_style": rng.choice(STYLES),
            "languages": rng.sample(LANGS, rng.randint(1, 2)),
            "timezone": rng.choice(ZONES),
            "is_accepting": rng.random() < 0.9,
            "application_date": now,
            "status": "active",
            "application_version": 1,
            "total_mentees": 0,
            "created_at": now,
            "updated_at": now,
        }
        for m in members[: sizes.mentors]
    ]
    await _bulk(engine, Mentor.__table__, mentor_rows)
    mentee_members = members[sizes.mentors : sizes.mentors + sizes.mentees]
    mentee_rows = [
        {
            "id": new_id(),
            "community_id": community_id,
            "user_id": m["id"],
            "goals": rng.sample(GOAL_OPTIONS, rng.randint(1, 3)),
            "preferred_style": rng.choice(["any", *STYLES]),
            "timezone": m["timezone"],
            "languages": m["languages"],
            "status": "seeking",
            "created_at": now,
            "updated_at": now,
        }
        for m in mentee_members
    ]
    await _bulk(engine, Mentee.__table__, mentee_rows)
    pairs = min(len(mentee_rows), len(mentor_rows)) // 2
    ships = [
        {
            "id": new_id(),
            "community_id": community_id,
            "mentor_id": mentor_rows[k]["id"],
            "mentee_id": mentee_rows[k]["id"],
            "status": "active",
            "origin": "request",
            "mentee_accepted": True,
            "mentor_accepted": True,
            "requested_at": now,
            "request_version": 1,
            "goals": [],
            "start_date": now,
            "created_at": now,
            "updated_at": now,
        }
        for k in range(pairs)
    ]
    await _bulk(engine, Mentorship.__table__, ships)
    await _bulk(
        engine,
        MentorMessage.__table__,
        [
            {
                "id": new_id(),
                "community_id": community_id,
                "mentorship_id": ships[k % pairs]["id"],
                "sender_id": members[k % pairs]["id"],
                "content": f"Message {k}: how is the budget going?",
                "created_at": now - timedelta(minutes=sizes.messages - k),
            }
            for k in range(sizes.messages)
        ],
    )

    def who(m: dict[str, Any]) -> tuple[str, str]:
        return m["platform_user_id"], m["display_name"]

    return Seeded(
        community_id,
        [who(m) for m in mentee_members],
        [who(m) for m in members[sizes.mentors + sizes.mentees : -sizes.mentors]],
        [who(m) for m in members],
        mentee_members[0]["id"],
        [m["id"] for m in members[-sizes.mentors :]],
        next(r["id"] for r in mentor_rows if r["is_accepting"] and r["current_mentees"] < 3),
    )


async def import_mentors(engine: AsyncEngine, seeded: Seeded, n: int) -> int:
    now = datetime.now(UTC)
    rng = random.Random(3)
    await _bulk(
        engine,
        Mentor.__table__,
        [
            {
                "id": new_id(),
                "community_id": seeded.community_id,
                "user_id": member_id,
                "bio": "Imported from the old spreadsheet.",
                "expertise": rng.sample(EXPERTISE_OPTIONS, 2),
                "availability": 10,
                "max_mentees": 2,
                "current_mentees": 0,
                "preferred_style": rng.choice(STYLES),
                "languages": ["en"],
                "timezone": rng.choice(ZONES),
                "is_accepting": True,
                "application_date": now,
                "status": "active",
                "application_version": 1,
                "total_mentees": 0,
                "created_at": now,
                "updated_at": now,
            }
            for member_id in seeded.spare_member_ids[:n]
        ],
    )
    return n


def _invocation(person: tuple[str, str]) -> Invocation:
    return Invocation(PLATFORM, GUILD, person[0], person[1], COMMUNITY_NAME)


class Workload:
    def __init__(self, service: Mentorbot, seeded: Seeded, rng: random.Random) -> None:
        self.service, self.seeded, self.rng = service, seeded, rng
        self._applicants = iter(seeded.applicants)

    async def help(self) -> None:
        await self.service.execute(
            _invocation(self.rng.choice(self.seeded.everyone)), "mentor help", {}
        )

    async def browse(self) -> None:
        options: dict[str, object] = {"page": self.rng.randint(1, 20)}
        pick = self.rng.random()
        if pick < 0.3:
            options["expertise"] = self.rng.choice(EXPERTISE_OPTIONS)
        elif pick < 0.5:
            options["language"] = self.rng.choice(LANGS)
        elif pick < 0.7:
            options["max_tz_distance"] = self.rng.choice([0, 2, 5])
        elif pick < 0.8:
            options["style"] = self.rng.choice(STYLES)
        await self.service.execute(
            _invocation(self.rng.choice(self.seeded.mentees)), "mentor browse", options
        )

    async def suggest(self) -> None:
        await self.service.execute(
            _invocation(self.rng.choice(self.seeded.mentees)), "mentor suggest", {}
        )

    async def apply(self) -> None:
        await self.service.execute(
            _invocation(next(self._applicants)),
            "mentor apply",
            {
                "bio": "Twenty years of household budgeting and community lending.",
                "expertise": ",".join(self.rng.sample(EXPERTISE_OPTIONS, 2)),
                "availability": 8,
                "style": self.rng.choice(STYLES),
                "languages": "en,es",
                "timezone": self.rng.choice(ZONES),
            },
        )

    async def mixed(self) -> None:
        action = self.rng.choices(
            [self.help, self.browse, self.suggest, self.apply], weights=[2, 4, 3, 1]
        )[0]
        await action()


@dataclass
class Figures:
    samples: list[float]
    failures: int

    def line(self, label: str) -> str:
        if not self.samples:
            return f"{label:<28} no successful calls, {self.failures} failures"
        s = sorted(self.samples)
        p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
        return (
            f"{label:<28} p50 {statistics.median(s):8.1f} ms   p99 {p99:8.1f} ms   "
            f"max {s[-1]:8.1f} ms   failures {self.failures}"
        )

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


async def _timed(call: Callable[[], Awaitable[None]], start: float) -> float | None:
    try:
        await call()
    except UserError:
        return None
    except Exception as exc:  # a failure the member would see as an apology
        print(f"   failure: {type(exc).__name__}: {exc}"[:200])
        return None
    return (time.perf_counter() - start) * 1000


async def serial(call: Callable[[], Awaitable[None]], n: int) -> Figures:
    samples, failures = [], 0
    for _ in range(n):
        took = await _timed(call, time.perf_counter())
        if took is None:
            failures += 1
        else:
            samples.append(took)
    return Figures(samples, failures)


async def burst(call: Callable[[], Awaitable[None]], n: int) -> Figures:
    """``n`` calls started together; each is timed from the moment they all started."""
    start = time.perf_counter()
    results = await asyncio.gather(*(_timed(call, start) for _ in range(n)))
    return Figures([r for r in results if r is not None], sum(r is None for r in results))


# ----- the bare floor: the same page query, raw driver -----------------------------------

_COUNT = (
    "SELECT count(*) FROM mentors JOIN members ON members.id = mentors.user_id "
    "WHERE mentors.community_id = {p1} AND mentors.status = 'active' "
    "AND mentors.is_accepting AND mentors.user_id != {p2} AND members.left_at IS NULL "
    "AND mentors.current_mentees < mentors.max_mentees"
)
_PAGE = (
    "SELECT mentors.*, members.* FROM mentors JOIN members ON members.id = mentors.user_id "
    "WHERE mentors.community_id = {p1} AND mentors.status = 'active' "
    "AND mentors.is_accepting AND mentors.user_id != {p2} AND members.left_at IS NULL "
    "AND mentors.current_mentees < mentors.max_mentees "
    "ORDER BY mentors.max_mentees - mentors.current_mentees DESC, "
    "lower(members.display_name), mentors.id LIMIT 5 OFFSET {p3}"
)


async def raw_floor(url: str, seeded: Seeded, sizes: Sizes) -> tuple[str, Figures, Figures]:
    rng = random.Random(7)
    args = (seeded.community_id, seeded.seeker_member_id)
    if db.is_sqlite(url):
        import aiosqlite

        path = url.split("///", 1)[1]
        conns = [await aiosqlite.connect(path) for _ in range(db.SQLITE_READERS)]
        free: asyncio.Queue[Any] = asyncio.Queue()
        for c in conns:
            free.put_nowait(c)
        count_sql = _COUNT.format(p1="?", p2="?")
        page_sql = _PAGE.format(p1="?", p2="?", p3="?")

        async def query() -> None:
            conn = await free.get()
            try:
                await (await conn.execute(count_sql, args)).fetchall()
                await (await conn.execute(page_sql, (*args, rng.randint(0, 95) * 5))).fetchall()
            finally:
                free.put_nowait(conn)

        try:
            one = await serial(query, sizes.calls)
            many = await burst(query, sizes.burst)
        finally:
            for c in conns:
                await c.close()
        return "aiosqlite", one, many
    import asyncpg

    pool = await asyncpg.create_pool(
        url.replace("postgresql+asyncpg", "postgresql"), min_size=4, max_size=db.PG_POOL_SIZE
    )
    count_sql = _COUNT.format(p1="$1", p2="$2")
    page_sql = _PAGE.format(p1="$1", p2="$2", p3="$3")

    async def pg_query() -> None:
        async with pool.acquire() as conn:
            await conn.fetch(count_sql, *args)
            await conn.fetch(page_sql, *args, rng.randint(0, 95) * 5)

    try:
        one = await serial(pg_query, sizes.calls)
        many = await burst(pg_query, sizes.burst)
    finally:
        await pool.close()
    return "asyncpg", one, many


async def run(url: str, sizes: Sizes) -> None:
    url, backend, engine = await fresh_database(url)
    rng = random.Random(1)
    started = time.perf_counter()
    seeded = await seed(engine, sizes, rng)
    print(
        f"{backend}: seeded {sizes.members:,} members, {sizes.mentors:,} mentors, "
        f"{sizes.mentees:,} mentees, {sizes.messages:,} messages in "
        f"{time.perf_counter() - started:.1f} s (not counted)"
    )
    service = Mentorbot(db.session_factory(engine))
    work = Workload(service, seeded, random.Random(2))
    # The first suggest builds the process's mentor listing; shown, not counted below.
    started = time.perf_counter()
    await work.suggest()
    took = (time.perf_counter() - started) * 1000
    print(f"first suggest (builds the mentor listing): {took:.0f} ms")
    await work.browse()
    # A bulk import: many new mentors sharing one updated_at; the next call refreshes.
    imported = await import_mentors(engine, seeded, max(sizes.mentors // 10, 10))
    started = time.perf_counter()
    await work.suggest()
    took = (time.perf_counter() - started) * 1000
    print(f"first suggest after importing {imported:,} mentors at once: {took:.0f} ms")
    async with engine.begin() as conn:  # one mentor takes a mentee
        await conn.execute(
            update(Mentor)
            .where(Mentor.id == seeded.some_mentor_id)
            .values(current_mentees=Mentor.current_mentees + 1, updated_at=datetime.now(UTC))
        )
    started = time.perf_counter()
    await work.suggest()
    took = (time.perf_counter() - started) * 1000
    print(f"first suggest after one mentor's free places changed: {took:.1f} ms")
    for name in ("help", "browse", "suggest", "apply", "mixed"):
        call = getattr(work, name)
        print((await serial(call, sizes.calls)).line(f"{name}, one at a time"))
        print((await burst(call, sizes.burst)).line(f"{name}, {sizes.burst} at once"))
    browse_one = await serial(work.browse, sizes.calls)
    driver, raw_one, raw_many = await raw_floor(url, seeded, sizes)
    print(raw_one.line(f"floor: raw {driver}, 1 by 1"))
    print(raw_many.line(f"floor: raw {driver}, {sizes.burst}"))
    print(f"browse p50 / raw page query p50 (one at a time): {browse_one.p50 / raw_one.p50:.1f}x")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database",
        default=os.environ.get("MENTORBOT_BENCH_DATABASE_URL"),
        help="database URL (default: a temporary SQLite file); PostgreSQL is emptied first",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument(
        "--seed-only", metavar="FILE", help="only seed a new SQLite FILE (bench/startup.sh)"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.seed_only:
        url = db.normalise_url(f"sqlite:///{args.seed_only}")
        await db.upgrade_async(url)
        engine = db.create_engine(url)
        seeded = await seed(engine, sizes, random.Random(1))
        await engine.dispose()
        print(f"seeded {args.seed_only}; a mentee: @{seeded.mentees[0][0]}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        await run(args.database or f"sqlite:///{tmp}/bench.db", sizes)


if __name__ == "__main__":
    asyncio.run(main())
