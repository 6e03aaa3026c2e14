"""More than one process: real `mentorbot run` processes sharing one database.

PostgreSQL: two processes, one Discord shard each, against the local fake Discord: each
recurring job runs once per period across both; the leader is killed (SIGKILL) and the
other takes the jobs over within 10 s; 1,000 effects are delivered exactly once across
both. SQLite: a second process on the same file is refused at start, saying why, and is
let in once the first is gone, even after kill -9.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.discord.port import message_nonce
from bot.wiring import BADGE_SYNC_JOB_ID, HOUSEKEEPING_JOB_ID
from core.clock import SystemClock
from core.effects import ChannelPost
from core.messages import Message
from core.models import Community, Delivery
from core.uow import UnitOfWork
from tests.conftest import PG_URL
from tests.fakes.discord_fake import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]
PERIODS = {HOUSEKEEPING_JOB_ID: 1.0, BADGE_SYNC_JOB_ID: 1.5}
EFFECTS = 1000
CHANNELS_PER_SERVER = 20
RAN = re.compile(r"recurring job (\S+) ran at (\S+) in")
LEADS = "now runs the recurring jobs"


@dataclass
class Child:
    """A bot process and the log lines it wrote (stderr), read as they come."""

    name: str
    proc: asyncio.subprocess.Process
    lines: list[tuple[float, str]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def saw(self, text: str, after: float = 0.0) -> float | None:
        """When (monotonic) it first logged ``text`` after ``after``."""
        return next((t for t, line in self.lines if text in line and t > after), None)

    def runs(self, job: str) -> list[datetime]:
        found = (RAN.search(line) for _, line in self.lines)
        return [datetime.fromisoformat(m.group(2)) for m in found if m and m.group(1) == job]

    def log(self) -> str:
        return "\n".join(line for _, line in self.lines[-40:])


async def _spawn(name: str, args: list[str], env: dict[str, str], **kw: object) -> Child:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE, **kw
    )
    child = Child(name, proc)
    child.reader = asyncio.create_task(child._read())
    return child


async def _until(what: str, condition: object, within: float, *children: Child) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name}:\n{c.log()}" for c in children)
            raise AssertionError(f"{what}: not within {within}s\n{logs}")
        for child in children:
            if child.proc.returncode is not None and child.proc.returncode != -signal.SIGKILL:
                raise AssertionError(f"{child.name} exited {child.proc.returncode}\n{child.log()}")
        await asyncio.sleep(0.05)


async def _stop(children: list[Child]) -> None:
    for child in children:
        if child.proc.returncode is None:
            child.proc.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.proc.wait(), 30)
        except TimeoutError:
            child.proc.kill()
            await child.proc.wait()
        if child.reader is not None:
            await child.reader


def _base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORBOT_", "DISCORD_"))}
    env.update({k: v for k, v in os.environ.items() if k == "MENTORBOT_TEST_DATABASE_URL"})
    for name in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(name, None)
    env["MENTORBOT_HEALTH_PORT"] = "0"  # each process its own free port for /healthz
    env.update(extra)
    return env


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


async def _servers_on_both_shards(fake: FakeDiscord) -> dict[int, list[int]]:
    """Shard -> the channel ids of one server on it (2 shards)."""
    channels: dict[int, list[int]] = {}
    while len(channels) < 2:
        guild = fake.add_guild(f"Server {len(fake.state.guilds)}")
        shard = (guild.id >> 22) % 2
        if shard in channels:
            fake.state.guild(guild.id).joined = False
            continue
        channels[shard] = [
            int(fake.add_text_channel(guild.id, f"c{n}")["id"]) for n in range(CHANNELS_PER_SERVER)
        ]
        await asyncio.sleep(0.002)
    return channels


async def _queue_posts(
    factory: async_sessionmaker[AsyncSession], channels: dict[int, list[int]]
) -> list[str]:
    clock = SystemClock()
    keys: list[str] = []
    async with UnitOfWork(factory, clock) as uow:
        communities = (await uow.session.scalars(select(Community))).all()
        by_server = {int(c.platform_id): c.id for c in communities}
        for n in range(EFFECTS):
            shard = n % 2
            channel = channels[shard][n // 2 % CHANNELS_PER_SERVER]
            guild = next(g for g in by_server if (g >> 22) % 2 == shard)
            key = f"scaleout-{n}"
            post = ChannelPost(str(channel), Message(text=f"post {n}"))
            await uow.outbox.add(by_server[guild], post, key=key)
            keys.append(key)
        await uow.commit()
    return keys


async def _count(factory: async_sessionmaker[AsyncSession], status: str) -> int:
    async with factory() as session:
        stmt = select(func.count()).select_from(Delivery).where(Delivery.status == status)
        return int(await session.scalar(stmt) or 0)


def _gaps(runs: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(runs)]


@pytest.mark.skipif(not PG_URL, reason="several processes need PostgreSQL")
async def test_two_processes_share_the_work_and_the_jobs_survive_the_leader(
    fake: FakeDiscord, database_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    channels = await _servers_on_both_shards(fake)
    children: list[Child] = []
    try:
        for shard in (0, 1):
            config = tmp_path / f"shard{shard}.toml"
            config.write_text(
                f"[discord]\nshard_count = 2\nshard_ids = [{shard}]\n"
                "[delivery]\nconcurrency = 16\nbatch_size = 100\n"
                '[logging]\nlevel = "INFO"\n'
            )
            env = _base_env(
                MENTORBOT_CONFIG=str(config),
                DATABASE_URL=database_url,
                DISCORD_TOKEN="discord-token",
                DISCORD_API_BASE_URL=fake.api_base_url,
                DISCORD_GATEWAY_URL=fake.gateway_url,
                SCALEOUT_JOB_SECONDS=json.dumps(PERIODS),
            )
            children.append(await _spawn(f"shard {shard}", ["-m", "tests.bot.scaleout_child"], env))
        await _until(
            "both processes running",
            lambda: all(c.saw("Mentorbot is running") for c in children),
            90,
            *children,
        )

        async def communities() -> int:
            async with factory() as session:
                return int(await session.scalar(select(func.count()).select_from(Community)) or 0)

        deadline = time.monotonic() + 30
        while await communities() < 2:
            assert time.monotonic() < deadline, "the servers' communities were not recorded"
            await asyncio.sleep(0.1)

        # 1,000 effects, half on each process's shard: each delivered exactly once.
        keys = await _queue_posts(factory, channels)
        deadline = time.monotonic() + 120
        while (sent := await _count(factory, "sent")) < EFFECTS:
            assert time.monotonic() < deadline, f"only {sent} of {EFFECTS} sent"
            await asyncio.sleep(0.2)
        nonces = Counter(
            c.json.get("nonce")
            for c in fake.calls_to("POST", "/channels/{c}/messages")
            if isinstance(c.json, dict)
        )
        assert all(nonces[message_nonce(k)] == 1 for k in keys)
        ours = {message_nonce(k) for k in keys}
        for shard in (0, 1):  # each shard's half, through its own process
            posted = [m for c in channels[shard] for m in fake.channel_messages(c)]
            assert sum(m.get("nonce") in ours for m in posted) == EFFECTS // 2

        # Exactly one process leads; the jobs ran there, once per period.
        leaders = [c for c in children if c.saw(LEADS)]
        assert len(leaders) == 1, [c.log() for c in children]
        leader = leaders[0]
        follower = next(c for c in children if c is not leader)
        # (Delivery may finish within a job's first period: wait for two of each.)
        await _until(
            "two runs of each job",
            lambda: all(len(leader.runs(job)) >= 2 for job in PERIODS),
            30,
            *children,
        )
        for job in PERIODS:
            assert follower.runs(job) == []

        # The leader dies without a word; the follower takes the jobs over within 10 s.
        killed_at = time.monotonic()
        leader.proc.send_signal(signal.SIGKILL)
        await leader.proc.wait()
        await _until("takeover", lambda: follower.saw(LEADS, after=killed_at), 10, follower)
        took = (follower.saw(LEADS, after=killed_at) or 0) - killed_at
        assert took < 10
        await _until(
            "the new leader running every job",
            lambda: all(len(follower.runs(job)) >= 2 for job in PERIODS),
            15,
            follower,
        )
    finally:
        await _stop(children)

    for job, period in PERIODS.items():
        before, after = leader.runs(job), follower.runs(job)
        assert before[-1] < after[0]  # never both
        runs = before + after
        # Once per period across both: never two runs at (nearly) the same time, as two
        # processes running the same schedule would make, and no more runs than periods.
        assert min(_gaps(runs)) > 0.3 * period, (job, _gaps(runs))
        span = (runs[-1] - runs[0]).total_seconds()
        assert len(runs) <= span / period + 2, (job, len(runs), span)
    print(f"takeover after SIGKILL: {took:.1f} s")


async def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    env = _base_env(MENTORBOT_CONFIG="", DATABASE_URL=url)
    first = await _spawn(
        "first",
        ["-m", "bot", "console"],
        env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert first.proc.stdout is not None
        banner = b""
        while b"Mentorbot console" not in banner:  # after "(created a new database …)"
            banner = await asyncio.wait_for(first.proc.stdout.readline(), 60)
            assert banner, "the first console exited"
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2
        message = err.decode()
        assert f"another Mentorbot process (pid {first.proc.pid} on" in message
        assert "SQLite serves one process" in message
        assert str(tmp_path / "bot.db") in message
    finally:
        # kill -9: no clean-up runs, yet the operating system releases the lock.
        if first.proc.returncode is None:
            first.proc.kill()
        await first.proc.wait()
        if first.reader is not None:
            await first.reader
    script = tmp_path / "empty.txt"
    script.write_text("")
    after = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "console", "--script", str(script), cwd=ROOT, env=env
    )
    assert await asyncio.wait_for(after.wait(), 60) == 0
