"""Matching figures for issue 5.

    .venv/bin/python bench/matching.py [--database URL] [--quick]

1. ``suggest`` latency for one mentee over 10,000 active mentors, through the service
   (database, scoring and the reply), p50 and p99 over repeated calls;
2. a matching round of 10,000 mentees over 2,000 mentors with capacity 5, run as the
   use case runs it (in the worker process, warmed first), with the longest event-loop
   stall measured while it runs;
3. the round's total score as a ratio of the exact optimum (scipy's dense assignment on
   capacity-expanded slots) on a 2,000 x 500 x 4 instance, computed in the same run;
4. the whole ``/admin match-round`` command through the service on a seeded database
   (read the pool, solve in the worker, write the proposals and their cards): wall time,
   the longest event-loop stall (and the loop thread's own CPU time within it), each
   phase's time and longest stall, the worker's peak memory, the idle loop's longest gap
   on this machine meanwhile (the floor a busy machine sets) and the main process's full
   garbage collections, at 10,000 mentees x 2,000 mentors x capacity 5 and (without
   ``--quick``) 50,000 x 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.common
from bench.common import LANGS, STYLES, ZONES, StallMeter
from core import assignment, db
from core.assignment import PackedPool, _worker, assign
from core.clock import FakeClock
from core.context import Invocation
from core.defaults import EXPERTISE_OPTIONS, GOAL_EXPERTISE
from core.ids import new_id
from core.matching import MatchingSettings, MenteeFacts, MentorFacts, score_table
from core.models import Community, Delivery, Member, Mentee, Mentor, Mentorship
from core.service import Mentorbot

GOALS = list(GOAL_EXPERTISE)


def random_mentors(rng: random.Random, n: int, capacity: int) -> list[MentorFacts]:
    return [
        MentorFacts(
            f"m{i:06d}",
            tuple(rng.sample(EXPERTISE_OPTIONS, rng.randint(1, 3))),
            tuple(rng.sample(LANGS, rng.randint(1, 2))),
            rng.choice(ZONES),
            rng.choice(STYLES),
            capacity,
            capacity,
            rng.randint(2, 40),
        )
        for i in range(n)
    ]


def random_mentees(rng: random.Random, n: int) -> list[MenteeFacts]:
    return [
        MenteeFacts(
            f"e{i:06d}",
            tuple(rng.sample(GOALS, rng.randint(1, 3))),
            tuple(rng.sample(LANGS, rng.randint(1, 2))),
            rng.choice(ZONES),
            rng.choice(["any", *STYLES]),
        )
        for i in range(n)
    ]


async def bench_suggest(url: str, n_mentors: int, calls: int) -> tuple[float, float, float]:
    rng = random.Random(1)
    clock = FakeClock()
    engine = db.create_engine(url)
    factory = db.session_factory(engine)
    service = Mentorbot(factory, clock)
    community = await service.join_community("console", "bench", "Bench")
    async with factory() as session, session.begin():
        c = await session.get(Community, community.id)
        assert c is not None
        c.is_set_up, c.admin_channel_id = True, "admins"
        for facts in random_mentors(rng, n_mentors, 3):
            member = Member(
                community_id=community.id,
                platform_user_id=facts.id,
                display_name=facts.id,
                languages=[],
            )
            session.add(member)
            await session.flush()
            session.add(
                Mentor(
                    community_id=community.id,
                    user_id=member.id,
                    bio="Bench mentor " * 3,
                    expertise=list(facts.expertise),
                    availability=facts.availability,
                    max_mentees=3,
                    current_mentees=rng.randint(0, 2),
                    preferred_style=facts.style,
                    languages=list(facts.languages),
                    timezone=facts.timezone,
                    application_date=clock.now(),
                    status="active",
                )
            )
        seeker = Member(
            community_id=community.id,
            platform_user_id="seeker",
            display_name="seeker",
            languages=["en"],
        )
        session.add(seeker)
        await session.flush()
        session.add(
            Mentee(
                community_id=community.id,
                user_id=seeker.id,
                goals=["learn_giving", "understand_loans"],
                languages=["en", "es"],
                timezone="Europe/Madrid",
                preferred_style="any",
            )
        )
    who = Invocation("console", "bench", "seeker", "seeker")
    first = time.perf_counter()
    await service.execute(who, "mentor suggest", {})
    cold = (time.perf_counter() - first) * 1000
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        reply = await service.execute(who, "mentor suggest", {})
        samples.append((time.perf_counter() - start) * 1000)
        assert reply is not None
        assert reply.message is not None
        assert reply.message.buttons
    await engine.dispose()
    samples.sort()
    return cold, statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def packed(mentees: list[MenteeFacts], mentors: list[MentorFacts]) -> PackedPool:
    """The pool as the round's read step hands it over: pickled 2,000 at a time."""
    pool = PackedPool()
    for lo in range(0, len(mentees), 2000):
        part = mentees[lo : lo + 2000]
        pool.add_mentees(part, [f"member-{m.id}" for m in part])
    for lo in range(0, len(mentors), 2000):
        part_ = mentors[lo : lo + 2000]
        pool.add_mentors(part_, [f"member-{m.id}" for m in part_])
    return pool


