"""Delivery-queue throughput against the bare driver running the same statements.

    .venv/bin/python bench/delivery.py [--n 5000] [--repeat 3] [--pg URL] [--quick]

For SQLite (a temporary file) and, when a PostgreSQL URL is given (``--pg`` or
$MENTORBOT_BENCH_PG_URL; its tables are emptied!), PostgreSQL:

* queue: effects/s put in the queue through ``uow.outbox`` (one transaction);
* deliver: effects/s claimed and marked sent by one dispatcher (no-op platform port);
* the same two jobs done by bare aiosqlite / asyncpg running the same SQL (the
  dispatcher's claim, its community look-up and its one-statement mark per batch),
  and the ratio dispatcher / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.common
from bench.common import reset
from core import db
from core.clock import SystemClock
from core.delivery import DeliverySettings, Dispatcher
from core.effects import DirectMessage, dump
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


async def _ours(url: str, n: int) -> tuple[float, float]:
    community_id = await reset(url)
    clock = SystemClock()
    engine = db.create_engine(url)
    factory = db.session_factory(engine)
    start = time.perf_counter()
    async with UnitOfWork(factory, clock) as uow:
        for i in range(n):
            await uow.outbox.add(
                community_id, DirectMessage(f"u{i}", Message(text="hi")), key=f"b:{i}"
            )
        await uow.commit()
    queued = time.perf_counter() - start
    port = NullPort()
    dispatcher = Dispatcher(factory, {"console": port}, clock, DeliverySettings(batch_size=BATCH))
    start = time.perf_counter()
    await dispatcher.drain(max_batches=n)
    drained = time.perf_counter() - start
    await engine.dispose()
    assert port.sent == n, f"lost or duplicated effects: {port.sent} of {n}"
    return n / queued, n / drained


# ----- the same statements on the bare driver ---------------------------------------------

INSERT = (
    "INSERT INTO deliveries (community_id, kind, payload, idempotency_key, group_key, "
    "destination, status, due_at, attempts, created_at) VALUES ({p}) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
CLAIM = (
    "UPDATE deliveries SET claimed_by = {me}, lease_until = {lease}, "
    "uncertain = CASE WHEN claimed_by IS NULL THEN uncertain ELSE {t} END "
    "WHERE id IN (SELECT d.id FROM deliveries d WHERE d.status = 'pending' "
    "AND d.due_at <= {now} AND (d.lease_until IS NULL OR d.lease_until < {now}) "
    "AND NOT EXISTS (SELECT 1 FROM deliveries a WHERE a.community_id = d.community_id "
    "AND a.destination = d.destination AND a.status = 'pending' AND a.id < d.id "
    "AND (a.last_error IS NOT NULL OR a.lease_until >= {now})) "
    "ORDER BY d.due_at, d.id LIMIT {limit}{lock}) "
    "RETURNING id, kind, payload, community_id, attempts, idempotency_key, uncertain, "
    "due_at, destination, last_error"
)
COMMUNITIES = "SELECT * FROM communities WHERE id = {0}"
MINE = "SELECT id FROM deliveries WHERE id IN ({ids}) AND claimed_by = {0}{lock}"
MARK = (
    "UPDATE deliveries SET status = {2}, attempts = {3}, due_at = {4}, last_error = {5}, "
    "uncertain = {6}, sent_at = {7}, result = {8}, claimed_by = NULL, lease_until = NULL "
    "WHERE id = {0} AND claimed_by = {1}"
)


def _rows(n: int, community_id: str, now: datetime, stamp: Any) -> list[tuple[Any, ...]]:
    payload = json.dumps(dump(DirectMessage("u", Message(text="hi"))))
    return [
        (
            community_id,
            "dm",
            payload,
            f"b:{i}",
            None,
            f"user:u{i}",
            "pending",
            stamp(now),
            0,
            stamp(now),
        )
        for i in range(n)
    ]


async def _bare_sqlite(url: str, n: int) -> tuple[float, float]:
    community_id = await reset(url)
    path = make_url(url).database
    assert path
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA foreign_keys=ON")

    def stamp(t: datetime) -> str:
        return t.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")

    now = datetime.now(UTC)
    insert = INSERT.format(p=", ".join("?" * 10))
    start = time.perf_counter()
    await conn.execute("BEGIN IMMEDIATE")
    for row in _rows(n, community_id, now, stamp):
        await conn.execute(insert, row)
    await conn.execute("COMMIT")
    queued = time.perf_counter() - start

    claim = CLAIM.format(me=":me", lease=":lease", now=":now", limit=":limit", t="1", lock="")
    mark = MARK.format(*("?" * 9))
    sent = 0
    start = time.perf_counter()
    while True:
        t = datetime.now(UTC)
        await conn.execute("BEGIN IMMEDIATE")
        cursor = await conn.execute(
            claim,
            {
                "me": "bare",
                "lease": stamp(t + timedelta(seconds=4)),
                "now": stamp(t),
                "limit": BATCH,
            },
        )
        claimed = await cursor.fetchall()
        if claimed:
            await (await conn.execute(COMMUNITIES.format("?"), (community_id,))).fetchall()
        await conn.execute("COMMIT")
        if not claimed:
            break
        sent += len(claimed)
        ids = [r[0] for r in claimed]
        t = stamp(datetime.now(UTC))
        await conn.execute("BEGIN IMMEDIATE")
        mine = MINE.format("?", ids=",".join("?" * len(ids)), lock="")
        await (await conn.execute(mine, (*ids, "bare"))).fetchall()
        await conn.executemany(
            mark,
            [
                (i, "bare", "sent", 1, r[7], None, 0, t, None)
                for i, r in zip(ids, claimed, strict=True)
            ],
        )
        await conn.execute("COMMIT")
    drained = time.perf_counter() - start
    await conn.close()
    assert sent == n
    return n / queued, n / drained


async def _bare_postgres(url: str, n: int) -> tuple[float, float]:
    community_id = await reset(url)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    insert = INSERT.format(p=", ".join(f"${i}" for i in range(1, 11)))
    start = time.perf_counter()
    async with conn.transaction():
        for row in _rows(n, community_id, now, lambda t: t):
            await conn.execute(insert, *row)
    queued = time.perf_counter() - start
    claim = CLAIM.format(
        me="$1", lease="$2", now="$3", limit="$4", t="true", lock=" FOR UPDATE SKIP LOCKED"
    )
    mark = MARK.format(*(f"${i}" for i in range(1, 10)))
    sent = 0
    start = time.perf_counter()
    while True:
        t = datetime.now(UTC)
        async with conn.transaction():
            claimed = await conn.fetch(claim, "bare", t + timedelta(seconds=4), t, BATCH)
            if claimed:
                await conn.fetch(COMMUNITIES.format("$1"), community_id)
        if not claimed:
            break
        sent += len(claimed)
        ids = [r["id"] for r in claimed]
        t = datetime.now(UTC)
        async with conn.transaction():
            await conn.fetch(
                "SELECT id FROM deliveries WHERE id = ANY($1::bigint[]) AND claimed_by = $2 "
                "FOR UPDATE",
                ids,
                "bare",
            )
            await conn.executemany(
                mark,
                [
                    (i, "bare", "sent", 1, r["due_at"], None, False, t, None)
                    for i, r in zip(ids, claimed, strict=True)
                ],
            )
    drained = time.perf_counter() - start
    await conn.close()
    assert sent == n
    return n / queued, n / drained


async def _compare(name: str, url: str, n: int, repeat: int) -> None:
    await db.upgrade_async(url)
    bare_run = _bare_postgres if "postgresql" in url else _bare_sqlite
    ours = [await _ours(url, n) for _ in range(repeat)]
    bare = [await bare_run(url, n) for _ in range(repeat)]
    oq, od = (statistics.median(r[i] for r in ours) for i in (0, 1))
    bq, bd = (statistics.median(r[i] for r in bare) for i in (0, 1))
    print(f"{name}: {n} effects, median of {repeat}")
    print(f"  queue    mentorbot {oq:>8,.0f}/s   bare {bq:>8,.0f}/s   ratio {oq / bq:.2f}")
    print(f"  deliver  mentorbot {od:>8,.0f}/s   bare {bd:>8,.0f}/s   ratio {od / bd:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("MENTORBOT_BENCH_PG_URL"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    args = parser.parse_args()
    n, repeat = (200, 1) if args.quick else (args.n, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        await _compare("sqlite", db.normalise_url(f"sqlite:///{tmp}/bench.db"), n, repeat)
    if args.pg:
        await _compare("postgresql", db.normalise_url(args.pg), n, repeat)


if __name__ == "__main__":
    asyncio.run(main())
