"""Delivery-queue throughput against the bare driver running the same statements.

    .venv/bin/python bench/delivery.py [--n 10000] [--repeat 5] [--pg URL] [--quick]

For SQLite (a temporary file) and, when a PostgreSQL URL is given (``--pg`` or
$MENTORBOT_BENCH_PG_URL; its tables are emptied!), PostgreSQL:

* queue: effects/s put in the queue through ``uow.outbox`` (one transaction);
* deliver: effects/s claimed and marked sent by one dispatcher (no-op platform port);
* the same two jobs done by bare aiosqlite / asyncpg running the same SQL texts
  (core.queue: the insert; the dispatcher's claim, its community look-up and its
  one-statement mark, one transaction per batch that records a batch and claims the
  next), each statement awaited as the driver is used, and the ratio dispatcher /
  bare: the median of the rounds' ratios and their range;
* the floor: the bare loop doing, besides, only what any dispatcher must do for each
  effect (decode its stored payload, call the port with its key, stamp when it was
  sent), how close it comes to bare, and how close the dispatcher comes to it. On
  SQLite the floor also sends each batch transaction to aiosqlite's thread in one trip,
  as the dispatcher does (core.queue's gathering connection), where bare makes a trip
  for each of its five statements: mentorbot / floor is then the dispatcher's own cost
  over the least any dispatcher could do with the same statements and trips;
* on SQLite, bare in one trip a batch too (nothing else added): the driver's own speed
  with the dispatcher's trips, and mentorbot's ratio to that.

Fairness: each first runs a small warm-up (imports, statement caches), then the heap is
frozen as ``mentorbot run`` freezes it (bot.wiring.settle_memory), so a full garbage
collection of start-up's objects lands in none; each round runs them all, the order
rotating from round to round, so a change in the machine's load hits all alike. On
SQLite each has a database file of its own: in a round all queue first, then all
deliver back to back (on a shared machine the speed of the same run changes by
half from one round to the next; the deliver phases compared are then seconds closer).
Every run must leave every row recorded as sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.common
from bench.common import reset
from bot.wiring import settle_memory
from core import db, queue
from core.clock import SystemClock
from core.delivery import DeliverySettings, Dispatcher
from core.effects import DirectMessage, dump_json, load
from core.messages import Message
from core.ports import new_attempt
from core.uow import UnitOfWork

BATCH = 100


class NullPort:
    platform = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send_dm(self, target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
        self.sent += 1
        return {}


async def _ours(url: str, n: int) -> AsyncIterator[tuple[float, float]]:
    community_id = await reset(url)
    clock = SystemClock()
    engine = db.create_engine(url)
    factory = db.session_factory(engine)
    async with engine.connect():  # connected before timing, as the bare driver is
        pass
    start, cpu = time.perf_counter(), time.process_time()
    async with UnitOfWork(factory, clock) as uow:
        for i in range(n):
            await uow.outbox.add(
                community_id, DirectMessage(f"u{i}", Message(text="hi")), key=f"b:{i}"
            )
        await uow.commit()
    queued, queued_cpu = time.perf_counter() - start, time.process_time() - cpu
    yield n / queued, n / queued_cpu
    port = NullPort()
    dispatcher = Dispatcher(factory, {"console": port}, clock, DeliverySettings(batch_size=BATCH))
    _checkpoint(url)
    start, cpu = time.perf_counter(), time.process_time()
    await dispatcher.drain(max_batches=n)
    drained, drained_cpu = time.perf_counter() - start, time.process_time() - cpu
    await engine.dispose()
    assert port.sent == n, f"lost or duplicated effects: {port.sent} of {n}"
    yield n / drained, n / drained_cpu


# ----- the same statements on the bare driver ---------------------------------------------
# The texts are the dispatcher's own (core.queue); like the dispatcher, each batch is one
# transaction that records the previous batch and claims the next, and reads the
# claimed rows' communities.


def _rows(n: int, community_id: str) -> list[tuple[Any, ...]]:
    """The rows ours queues (the same payloads and keys), stamped when inserted: each
    row is due when it was queued, as ``uow.outbox.add`` makes it, so the claim reads the
    same index order in both (rows sharing one due time would make every claim sort them
    all by id)."""
    payloads = [dump_json(DirectMessage(f"u{i}", Message(text="hi"))) for i in range(n)]
    return [
        (community_id, "dm", payload, f"b:{i}", None, f"user:u{i}")
        for i, payload in enumerate(payloads)
    ]


async def _marks(
    claimed: list[Any], false: Any, stamp: Callable[[datetime], Any], port: NullPort | None
) -> list[tuple[Any, ...]]:
    """A batch's mark parameters. With ``port`` (the floor), each effect is first done as
    any dispatcher must do it: its stored payload decoded, the port called with its key,
    its sent time taken when the port returned."""
    if port is None:
        t = stamp(datetime.now(UTC))
        return [(r[0], "bare", "sent", r[4] + 1, r[7], None, false, t, None) for r in claimed]
    marks = []
    for r in claimed:
        effect = load(r[1], r[2])
        assert isinstance(effect, DirectMessage)
        attempt = new_attempt((r[5], bool(r[6])))  # as the dispatcher makes it
        await port.send_dm(None, effect.user_id, effect.message, None, attempt)
        t = stamp(datetime.now(UTC))
        marks.append((r[0], "bare", "sent", r[4] + 1, r[7], None, false, t, None))
    return marks


async def _bare_sqlite(
    url: str, n: int, port: NullPort | None = None, one_trip: bool | None = None
) -> AsyncIterator[tuple[float, float]]:
    """``one_trip`` (the floor's way unless said): each batch transaction in one trip to
    aiosqlite's thread, as the dispatcher sends it; else a trip for each statement."""
    community_id = await reset(url)
    path = make_url(url).database
    assert path
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA foreign_keys=ON")
    sql = queue.SQLITE
    rows = _rows(n, community_id)
    start, cpu = time.perf_counter(), time.process_time()
    await conn.execute("BEGIN IMMEDIATE")
    for row in rows:
        now = queue.sqlite_time(datetime.now(UTC))
        await conn.execute(sql.insert, (*row, now, now))
    await conn.execute("COMMIT")
    queued, queued_cpu = time.perf_counter() - start, time.process_time() - cpu
    yield n / queued, n / queued_cpu

    async def claim() -> list[Any]:
        t = datetime.now(UTC)
        lease = queue.sqlite_time(t + timedelta(seconds=4))
        claimed = list(
            await conn.execute_fetchall(sql.claim, ("bare", lease, queue.sqlite_time(t), BATCH))
        )
        if claimed:
            await conn.execute_fetchall(sql.communities(1), (community_id,))
        return claimed

    def in_one_trip(marks: list[tuple[Any, ...]], raw: sqlite3.Connection) -> list[Any]:
        """The floor's batch transaction, on the driver's thread in one trip (as the
        dispatcher sends it, see core.queue): begin, marks, claim, communities, commit."""
        t = datetime.now(UTC)
        lease = queue.sqlite_time(t + timedelta(seconds=4))
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(sql.mark, marks)
        claimed = raw.execute(sql.claim, ("bare", lease, queue.sqlite_time(t), BATCH)).fetchall()
        if claimed:
            raw.execute(sql.communities(1), (community_id,)).fetchall()
        raw.execute("COMMIT")
        return claimed

    sent = 0
    _checkpoint(url)
    start, cpu = time.perf_counter(), time.process_time()
    if port is not None if one_trip is None else one_trip:
        claimed = await conn._execute(in_one_trip, [], conn._conn)
        while claimed:
            sent += len(claimed)
            marks = await _marks(claimed, 0, queue.sqlite_time, port)
            claimed = await conn._execute(in_one_trip, marks, conn._conn)
    else:  # bare aiosqlite as it is used: a trip to its thread for each statement
        await conn.execute("BEGIN IMMEDIATE")
        claimed = await claim()
        await conn.execute("COMMIT")
        while claimed:
            sent += len(claimed)
            await conn.execute("BEGIN IMMEDIATE")
            await conn.executemany(sql.mark, await _marks(claimed, 0, queue.sqlite_time, port))
            claimed = await claim()
            await conn.execute("COMMIT")
    drained, drained_cpu = time.perf_counter() - start, time.process_time() - cpu
    await conn.close()
    assert sent == n
    yield n / drained, n / drained_cpu


async def _bare_postgres(
    url: str, n: int, port: NullPort | None = None
) -> AsyncIterator[tuple[float, float]]:
    community_id = await reset(url)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    sql = queue.POSTGRESQL
    rows = _rows(n, community_id)
    start, cpu = time.perf_counter(), time.process_time()
    async with conn.transaction():
        for row in rows:
            now = datetime.now(UTC)
            await conn.execute(sql.insert, *row, now, now)
    queued, queued_cpu = time.perf_counter() - start, time.process_time() - cpu
    yield n / queued, n / queued_cpu

    async def claim() -> list[Any]:
        t = datetime.now(UTC)
        claimed = await conn.fetch(sql.claim, "bare", t + timedelta(seconds=4), t, BATCH)
        if claimed:
            await conn.fetch(sql.communities(1), community_id)
        return claimed

    sent = 0
    start, cpu = time.perf_counter(), time.process_time()
    async with conn.transaction():
        claimed = await claim()
    while claimed:
        sent += len(claimed)
        async with conn.transaction():
            await conn.executemany(sql.mark, await _marks(claimed, False, _same, port))
            claimed = await claim()
    drained, drained_cpu = time.perf_counter() - start, time.process_time() - cpu
    await conn.close()
    assert sent == n
    yield n / drained, n / drained_cpu


def _checkpoint(url: str) -> None:
    """SQLite: every deliver phase starts with an empty write-ahead log, so that the
    checkpoints its writes cause (copying pages into the database file) fall alike in
    each, not wherever the last phase left the log."""
    if "sqlite" in url:
        path = make_url(url).database
        assert path
        with closing(sqlite3.connect(path, timeout=10)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _same(value: datetime) -> datetime:
    return value


async def _all_sent(url: str, n: int) -> None:
    """Both runs must leave every row recorded as sent (the same work, really done)."""
    engine = db.create_engine(url)
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM deliveries WHERE status = 'sent' AND claimed_by IS NULL")
        )
        done = found.scalar_one()
    await engine.dispose()
    assert done == n, f"{done} of {n} rows recorded as sent"


Run = Callable[[str, int], AsyncIterator[tuple[float, float]]]


async def _round(runs: list[Run], url_of: dict[Run, str], n: int, together: bool) -> list[Any]:
    """One round: each run queues, then delivers. ``together`` (SQLite, a file each): all
    queue first, then all deliver back to back, so that the deliver phases compared are
    seconds closer in time, and a change in the machine's speed falls more alike on them.
    Returns, per run, (queue rate, deliver rate, queue per CPU second, deliver per CPU
    second)."""
    phases = [run(url_of[run], n) for run in runs]
    queued: list[tuple[float, float]] = []
    delivered: list[tuple[float, float]] = []
    if together:
        queued = [await anext(p) for p in phases]
        delivered = [await anext(p) for p in phases]
    else:
        for p in phases:
            queued.append(await anext(p))
            delivered.append(await anext(p))
    for p in phases:
        await anext(p, None)  # runs what follows the last phase (its checks)
    return [(q[0], d[0], q[1], d[1]) for q, d in zip(queued, delivered, strict=True)]


async def _compare(name: str, url_of: Callable[[str], str], n: int, repeat: int) -> None:
    postgres = "postgresql" in url_of("any")
    bare_run = _bare_postgres if postgres else _bare_sqlite

    async def floor_run(url: str, n: int) -> AsyncIterator[tuple[float, float]]:
        port = NullPort()
        async for found in bare_run(url, n, port):
            yield found
        assert port.sent == n

    async def one_trip_run(url: str, n: int) -> AsyncIterator[tuple[float, float]]:
        async for found in _bare_sqlite(url, n, one_trip=True):
            yield found

    runs: list[Run] = [_ours, bare_run, floor_run]
    names = ["ours", "bare", "floor"]
    if not postgres:  # bare aiosqlite in the dispatcher's trips too (see the docstring)
        runs.append(one_trip_run)
        names.append("one_trip")
    urls = {run: url_of(who) for run, who in zip(runs, names, strict=True)}
    for url in set(urls.values()):
        await db.upgrade_async(url)
    # A warm-up of each, not counted (first compilations, imports, caches).
    await _round(runs, urls, min(n, 500), not postgres)
    settle_memory()
    found: dict[Run, list[tuple[float, ...]]] = {run: [] for run in runs}
    for i in range(repeat):  # interleaved, the order rotating each round
        order = runs[i % len(runs) :] + runs[: i % len(runs)]
        for run, result in zip(order, await _round(order, urls, n, not postgres), strict=True):
            found[run].append(result)
            await _all_sent(urls[run], n)
    ours, bare, floor = found[_ours], found[bare_run], found[floor_run]

    def ratios(a: list[tuple[float, ...]], b: list[tuple[float, ...]], i: int) -> str:
        each = sorted(x[i] / y[i] for x, y in zip(a, b, strict=True))
        spread = f" (rounds {each[0]:.2f}-{each[-1]:.2f})" if repeat > 1 else ""
        return f"{statistics.median(each):.2f}{spread}"

    def rate(runs: list[tuple[float, ...]], i: int) -> str:
        return f"{statistics.median(r[i] for r in runs):>8,.0f}/s"

    print(f"{name}: {n} effects, {repeat} rounds (load {os.getloadavg()[0]:.1f})")
    for i, job in enumerate(("queue", "deliver")):
        print(
            f"  {job:<8} mentorbot {rate(ours, i)}   bare {rate(bare, i)}   "
            f"ratio {ratios(ours, bare, i)}"
        )
    print(
        f"  floor (bare + decode + port call) {rate(floor, 1)}: {ratios(floor, bare, 1)} "
        f"of bare; mentorbot / floor {ratios(ours, floor, 1)}"
    )
    if not postgres:
        one_trip = found[one_trip_run]
        print(
            f"  bare, a batch in one trip (as mentorbot sends it) {rate(one_trip, 1)}: "
            f"{ratios(one_trip, bare, 1)} of bare; mentorbot / that {ratios(ours, one_trip, 1)}"
        )
    if n < 5000:
        print(
            f"  (a queue of {n} rows: its statements cost the driver less than a larger "
            "queue's, so the dispatcher's own work weighs more in the ratio; the target is "
            "judged at the default --n 10000)"
        )
    if not postgres:
        # SQLite works inside the process, so its CPU time is the whole job's: effects per
        # CPU second tell the two apart without the scheduling noise of a busy machine.
        print(
            f"  per CPU second: queue ratio {ratios(ours, bare, 2)}; deliver ratio "
            f"{ratios(ours, bare, 3)}, floor {ratios(floor, bare, 3)} of bare"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("MENTORBOT_BENCH_PG_URL"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    args = parser.parse_args()
    n, repeat = (500, 2) if args.quick else (args.n, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        # A database file for each run: they are filled together (see _round).
        await _compare(
            "sqlite", lambda who: db.normalise_url(f"sqlite:///{tmp}/{who}.db"), n, repeat
        )
    if args.pg:
        pg = db.normalise_url(args.pg)
        await _compare("postgresql", lambda who: pg, n, repeat)


if __name__ == "__main__":
    asyncio.run(main())