async def bench_round(n_mentees: int, n_mentors: int, capacity: int) -> tuple[float, float, int]:
    rng = random.Random(2)
    mentees = random_mentees(rng, n_mentees)
    mentors = random_mentors(rng, n_mentors, capacity)
    settings, start = MatchingSettings(), date(2026, 3, 20)
    # Warm the worker process first (started once per bot process, then kept).
    await assignment.solve_off_loop(packed(mentees[:10], mentors[:10]), settings, start)
    pool = packed(mentees, mentors)
    async with StallMeter() as stall:
        begin = time.perf_counter()
        solution = await assignment.solve_off_loop(pool, settings, start)
        elapsed = time.perf_counter() - begin
    return elapsed, stall.worst_ms, len(solution)


async def seed_round(
    url: str, n_mentees: int, n_mentors: int, capacity: int
) -> tuple[Mentorbot, Invocation, float]:
    """A community with waiting mentees and accepting mentors, inserted in bulk."""
    rng = random.Random(4)
    guild = f"round{n_mentees}"
    clock = FakeClock()
    engine = db.create_engine(url)
    factory = db.session_factory(engine)
    service = Mentorbot(factory, clock)
    community = await service.join_community("console", guild, "Round")
    begin = time.perf_counter()
    now = clock.now()
    async with factory() as session, session.begin():
        c = await session.get(Community, community.id)
        assert c is not None
        c.is_set_up, c.admin_channel_id = True, "admins"
        members, mentors, mentees = [], [], []
        for facts in random_mentors(rng, n_mentors, capacity):
            member_id = new_id()
            members.append(
                {"id": member_id, "community_id": community.id, "platform_user_id": facts.id}
            )
            mentors.append(
                {
                    "id": new_id(),
                    "community_id": community.id,
                    "user_id": member_id,
                    "bio": "Bench mentor",
                    "expertise": list(facts.expertise),
                    "availability": facts.availability,
                    "max_mentees": capacity,
                    "current_mentees": 0,
                    "preferred_style": facts.style,
                    "languages": list(facts.languages),
                    "timezone": facts.timezone,
                    "application_date": now,
                    "status": "active",
                }
            )
        for facts in random_mentees(rng, n_mentees):
            member_id = new_id()
            members.append(
                {"id": member_id, "community_id": community.id, "platform_user_id": facts.id}
            )
            mentees.append(
                {
                    "id": new_id(),
                    "community_id": community.id,
                    "user_id": member_id,
                    "goals": list(facts.goals),
                    "languages": list(facts.languages),
                    "timezone": facts.timezone,
                    "preferred_style": facts.style,
                }
            )
        for model, rows in ((Member, members), (Mentor, mentors), (Mentee, mentees)):
            for lo in range(0, len(rows), 5000):
                await session.execute(insert(model), rows[lo : lo + 5000])
    return (
        service,
        Invocation("console", guild, "owner", "owner", is_platform_admin=True),
        (time.perf_counter() - begin),
    )


async def idle_stall_ms(seconds: float) -> float:
    """The floor: the longest gap of the same meter while the loop does nothing at all
    (on a machine shared with other work, the scheduler alone makes gaps)."""
    async with StallMeter() as idle:
        await asyncio.sleep(seconds)
    return idle.worst_ms


def worker_usage() -> resource.struct_rusage:
    return _worker().submit(functools.partial(resource.getrusage, resource.RUSAGE_SELF)).result()


def worker_peak_mib() -> float:
    """The solver worker's peak resident memory so far (Linux reports KiB)."""
    return worker_usage().ru_maxrss / 1024


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


