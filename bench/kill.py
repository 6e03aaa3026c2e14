"""Kill -9 harness: a dispatcher process is killed at random moments; is anything lost or
repeated?

    .venv/bin/python bench/kill.py [--n 1000] [--kills 20] [--pg URL] [--quick]

``--n`` DMs are queued; a dispatcher subprocess delivers them through a recording port
(each send appended to a file before the call returns, ~50 ms of "platform" latency) and
is SIGKILLed at a random moment, ``--kills`` times, then run once more to the end. Printed
per database: lost (never sent), raw sends and raw duplicates, and duplicates a platform
would accept: a repeat is refused by key when the port is told the earlier outcome was
uncertain (Slack's metadata look-up; Discord's nonce refuses repeats regardless).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select, text

from core import db
from core.clock import SystemClock
from core.effects import DirectMessage
from core.messages import Message
from core.models import Base, Delivery
from core.service import Mentorbot
from core.uow import UnitOfWork

CHILD = """
import asyncio, sys
from sqlalchemy import func, select
from core import db
from core.clock import SystemClock
from core.delivery import DeliverySettings, Dispatcher
from core.models import Delivery

class RecordingPort:
    platform = "console"

    def __init__(self, path):
        self.out = open(path, "a")

    async def send_dm(self, target, user_id, message, thread, attempt):
        await asyncio.sleep(0.05)
        self.out.write(f"{attempt.key} {int(attempt.uncertain)}\\n")
        self.out.flush()
        return {}

async def main():
    engine = db.create_engine(sys.argv[1])
    factory = db.session_factory(engine)
    d = Dispatcher(factory, {"console": RecordingPort(sys.argv[2])}, SystemClock(),
                   DeliverySettings(batch_size=10))
    await d.start()
    print("started", flush=True)
    while True:
        await d.run_pending()
        async with factory() as session:
            left = await session.scalar(
                select(func.count()).where(Delivery.status == "pending"))
        if not left:
            break
        await asyncio.sleep(0.05)
    await d.stop()
    await engine.dispose()
    print("done", flush=True)

asyncio.run(main())
"""


async def _prepare(url: str, n: int) -> None:
    await db.upgrade_async(url)
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    factory = db.session_factory(engine)
    clock = SystemClock()
    community = await Mentorbot(factory, clock).join_community("console", "kill")
    async with UnitOfWork(factory, clock) as uow:
        for i in range(n):
            effect = DirectMessage(f"u{i % 40}", Message(text=str(i)))
            await uow.outbox.add(community.id, effect, key=f"k{i}")
        await uow.commit()
    await engine.dispose()


async def _child(url: str, record: Path, *, kill: bool) -> bool:
    """Run a dispatcher process; with ``kill``, SIGKILL it at a random moment. Return
    whether it was killed (it may have finished first)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, str(record), stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    await proc.stdout.readline()  # started
    killed = False
    if kill:
        await asyncio.sleep(random.uniform(0.02, 0.3))
        if proc.returncode is None:
            try:
                proc.send_signal(signal.SIGKILL)
                killed = True
            except ProcessLookupError:
                pass
    await proc.wait()
    return killed


async def _trial(name: str, url: str, n: int, kills: int) -> None:
    await _prepare(url, n)
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "sent.txt"
        record.touch()
        landed = 0
        for _ in range(kills):
            landed += await _child(url, record, kill=True)
        await _child(url, record, kill=False)
        sends = [line.split() for line in record.read_text().splitlines()]
    per_key = Counter(key for key, _ in sends)
    seen: set[str] = set()
    accepted_repeats = 0
    for key, uncertain in sends:
        if key in seen and uncertain == "0":
            accepted_repeats += 1
        seen.add(key)
    engine = db.create_engine(url)
    async with engine.connect() as conn:
        not_sent = await conn.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status != "sent")
        )
    await engine.dispose()
    lost = n - len(per_key)
    print(
        f"{name}: {n} effects, {landed} kills: lost {lost} (rows not sent: {not_sent}), "
        f"raw sends {len(sends)}, raw duplicates {len(sends) - len(per_key)}, "
        f"duplicates accepted by a de-duplicating platform {accepted_repeats}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--pg", default=os.environ.get("MENTORBOT_BENCH_PG_URL"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    args = parser.parse_args()
    n, kills = (60, 2) if args.quick else (args.n, args.kills)
    with tempfile.TemporaryDirectory() as tmp:
        await _trial("sqlite", db.normalise_url(f"sqlite:///{tmp}/kill.db"), n, kills)
    if args.pg:
        await _trial("postgresql", db.normalise_url(args.pg), n, kills)


if __name__ == "__main__":
    asyncio.run(main())
