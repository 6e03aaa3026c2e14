"""Delivery-queue throughput against the bare driver running the same statements.

    .venv/bin/python bench/delivery.py [--n 20000] [--repeat 5] [--pg URL] [--quick]

For SQLite (a temporary file) and, when a PostgreSQL URL is given (``--pg`` or
$MENTORBOT_BENCH_PG_URL; its tables are emptied!), PostgreSQL:

* queue: effects/s put in the queue through ``uow.outbox`` (one transaction);
* deliver: effects/s claimed and marked sent by one dispatcher (no-op platform port);
* the same two jobs done by bare aiosqlite / asyncpg running the same SQL texts
  (core.queue: the insert; the dispatcher's claim, its community look-up and its
  one-statement mark, one transaction per batch that records a batch and claims the
  next), and the ratio dispatcher / bare: the median of the rounds' ratios and their
  range.

Fairness: both first run a small warm-up (imports, statement caches), then the heap is
frozen as ``mentorbot run`` freezes it (bot.wiring.settle_memory), so a full garbage
collection of start-up's objects lands in neither; each round runs both, alternating
which goes first (A/B, B/A, ...), so a change in the machine's load hits both alike.
Both runs must leave every row recorded as sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
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
from core.effects import DirectMessage, dump_json
from core.messages import Message
from core.uow import UnitOfWork

BATCH = 100


class NullPort:
    platform = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send_dm(self, target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
        self.sent += 1
        return {}


async def _ours(url: str, n: int) -> tuple[float, ...]:
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
    port = NullPort()
    dispatcher = Dispatcher(factory, {"console": port}, clock, DeliverySettings(batch_size=BATCH))
    start, cpu = time.perf_counter(), time.process_time()
    await dispatcher.drain(max_batches=n)
    drained, drained_cpu = time.perf_counter() - start, time.process_time() - cpu
    await engine.dispose()
    assert port.sent == n, f"lost or duplicated effects: {port.sent} of {n}"
    return n / queued, n / drained, n / queued_cpu, n / drained_cpu


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


def _marks(claimed: list[Any], t: Any, false: Any) -> list[tuple[Any, ...]]:
    return [(r[0], "bare", "sent", r[4] + 1, r[7], None, false, t, None) for r in claimed]


async def _bare_sqlite(url: str, n: int) -> tuple[float, ...]:
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

    async def claim() -> list[Any]:
        t = datetime.now(UTC)
        lease = queue.sqlite_time(t + timedelta(seconds=4))
        claimed = list(
            await conn.execute_fetchall(sql.claim, ("bare", lease, queue.sqlite_time(t), BATCH))
        )
        if claimed:
            await conn.execute_fetchall(sql.communities(1), (community_id,))
        return claimed

    sent = 0
    start, cpu = time.perf_counter(), time.process_time()
    await conn.execute("BEGIN IMMEDIATE")
    claimed = await claim()
    await conn.execute("COMMIT")
    while claimed:
        sent += len(claimed)
        await conn.execute("BEGIN IMMEDIATE")
        await conn.executemany(sql.mark, _marks(claimed, queue.sqlite_time(datetime.now(UTC)), 0))
        claimed = await claim()
        await conn.execute("COMMIT")
    drained, drained_cpu = time.perf_counter() - start, time.process_time() - cpu
    await conn.close()
    assert sent == n
    return n / queued, n / drained, n / queued_cpu, n / drained_cpu


async def _bare_postgres(url: str, n: int) -> tuple[float, ...]:
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
            await conn.executemany(sql.mark, _marks(claimed, datetime.now(UTC), False))
            claimed = await claim()
    drained, drained_cpu = time.perf_counter() - start, time.process_time() - cpu
    await conn.close()
    assert sent == n
    return n / queued, n / drained, n / queued_cpu, n / drained_cpu


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


async def _compare(name: str, url: str, n: int, repeat: int) -> None:
    await db.upgrade_async(url)
    bare_run = _bare_postgres if "postgresql" in url else _bare_sqlite
    # A warm-up of each, not counted (first compilations, imports, caches).
    await _ours(url, min(n, 500))
    await bare_run(url, min(n, 500))
    settle_memory()
    ours, bare = [], []
    for i in range(repeat):  # interleaved, alternating order
        for run in (_ours, bare_run) if i % 2 == 0 else (bare_run, _ours):
            (ours if run is _ours else bare).append(await run(url, n))
            await _all_sent(url, n)
    print(f"{name}: {n} effects, {repeat} rounds (load {os.getloadavg()[0]:.1f})")
    for i, job in enumerate(("queue", "deliver")):
        o, b = [r[i] for r in ours], [r[i] for r in bare]
        ratios = sorted(x / y for x, y in zip(o, b, strict=True))
        spread = f" (rounds {ratios[0]:.2f}-{ratios[-1]:.2f})" if repeat > 1 else ""
        print(
            f"  {job:<8} mentorbot {statistics.median(o):>8,.0f}/s   bare "
            f"{statistics.median(b):>8,.0f}/s   ratio {statistics.median(ratios):.2f}{spread}"
        )
    if "sqlite" in url:
        # SQLite works inside the process, so its CPU time is the whole job's: effects per
        # CPU second tell the two apart without the scheduling noise of a busy machine.
        for i, job in enumerate(("queue", "deliver"), start=2):
            cpu = sorted(o[i] / b[i] for o, b in zip(ours, bare, strict=True))
            print(f"  {job:<8} per CPU second: ratio {statistics.median(cpu):.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("MENTORBOT_BENCH_PG_URL"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    args = parser.parse_args()
    n, repeat = (1000, 2) if args.quick else (args.n, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        await _compare("sqlite", db.normalise_url(f"sqlite:///{tmp}/bench.db"), n, repeat)
    if args.pg:
        await _compare("postgresql", db.normalise_url(args.pg), n, repeat)


if __name__ == "__main__":
    asyncio.run(main())