async def bench_round_command(
    url: str, n_mentees: int, n_mentors: int, capacity: int
) -> tuple[float, StallMeter, float, int, float, list[float], tuple[float, float]]:
    """The whole command as an admin runs it: seconds, the stall meter (whole command and
    its phases: read the pool, solve in the worker, write), seeding seconds, proposals
    made, the worker's peak memory (MiB) and the main process's full garbage collections
    meanwhile (CPU ms each), and the CPU seconds the command took in the main process (all
    its threads) and in the worker."""
    service, owner, seeding = await seed_round(url, n_mentees, n_mentors, capacity)
    owner_community = (
        await service.join_community("console", owner.community_platform_id, "Round")
    ).id
    await service.execute(owner, "admin setup", {"admin_role": "A", "admin_channel": "adm"})
    solve = assignment.solve_off_loop

    async def timed_solve(*args: Any) -> assignment.Solution:
        stall.phase("solve")
        try:
            return await solve(*args)
        finally:
            stall.phase("write")

    full_collections: list[float] = []  # the garbage collector's full passes (ms, CPU)
    started = 0.0

    def on_collection(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if info["generation"] != 2:
            return
        if phase == "start":
            started = time.thread_time()
        else:
            full_collections.append((time.thread_time() - started) * 1000)

    assignment.solve_off_loop = timed_solve  # type: ignore[assignment]
    gc.callbacks.append(on_collection)
    gc.freeze()  # as `mentorbot run` does once it has started
    worker_before = cpu_seconds(worker_usage())
    try:
        async with StallMeter() as stall:
            stall.phase("read")
            begin, main_before = time.perf_counter(), time.process_time()
            reply = await service.execute(owner, "admin match-round", {})
            elapsed, main_cpu = time.perf_counter() - begin, time.process_time() - main_before
    finally:
        assignment.solve_off_loop = solve
        gc.callbacks.remove(on_collection)
        gc.unfreeze()
    assert reply is not None
    assert reply.message is not None
    async with service.factory() as session:
        made = (
            await session.execute(
                select(func.count()).where(Mentorship.community_id == owner_community)
            )
        ).scalar_one()
        cards = (
            await session.execute(
                select(func.count()).where(Delivery.community_id == owner_community)
            )
        ).scalar_one()
    assert cards >= 2 * made
    await service.factory.kw["bind"].dispose()
    worker_cpu = cpu_seconds(worker_usage()) - worker_before
    cpu = (main_cpu, worker_cpu)
    return elapsed, stall, seeding, made, worker_peak_mib(), full_collections, cpu


def bench_quality(n_mentees: int, n_mentors: int, capacity: int) -> tuple[float, float, float]:
    rng = random.Random(3)
    mentees = random_mentees(rng, n_mentees)
    mentors = random_mentors(rng, n_mentors, capacity)
    settings, start = MatchingSettings(), date(2026, 3, 20)
    proposals = assign(mentees, mentors, settings, start)
    ours = sum(p.score for p in proposals)
    table = score_table(
        sorted(mentees, key=lambda x: x.id), sorted(mentors, key=lambda x: x.id), settings, start
    ).total
    allowed = np.where(table >= settings.min_score, table, 0.0)
    t = time.perf_counter()
    rows, cols = linear_sum_assignment(-np.repeat(allowed, capacity, axis=1))
    exact_seconds = time.perf_counter() - t
    optimum = float(allowed[rows, cols // capacity].sum())
    return ours / optimum, optimum, exact_seconds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    n_mentors, calls = (1000, 20) if args.quick else (10_000, 200)
    with tempfile.TemporaryDirectory() as tmp:
        url = db.normalise_url(args.database or f"sqlite:///{tmp}/bench.db")
        await db.upgrade_async(url)
        cold, p50, p99 = await bench_suggest(url, n_mentors, calls)
    print(
        f"suggest over {n_mentors:,} active mentors ({calls} calls): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (first call {cold:.0f} ms)   target p99 <= 20 ms"
    )
    sizes = (2000, 400, 5) if args.quick else (10_000, 2_000, 5)
    elapsed, gap, made = await bench_round(*sizes)
    print(
        f"round {sizes[0]:,} mentees x {sizes[1]:,} mentors x capacity {sizes[2]}: "
        f"{elapsed:.2f} s, {made:,} proposals, longest event-loop stall {gap:.0f} ms   "
        "target <= 5 s"
    )
    rounds = [(10_000, 2_000, 5)] if args.quick else [(10_000, 2_000, 5), (50_000, 10_000, 5)]
    for n_mentees, n_mentors, capacity in rounds:
        with tempfile.TemporaryDirectory() as tmp:
            url = db.normalise_url(args.database or f"sqlite:///{tmp}/round.db")
            await db.upgrade_async(url)
            took, stall, seeding, made, peak, collections, cpu = await bench_round_command(
                url, n_mentees, n_mentors, capacity
            )
        floor = await idle_stall_ms(min(took, 10.0))
        target = "<= 5 s, 300 MB" if n_mentees <= 10_000 else "<= 30 s, 1.5 GB"
        phases = ", ".join(
            f"{name} {seconds:.2f} s / stall {gap:.0f} ms (CPU {cpu:.0f} ms)"
            for name, (seconds, gap, cpu) in stall.phases.items()
        )
        print(
            f"/admin match-round {n_mentees:,} x {n_mentors:,} x {capacity}, whole command: "
            f"{took:.2f} s, {made:,} proposals, longest event-loop stall "
            f"{stall.worst_ms:.0f} ms (loop thread's CPU in it {stall.worst_cpu_ms:.0f} ms), "
            f"worker peak {peak:,.0f} MiB (seeding {seeding:.0f} s, "
            f"not counted)   target {target}, stall <= 50 ms\n    phases: {phases}; "
            f"idle loop's longest gap meanwhile on this machine: {floor:.0f} ms; "
            f"{len(collections)} full garbage collections in the main process, "
            f"longest {max(collections, default=0):.0f} ms CPU; CPU time: main process "
            f"{cpu[0]:.1f} s, worker {cpu[1]:.1f} s"
        )
    quality = (400, 100, 4) if args.quick else (2_000, 500, 4)
    ratio, optimum, exact = bench_quality(*quality)
    print(
        f"round quality on {quality[0]:,} x {quality[1]} x {quality[2]}: {ratio:.5f} of the "
        f"scipy optimum ({optimum:,.0f}; exact solve {exact:.1f} s)   target >= 0.995"
    )


if __name__ == "__main__":
    asyncio.run(main())
