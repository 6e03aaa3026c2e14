"""Throughput with 1, 2 and 4 processes on one PostgreSQL database: delivery and commands.

    .venv/bin/python bench/scaleout.py --pg URL [--quick] [--processes 1,2,4]
                                       [--effects N] [--commands N]

The database's tables are emptied. For each process count, that many worker processes
are started once and, told "go" together, run each phase; the time is from "go" to the
last worker's answer:

* deliver: ``--effects`` queued DMs (each to its own member, so nothing waits behind
  another), delivered by one ``Dispatcher`` per process through a no-op platform port:
  claims with ``FOR UPDATE SKIP LOCKED``, marks, heartbeats. Every row must end sent
  exactly once across the processes.
* bare deliver: the same claim and mark statements (core.queue) on raw asyncpg, one loop
  per process: the ceiling the database and this machine set for the phase above.
* commands: ``--commands`` core calls split between the processes, each process 8 at a
  time through ``core.service`` (help, browse, suggest, and a mentee-profile update that
  writes), on a seeded community (2,000 members, 200 mentors, 100 mentees).

Printed: effects or commands per second and the ratio to one process. Scaling needs the
cores for it: with ``nproc`` cores the processes (and PostgreSQL, on the same machine)
share them, so on a 2-core machine 4 processes cannot reach 4x; the bare line shows what
the machine allows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.*
from bench.commands import GUILD, PLATFORM, QUICK, Seeded, seed
from bench.common import STYLES
from core import db, queue
from core.clock import SystemClock
from core.context import Invocation
from core.delivery import DeliverySettings, Dispatcher
from core.effects import DirectMessage, dump_json
from core.errors import UserError
from core.messages import Message
from core.service import Mentorbot

BATCH = 100
AT_ONCE = 8  # core calls under way at once in each commands worker
Figures = dict[str, dict[int, float]]  # phase -> process count -> figure


class NullPort:
    platform = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send_dm(self, target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
        self.sent += 1
        return {}


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# ----- the worker (a child process) -------------------------------------------------------


async def _pending(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'"))


async def _deliver(url: str, monitor: asyncpg.Connection) -> dict[str, Any]:
    engine = db.create_engine(url)
    port = NullPort()
    dispatcher = Dispatcher(
        db.session_factory(engine),
        {"console": port},
        SystemClock(),
        DeliverySettings(batch_size=BATCH),
    )
    await dispatcher.heartbeat()
    while True:
        if not await dispatcher.drain(max_batches=10**6) and not await _pending(monitor):
            break  # nothing left, not even rows another process holds
        await asyncio.sleep(0.005)
    await dispatcher.stop()
    await engine.dispose()
    return {"sent": port.sent}


async def _bare_deliver(url: str, monitor: asyncpg.Connection, name: str) -> dict[str, Any]:
    conn = await asyncpg.connect(_dsn(url))
    sql = queue.POSTGRESQL
    sent = 0
    while True:
        async with conn.transaction():
            t = datetime.now(UTC)
            claimed = await conn.fetch(sql.claim, name, t + timedelta(seconds=4), t, BATCH)
            if claimed:
                await conn.fetch("SELECT * FROM communities WHERE id = $1", claimed[0][3])
        if claimed:
            sent += len(claimed)
            done = datetime.now(UTC)
            marks = [(r[0], name, "sent", r[4] + 1, r[7], None, False, done, None) for r in claimed]
            async with conn.transaction():
                await conn.executemany(sql.mark, marks)
        elif not await _pending(monitor):
            break
        else:
            await asyncio.sleep(0.005)
    await conn.close()
    return {"sent": sent}


class CommandWorker:
    """``n`` core calls, ``AT_ONCE`` at a time, as members of the seeded community."""

    def __init__(self, url: str, people: dict[str, Any], n: int, index: int) -> None:
        self.engine = db.create_engine(url)
        self.service = Mentorbot(db.session_factory(self.engine))
        self.rng = random.Random(index)
        self.mentees, self.everyone = people["mentees"], people["everyone"]
        self.left, self.run, self.failures = n, n, 0

    def _as(self, person: list[str]) -> Invocation:
        return Invocation(PLATFORM, GUILD, person[0], person[1], "Console community")

    async def prepare(self) -> None:
        # The process's mentor listing is built by its first suggest (not counted).
        await self.service.execute(self._as(self.mentees[0]), "mentor suggest", {})

    async def _one(self) -> None:
        rng, execute = self.rng, self.service.execute
        pick = rng.choices(["help", "browse", "suggest", "profile"], weights=[2, 4, 3, 1])[0]
        if pick == "help":
            await execute(self._as(rng.choice(self.everyone)), "mentor help", {})
        elif pick == "browse":
            page = {"page": rng.randint(1, 10)}
            await execute(self._as(rng.choice(self.mentees)), "mentor browse", page)
        elif pick == "suggest":
            await execute(self._as(rng.choice(self.mentees)), "mentor suggest", {})
        else:
            style = {"style": rng.choice([*STYLES, "any"])}
            await execute(self._as(rng.choice(self.mentees)), "mentee profile", style)

    async def _worker(self) -> None:
        while self.left > 0:
            self.left -= 1
            try:
                await self._one()
            except UserError:
                self.failures += 1

    async def go(self) -> dict[str, Any]:
        await asyncio.gather(*(self._worker() for _ in range(AT_ONCE)))
        await self.engine.dispose()
        return {"run": self.run, "failures": self.failures}


async def child(url: str, index: int) -> None:
    """Wait for each phase's "go <phase> <arg>" on stdin; answer with one JSON line."""
    monitor = await asyncpg.connect(_dsn(url))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    while line := (await reader.readline()).decode().split():
        phase, arg = line[1], line[2] if len(line) > 2 else ""
        cpu = time.process_time()
        if phase == "deliver":
            result = await _deliver(url, monitor)
        elif phase == "bare":
            result = await _bare_deliver(url, monitor, f"bare-{index}")
        elif phase == "commands-prepare":
            people = json.loads(await asyncio.to_thread(Path(arg).read_text))
            commands = CommandWorker(url, people, int(line[3]), index)
            await commands.prepare()
            print("prepared", flush=True)
            continue
        elif phase == "commands":
            result = await commands.go()
        else:
            raise SystemExit(f"unknown phase {phase}")
        result["cpu"] = time.process_time() - cpu
        print(json.dumps(result), flush=True)
    await monitor.close()


