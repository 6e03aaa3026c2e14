"""A busy mentor's privacy export and deletion (F15).

    .venv/bin/python bench/privacy.py [--database URL] [--quick]

Seeds one community with a mentor who has 50,000 messages over 20 mentorships
(``--quick``: 2,000), plus another mentor's 10,000 that are not theirs, with bulk inserts.
Then, through ``core.service`` as the adapters call it: ``/privacy export`` (wall time,
peak Python memory by tracemalloc, file size and rows), and the deletion housekeeping
runs when it falls due (wall time). Beside each, in the same run, the bare
floor with the raw driver (aiosqlite or asyncpg): reading the same messages and
``json.dumps``-ing them; one UPDATE that replaces the same messages' text. Prints the
ratios and the machine's load, since figures on a shared machine move.

The database is a temporary SQLite file unless ``--database`` (or
MENTORBOT_BENCH_DATABASE_URL) names one; a PostgreSQL database given here is emptied.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import fresh_database
from core import db
from core.clock import FakeClock
from core.context import Invocation
from core.ids import new_id
from core.models import Community, Member, Mentee, MentorMessage, Mentorship
from core.models.mentoring import Mentor
from core.service import Mentorbot
from core.usecases.privacy.deletion import run_due_deletions

T = TypeVar("T")
PLATFORM, GUILD = "console", "bench-privacy"
MENTEES = 20
START = datetime(2026, 1, 1, tzinfo=UTC)


async def _bulk(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        for start in range(0, len(rows), 5_000):
            await conn.execute(insert(table), rows[start : start + 5_000])


async def seed(engine: AsyncEngine, messages: int) -> tuple[str, list[str]]:
    """The community; returns the busy mentor's member id and their mentorship ids."""
    community = new_id()
    await _bulk(
        engine,
        Community.__table__,
        [
            {
                "id": community,
                "platform": PLATFORM,
                "platform_id": GUILD,
                "name": "bench",
                "is_set_up": True,
                "expertise_options": ["giving"],
                "goal_options": ["learn_giving"],
                "roles": {},
                "settings": {},
                "default_timezone": "UTC",
                "created_at": START,
                "updated_at": START,
            }
        ],
    )
    people = ["busy", "other", *(f"mentee{n}" for n in range(MENTEES + 1))]
    ids = {p: new_id() for p in people}
    await _bulk(
        engine,
        Member.__table__,
        [
            {
                "id": ids[p],
                "community_id": community,
                "platform_user_id": p,
                "display_name": p,
                "languages": ["en"],
                "privacy_version": 0,
                "created_at": START,
                "updated_at": START,
            }
            for p in people
        ],
    )
    mentors = {p: new_id() for p in ("busy", "other")}
    await _bulk(
        engine,
        Mentor.__table__,
        [
            {
                "id": mentors[p],
                "community_id": community,
                "user_id": ids[p],
                "bio": "A mentor with a great many messages to export.",
                "expertise": ["giving"],
                "availability": 10,
                "max_mentees": MENTEES,
                "current_mentees": MENTEES if p == "busy" else 1,
                "preferred_style": "async",
                "languages": ["en"],
                "timezone": "UTC",
                "is_accepting": True,
                "application_date": START,
                "status": "active",
                "application_version": 1,
                "total_mentees": 0,
                "created_at": START,
                "updated_at": START,
            }
            for p in mentors
        ],
    )
    mentees = {n: new_id() for n in range(MENTEES + 1)}
    await _bulk(
        engine,
        Mentee.__table__,
        [
            {
                "id": mentees[n],
                "community_id": community,
                "user_id": ids[f"mentee{n}"],
                "goals": ["learn_giving"],
                "preferred_style": "any",
                "languages": ["en"],
                "status": "matched",
                "created_at": START,
                "updated_at": START,
            }
            for n in mentees
        ],
    )
    pairs = [("busy", n) for n in range(MENTEES)] + [("other", MENTEES)]
    ships = {pair: new_id() for pair in pairs}
    await _bulk(
        engine,
        Mentorship.__table__,
        [
            {
                "id": ships[(m, n)],
                "community_id": community,
                "mentor_id": mentors[m],
                "mentee_id": mentees[n],
                "status": "active",
                "origin": "request",
                "mentee_accepted": True,
                "mentor_accepted": True,
                "requested_at": START,
                "request_version": 1,
                "goals": [],
                "start_date": START,
                "created_at": START,
                "updated_at": START,
            }
            for m, n in pairs
        ],
    )
    body = "How do I pick a borrower whose loan I can follow month by month? " * 3
    rows = []
    for k in range(messages):
        n = k % MENTEES
        rows.append(
            {
                "id": new_id(),
                "community_id": community,
                "mentorship_id": ships[("busy", n)],
                "sender_id": ids["busy"] if k % 2 else ids[f"mentee{n}"],
                "content": body,
                "created_at": START + timedelta(seconds=k),
            }
        )
    for k in range(messages // 5):
        rows.append(
            {
                "id": new_id(),
                "community_id": community,
                "mentorship_id": ships[("other", MENTEES)],
                "sender_id": ids["other"],
                "content": body,
                "created_at": START + timedelta(seconds=k),
            }
        )
    await _bulk(engine, MentorMessage.__table__, rows)
    return ids["busy"], [ships[("busy", n)] for n in range(MENTEES)]


async def timed(call: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await call()
    return result, time.perf_counter() - started


async def peak_memory(call: Callable[[], Awaitable[T]]) -> float:
    """Peak Python MiB of one call (tracemalloc slows it, so it is timed separately)."""
    tracemalloc.start()
    await call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


async def raw_floor(url: str, mentorships: list[str], sender: str) -> tuple[str, float, float]:
    """(driver, seconds to read and dump the messages, seconds for one tombstone UPDATE),
    each with the bare driver."""
    marks = ",".join("?" * len(mentorships))
    if db.is_sqlite(url):
        import aiosqlite

        path = url.split("///", 1)[1]
        async with aiosqlite.connect(path) as conn:
            started = time.perf_counter()
            cursor = await conn.execute(
                "SELECT id, mentorship_id, sender_id, content, attachments, read_at, created_at "
                f"FROM mentor_messages WHERE mentorship_id IN ({marks}) "
                "ORDER BY mentorship_id, created_at, id",
                mentorships,
            )
            json.dumps([list(r) for r in await cursor.fetchall()])
            read = time.perf_counter() - started
            started = time.perf_counter()
            await conn.execute(
                "UPDATE mentor_messages SET content = 'x', attachments = NULL WHERE sender_id = ?",
                (sender,),
            )
            await conn.rollback()
            return "aiosqlite", read, time.perf_counter() - started
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        started = time.perf_counter()
        rows = await conn.fetch(
            "SELECT id, mentorship_id, sender_id, content, attachments, read_at, created_at "
            "FROM mentor_messages WHERE mentorship_id = ANY($1::varchar[]) "
            "ORDER BY mentorship_id, created_at, id",
            mentorships,
        )
        json.dumps([list(r) for r in rows], default=str)
        read = time.perf_counter() - started
        transaction = conn.transaction()
        await transaction.start()
        started = time.perf_counter()
        await conn.execute(
            "UPDATE mentor_messages SET content = 'x', attachments = NULL WHERE sender_id = $1",
            sender,
        )
        took = time.perf_counter() - started
        await transaction.rollback()  # the bench's own deletion runs on the same rows
        return "asyncpg", read, took
    finally:
        await conn.close()


async def run(url: str, messages: int) -> None:
    url, backend, engine = await fresh_database(url)
    started = time.perf_counter()
    busy, ships = await seed(engine, messages)
    print(
        f"{backend}: seeded a mentor with {messages:,} messages over {MENTEES} mentorships "
        f"(+{messages // 5:,} of someone else's) in {time.perf_counter() - started:.1f} s"
    )
    driver, raw_read, raw_update = await raw_floor(url, ships, busy)
    clock = FakeClock(datetime.now(UTC))
    service = Mentorbot(db.session_factory(engine), clock)
    who = Invocation(PLATFORM, GUILD, "busy", display_name="busy")

    async def export() -> Any:
        return await service.execute(who, "privacy export", {})

    reply, took = await timed(export)
    peak = await peak_memory(export)
    (file,) = reply.message.files
    rows = sum(len(v) for v in json.loads(file.data)["tables"].values())
    print(
        f"/privacy export: {took * 1000:.0f} ms, peak Python memory {peak:.1f} MiB, "
        f"file {len(file.data) / 2**20:.1f} MiB, {rows:,} rows"
    )
    print(f"floor: raw {driver} read + json.dumps of the messages: {raw_read * 1000:.0f} ms")
    print(f"export / floor: {took / raw_read:.1f}x")

    await service.execute(who, "privacy delete", {})
    async with engine.begin() as conn:
        await conn.execute(
            update(Member)
            .where(Member.id == busy)
            .values(deletion_due_at=clock.now() - timedelta(seconds=1), deletion_reason="request")
        )
    forgotten, took = await timed(lambda: run_due_deletions(service.uow))
    assert forgotten == 1
    print(f"deletion when due: {took * 1000:.0f} ms")
    print(f"floor: raw {driver} one UPDATE of their messages: {raw_update * 1000:.0f} ms")
    print(f"deletion / floor: {took / max(raw_update, 1e-6):.1f}x")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average: {load} on {os.cpu_count()} cores")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database",
        default=os.environ.get("MENTORBOT_BENCH_DATABASE_URL"),
        help="database URL (default: a temporary SQLite file); PostgreSQL is emptied first",
    )
    parser.add_argument("--pg", help="also run on this PostgreSQL URL (emptied first)")
    parser.add_argument("--quick", action="store_true", help="2,000 messages, for a smoke run")
    args = parser.parse_args()
    messages = 2_000 if args.quick else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        await run(args.database or f"sqlite:///{tmp}/bench.db", messages)
    if args.pg:
        await run(args.pg, messages)


if __name__ == "__main__":
    asyncio.run(main())
