"""Support groups over a year: rolling meeting windows, reminders and prompts at scale.

    .venv/bin/python bench/groups.py [--groups 1000] [--days 365] [--pg URL [--pg-only]] [--quick]

``--groups`` groups (weekly meetings in ten zones, a weekly prompt each) are created
through the core, then a simulated clock walks ``--days`` days a day at a time, running
the group housekeeping pass each day (extend windows, lapse offers, post prompts).
Printed: time to create the groups, the year's passes (total, slowest pass), the peak
Python memory of the passes (tracemalloc), and, as the bare baseline in the same run,
the time to compute the same year of occurrences with dateutil alone and to insert the
same number of meeting rows in one multi-row statement. Halfway through, the service is
"restarted" (a new one on the same database) and its pass run twice at the same moment;
at the end every group must have exactly one meeting per occurrence, one event and
one set of reminders per meeting, and one prompt per week: any duplicate is reported.

SQLite (a temporary file) always; PostgreSQL too with ``--pg`` / $MENTORBOT_BENCH_PG_URL
(its tables are emptied!).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.common
from bench.common import ZONES, reset
from core import db
from core.clock import FakeClock
from core.context import Invocation
from core.models import Delivery, Member, SupportGroup, SupportGroupMeeting, SupportGroupPost
from core.recurrence import WEEKDAYS, Schedule
from core.service import Mentorbot

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
GUILD = "bench-guild"


def _who(user: str, *, admin: bool = False) -> Invocation:
    return Invocation("console", GUILD, user, display_name=user, is_platform_admin=admin)


async def _create(service: Mentorbot, groups: int) -> float:
    owner = _who("owner", admin=True)
    await service.execute(owner, "admin setup", {"admin_role": "@A", "admin_channel": "#a"})
    began = time.perf_counter()
    for n in range(groups):
        facilitator = f"f{n}"
        await service.execute(_who(facilitator), "mentor help", {})
        name = f"Group {n}"
        await service.execute(
            owner,
            "group create",
            {
                "name": name,
                "type": "new_givers",
                "facilitator": facilitator,
                "frequency": "weekly",
                "day": WEEKDAYS[n % 7],
                "time": f"{17 + n % 4}:30",
                "timezone": ZONES[n % len(ZONES)],
            },
        )
        await service.execute(
            _who(facilitator),
            "group prompt-schedule",
            {"group": name, "day": WEEKDAYS[(n + 3) % 7], "time": "09:00"},
        )
    return time.perf_counter() - began


TRACED_DAYS = 7


async def _year(
    url: str, factory_service: Mentorbot, clock: FakeClock, days: int
) -> tuple[float, float, int]:
    """(seconds of the untraced passes, slowest of them, peak bytes of the traced ones):
    a pass a day, a restart halfway; the last ``TRACED_DAYS`` passes run under
    tracemalloc (which slows Python down, so they are not timed)."""
    service = factory_service
    total = slowest = 0.0
    for day in range(1, days + 1):
        clock.set(START + timedelta(days=day))
        traced = day > days - TRACED_DAYS
        if traced and not tracemalloc.is_tracing():
            tracemalloc.start()
        began = time.perf_counter()
        await service.group_housekeeping()
        if day == days // 2:
            # A restart: a new service on the same database, its pass run twice.
            service = Mentorbot(service.factory, clock)
            await service.group_housekeeping()
            await service.group_housekeeping()
        spent = time.perf_counter() - began
        if not traced:
            total += spent
            slowest = max(slowest, spent)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return total, slowest, peak


async def _check(service: Mentorbot, groups: int, days: int) -> list[str]:
    """Every duplicate or gap found (an empty list when all is as it should be)."""
    end = START + timedelta(days=days)
    problems: list[str] = []
    async with service.factory() as session:
        rows = await session.execute(
            select(SupportGroup.id, SupportGroup.schedule, SupportGroup.prompt_schedule)
        )
        plans = {gid: (schedule, prompt) for gid, schedule, prompt in rows}
        meetings = dict(
            (
                await session.execute(
                    select(SupportGroupMeeting.group_id, func.count()).group_by(
                        SupportGroupMeeting.group_id
                    )
                )
            ).all()
        )
        posts = dict(
            (
                await session.execute(
                    select(SupportGroupPost.group_id, func.count()).group_by(
                        SupportGroupPost.group_id
                    )
                )
            ).all()
        )
        keys = (
            await session.execute(
                select(func.count(), func.count(func.distinct(Delivery.idempotency_key)))
            )
        ).one()
        events = (
            await session.execute(select(func.count()).where(Delivery.kind == "scheduled_event"))
        ).scalar_one()
    if len(plans) != groups:
        problems.append(f"{len(plans)} groups, expected {groups}")
    if keys[0] != keys[1]:
        problems.append(f"{keys[0] - keys[1]} duplicate delivery keys")
    total_meetings = 0
    for gid, (schedule, prompt) in plans.items():
        rule = Schedule.from_dict(schedule)
        # Meetings from creation on: all that started by the end, plus the window ahead.
        expected = len([o for o in rule.occurrences(START, 400) if o.start <= end]) + 4
        if meetings.get(gid, 0) != expected:
            problems.append(f"group {gid}: {meetings.get(gid, 0)} meetings, expected {expected}")
        total_meetings += meetings.get(gid, 0)
        weekly = Schedule("weekly", prompt["weekday"], clock_time(9), 15, rule.zone)
        due = len([o for o in weekly.occurrences(START, 60) if o.start <= end])
        if posts.get(gid, 0) != due:
            problems.append(f"group {gid}: {posts.get(gid, 0)} prompts, expected {due}")
    if events != total_meetings:
        problems.append(f"{events} events for {total_meetings} meetings")
    return problems[:10]


async def _baseline(url: str, groups: int, days: int, community_id: str) -> tuple[float, float]:
    """(dateutil occurrences for the year, one multi-row insert of as many meeting rows)."""
    began = time.perf_counter()
    starts: list[tuple[int, datetime]] = []
    for n in range(groups):
        rule = Schedule(
            "weekly",
            n % 7,
            clock_time(17 + n % 4, 30),
            60,
            ZONES[n % len(ZONES)],
            None,
            date(2026, 1, 5),
        )
        end = START + timedelta(days=days + 28)
        starts += [(n, o.start) for o in rule.occurrences(START, 60) if o.start <= end]
    computed = time.perf_counter() - began
    engine = db.create_engine(url)
    async with db.session_factory(engine)() as session:
        member = (await session.execute(select(Member.id).limit(1))).scalar_one()
        group = SupportGroup(
            community_id=community_id,
            name="baseline",
            description="",
            type="new_givers",
            facilitator_id=member,
            max_members=12,
            status="archived",
        )
        session.add(group)
        await session.commit()
        rows = [
            {
                "id": f"b{i:023d}",
                "community_id": community_id,
                "group_id": group.id,
                "scheduled_at": start,
                "occurrence_at": start + timedelta(microseconds=i),
                "duration": 60,
                "status": "scheduled",
                "created_at": START,
            }
            for i, (_, start) in enumerate(starts)
        ]
        began = time.perf_counter()
        await session.execute(insert(SupportGroupMeeting), rows)
        await session.commit()
        inserted = time.perf_counter() - began
    await engine.dispose()
    return computed, inserted


def _max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _run(name: str, url: str, args: argparse.Namespace) -> None:
    await db.upgrade_async(url)
    await reset(url)
    engine = db.create_engine(url)
    clock = FakeClock(START)
    service = Mentorbot(db.session_factory(engine), clock)
    created = await _create(service, args.groups)
    total, slowest, peak = await _year(url, service, clock, args.days)
    problems = await _check(service, args.groups, args.days)
    async with service.factory() as session:
        meetings = (await session.execute(select(func.count(SupportGroupMeeting.id)))).scalar()
        community_id = (await session.execute(select(SupportGroup.community_id).limit(1))).scalar()
    await engine.dispose()
    computed, inserted = await _baseline(url, args.groups, args.days, str(community_id))
    print(name)
    print(f"  created {args.groups} groups (window of 4 meetings each) in {created:.1f} s")
    print(
        f"  {args.days - TRACED_DAYS} daily passes: {total:.1f} s in all, slowest "
        f"{slowest * 1000:.0f} ms; the last {TRACED_DAYS} passes' peak Python memory "
        f"{peak / 1e6:.1f} MB (process max RSS {_max_rss_mb():.0f} MB); {meetings} meetings"
    )
    print(
        f"  baseline: dateutil occurrences for the run {computed:.2f} s; one multi-row "
        f"insert of {meetings} meeting rows {inserted:.2f} s "
        f"(the passes take {total / max(computed + inserted, 1e-9):.1f}× both)"
    )
    print("  restart mid-year: " + ("no duplicates" if not problems else "; ".join(problems)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--pg", default=os.environ.get("MENTORBOT_BENCH_PG_URL"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    parser.add_argument("--pg-only", action="store_true", help="skip the SQLite run")
    args = parser.parse_args()
    if args.quick:
        args.groups, args.days = 20, 30
    if not args.pg_only:
        with tempfile.TemporaryDirectory() as tmp:
            await _run("sqlite", db.normalise_url(f"sqlite:///{tmp}/bench.db"), args)
    if args.pg:
        await _run("postgresql", db.normalise_url(args.pg), args)


if __name__ == "__main__":
    asyncio.run(main())