# ----- the conductor ---------------------------------------------------------------------


class Workers:
    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs

    @classmethod
    async def start(cls, url: str, count: int) -> Workers:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--child",
                str(i),
                "--pg",
                url,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for i in range(count)
        ]
        for proc in procs:
            assert proc.stdout is not None
            assert (await proc.stdout.readline()).strip() == b"ready"
        return cls(procs)

    async def say(self, line: str, expect: str | None = None) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"go {line}\n".encode())
            await proc.stdin.drain()
        answers = []
        for proc in self.procs:
            assert proc.stdout is not None
            raw = (await proc.stdout.readline()).decode().strip()
            if not raw:
                raise SystemExit(f"a worker exited (code {await proc.wait()})")
            answers.append({} if raw == expect else json.loads(raw))
        return answers

    async def stop(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            await proc.wait()


async def _queue_effects(url: str, community_id: str, n: int) -> None:
    conn = await asyncpg.connect(_dsn(url))
    await conn.execute("DELETE FROM deliveries")
    await conn.execute("DELETE FROM dispatchers")
    payload = dump_json(DirectMessage("u", Message(text="hi")))
    now = datetime.now(UTC)
    rows = [(community_id, "dm", payload, f"s:{i}", None, f"user:u{i}", now, now) for i in range(n)]
    await conn.executemany(queue.POSTGRESQL.insert, rows)
    await conn.close()


async def _sent_once(url: str, n: int, answers: list[dict[str, Any]]) -> None:
    conn = await asyncpg.connect(_dsn(url))
    sent = await conn.fetchval(
        "SELECT count(*) FROM deliveries WHERE status = 'sent' AND claimed_by IS NULL"
    )
    await conn.close()
    told = sum(a["sent"] for a in answers)
    assert sent == n == told, f"{sent} rows sent, workers sent {told}, of {n}"


async def _timed(workers: Workers, line: str) -> tuple[float, list[dict[str, Any]]]:
    start = time.perf_counter()
    answers = await workers.say(line)
    return time.perf_counter() - start, answers


async def conduct(url: str, counts: list[int], effects: int, commands: int) -> None:
    url = db.normalise_url(url)
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await db.upgrade_async(url)
    engine = db.create_engine(url)
    seeded: Seeded = await seed(engine, QUICK, random.Random(1))
    await engine.dispose()
    people = Path(tempfile.gettempdir()) / f"mentorbot-scaleout-{os.getpid()}.json"
    known = json.dumps({"mentees": seeded.mentees, "everyone": seeded.everyone})
    await asyncio.to_thread(people.write_text, known)
    print(
        f"PostgreSQL, nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f} at start; "
        f"{effects:,} effects, {commands:,} commands per run"
    )
    rates: Figures = {"deliver": {}, "bare": {}, "commands": {}}
    cpu: Figures = {"deliver": {}, "bare": {}, "commands": {}}
    try:
        for count in counts:
            workers = await Workers.start(url, count)
            try:
                # Warm-up, not counted: each worker's first statements and claims.
                for phase in ("deliver", "bare"):
                    await _queue_effects(url, seeded.community_id, 50 * count)
                    await workers.say(phase)
                for phase in ("deliver", "bare"):
                    await _queue_effects(url, seeded.community_id, effects)
                    took, answers = await _timed(workers, phase)
                    await _sent_once(url, effects, answers)
                    rates[phase][count] = effects / took
                    cpu[phase][count] = sum(a["cpu"] for a in answers)
                share = commands // count
                await workers.say(f"commands-prepare {people} {share}", expect="prepared")
                took, answers = await _timed(workers, "commands")
                rates["commands"][count] = share * count / took
                cpu["commands"][count] = sum(a["cpu"] for a in answers)
                failures = sum(a["failures"] for a in answers)
                assert failures == 0, f"{failures} commands refused"
            finally:
                await workers.stop()
            print(
                f"  {count} process(es): deliver {rates['deliver'][count]:,.0f}/s, "
                f"bare {rates['bare'][count]:,.0f}/s, commands {rates['commands'][count]:,.0f}/s "
                f"(load {os.getloadavg()[0]:.1f})"
            )
    finally:
        await asyncio.to_thread(people.unlink, missing_ok=True)
    _table(rates, cpu, counts)


def _table(
    rates: dict[str, dict[int, float]], cpu: dict[str, dict[int, float]], counts: list[int]
) -> None:
    base = counts[0]
    labels = {
        "deliver": "deliver (effects/s)",
        "bare": "bare deliver, raw asyncpg (effects/s)",
        "commands": "commands (calls/s)",
    }
    print()
    print(f"{'':40}" + "".join(f"{f'{c} proc':>22}" for c in counts))
    for phase, label in labels.items():
        cells = "".join(
            f"{f'{rates[phase][c]:,.0f} ({rates[phase][c] / rates[phase][base]:.2f}x)':>22}"
            for c in counts
        )
        print(f"{label:40}{cells}")
    for phase in ("deliver", "commands"):
        cells = "".join(f"{f'{cpu[phase][c]:.1f} s':>22}" for c in counts)
        print(f"{'  workers CPU, ' + phase:40}{cells}")
    best = rates["deliver"][counts[-1]] / rates["deliver"][base]
    print(
        f"\ndeliver at {counts[-1]} processes: {best:.2f}x one process (target >= 3x on a "
        f"machine with the cores for it; this one has {os.cpu_count()}, shared with "
        "PostgreSQL and anything else running)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("MENTORBOT_BENCH_PG_URL"))
    parser.add_argument("--quick", action="store_true", help="a tiny run (CI)")
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--effects", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=1_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.pg:
        raise SystemExit("bench/scaleout.py needs PostgreSQL: --pg URL or MENTORBOT_BENCH_PG_URL")
    url = db.normalise_url(args.pg)
    if args.child is not None:
        asyncio.run(child(url, args.child))
        return
    counts = [int(c) for c in args.processes.split(",")]
    effects, commands = (400, 80) if args.quick else (args.effects, args.commands)
    asyncio.run(conduct(url, counts, effects, commands))


if __name__ == "__main__":
    main()
