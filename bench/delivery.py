"""Delivery-queue throughput: queue N effects, then drain them with 1 and 2 dispatchers.

    .venv/bin/python bench/delivery.py [--n 5000] [--database URL]

Without --database a temporary SQLite file is used. The platform port does no I/O, so
the figures are the queue's own cost (claim, mark sent) per effect.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from sqlalchemy import text

from core import db
from core.clock import SystemClock
from core.delivery import DeliverySettings, Dispatcher
from core.effects import DirectMessage
from core.messages import Message
from core.models import Base
from core.service import Mentorbot
from core.uow import UnitOfWork


class NullPort:
    platform = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send_dm(self, target, user_id, message, thread):  # type: ignore[no-untyped-def]
        self.sent += 1
        return {}


async def _reset(url: str) -> None:
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    await engine.dispose()


async def _round(url: str, n: int, workers: int) -> tuple[float, float]:
    await _reset(url)
    clock = SystemClock()
    engines = [db.create_engine(url) for _ in range(workers)]
    factory = db.session_factory(engines[0])
    community = await Mentorbot(factory, clock).join_community("console", "bench")
    start = time.perf_counter()
    async with UnitOfWork(factory, clock) as uow:
        for i in range(n):
            await uow.outbox.add(
                community.id, DirectMessage(f"u{i}", Message(text="hi")), key=f"b:{i}"
            )
        await uow.commit()
    queued = time.perf_counter() - start
    ports = [NullPort() for _ in range(workers)]
    dispatchers = [
        Dispatcher(db.session_factory(e), {"console": p}, clock, DeliverySettings(batch_size=100))
        for e, p in zip(engines, ports, strict=True)
    ]
    start = time.perf_counter()
    await asyncio.gather(*(d.drain() for d in dispatchers))
    drained = time.perf_counter() - start
    for engine in engines:
        await engine.dispose()
    assert sum(p.sent for p in ports) == n, "lost or duplicated effects"
    return n / queued, n / drained


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--database")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = db.normalise_url(args.database or f"sqlite:///{tmp}/bench.db")
        await db.upgrade_async(url)
        backend = "postgresql" if "postgresql" in url else "sqlite"
        print(f"delivery queue on {backend}, {args.n} effects, median of {args.repeat} runs")
        for workers in (1, 2):
            runs = [await _round(url, args.n, workers) for _ in range(args.repeat)]
            q = statistics.median(r[0] for r in runs)
            d = statistics.median(r[1] for r in runs)
            print(
                f"  {workers} dispatcher(s): queue {q:,.0f} effects/s, deliver {d:,.0f} effects/s"
            )


if __name__ == "__main__":
    asyncio.run(main())
