"""Health endpoints: /healthz, and /readyz turning 503 (with reasons) when the database is
down, the delivery lag is too long or an adapter is disconnected, and 200 again after."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cli import _run_platforms
from bot.config import Config, HealthConfig, load_config
from bot.health import Readiness
from bot.health import add_operator_routes as add_health_routes
from bot.http import HttpServer
from bot.wiring import add_operator_routes
from core import db
from core.clock import FakeClock
from core.delivery.stats import QueueStats, queue_stats
from core.queue import ClaimScope
from core.service import Mentorbot
from tests.conftest import PG_URL
from tests.core.delivery_kit import community, dispatcher, queue, recording_port
from tests.fakes.discord_fake import FakeDiscord
from tests.helpers import metric_samples

OWNER = 1001


def _config(**health: Any) -> Config:
    return Config(health=HealthConfig(**health))


@asynccontextmanager
async def _endpoints(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, config: Config
) -> AsyncIterator[str]:
    """The operator routes of a bot with no adapter, on a server of their own."""
    service = Mentorbot(factory, clock)
    server = HttpServer("127.0.0.1", 0)
    add_operator_routes(server, config, service, [], None)
    await server.start()
    try:
        yield server.base_url
    finally:
        await server.stop()


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def _until_status(url: str, status: int, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            got, body = await _get(url)
        except aiohttp.ClientConnectionError:
            got, body = 0, None
        if got == status:
            return body
        assert time.monotonic() < deadline, f"{url}: {got} {body}, wanted {status}"
        await asyncio.sleep(0.1)


async def test_healthz_says_alive_and_readyz_lists_its_checks(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with _endpoints(factory, clock, _config()) as base:
        assert await _get(base + "/healthz") == (200, {"status": "alive"})
        status, body = await _get(base + "/readyz")
    assert status == 200
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["delivery"] == {
        "ok": True,
        "lag_seconds": 0.0,
        "max_lag_seconds": 300.0,
        "due": 0,
    }
    assert "reasons" not in body


async def test_readyz_fails_while_the_delivery_lag_is_over_the_threshold_then_recovers(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    made = await community(factory, clock)
    async with _endpoints(factory, clock, _config(max_delivery_lag_seconds=60)) as base:
        await queue(factory, clock, made.id, "hello")
        assert (await _get(base + "/readyz"))[0] == 200  # due now: no lag yet
        clock.advance(seconds=59)
        assert (await _get(base + "/readyz"))[0] == 200
        clock.advance(seconds=61)  # no dispatcher ran: the DM has waited 2 minutes

        status, body = await _get(base + "/readyz")

        assert status == 503
        assert body["status"] == "not ready"
        assert body["checks"]["delivery"]["ok"] is False
        assert body["checks"]["delivery"]["lag_seconds"] == 120.0
        assert body["reasons"] == [
            "delivery: the oldest due effect has waited 120 s (more than 60 s)"
        ]
        port, shown = recording_port()
        assert await dispatcher(factory, port, clock).drain() == 1
        assert [s.message.text for s in shown] == ["hello"]
        assert (await _get(base + "/readyz"))[0] == 200


async def test_a_delivery_lag_threshold_of_zero_is_not_checked(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    made = await community(factory, clock)
    await queue(factory, clock, made.id, "hello", due_at=clock.now() - timedelta(days=1))
    async with _endpoints(factory, clock, _config(max_delivery_lag_seconds=0)) as base:
        status, body = await _get(base + "/readyz")
    assert status == 200
    assert body["checks"]["delivery"]["lag_seconds"] == 86400.0


async def test_readyz_fails_while_the_database_is_down_then_recovers(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    engine = factory.kw["bind"]
    async with _endpoints(factory, clock, _config(database_timeout_seconds=5)) as base:
        assert (await _get(base + "/readyz"))[0] == 200
        async with _database_down(engine):
            status, body = await _get(base + "/readyz")
            assert status == 503
            assert body["checks"]["database"]["ok"] is False
            assert len(body["reasons"]) == 1
            assert body["reasons"][0].startswith("database: ")
            assert "delivery" not in body["checks"]  # unknown while the database is down
            assert (await _get(base + "/healthz"))[0] == 200  # alive all the same
        assert (await _get(base + "/readyz"))[0] == 200


async def test_readyz_fails_when_the_database_does_not_answer_in_time(clock: FakeClock) -> None:
    async def stuck() -> QueueStats:
        await asyncio.sleep(10)
        raise AssertionError("not reached")

    server = HttpServer("127.0.0.1", 0)
    add_health_routes(server, Readiness(stuck, clock, database_timeout=0.2))
    await server.start()
    try:
        started = time.monotonic()
        status, body = await _get(server.base_url + "/readyz")
        assert time.monotonic() - started < 5
    finally:
        await server.stop()
    assert status == 503
    assert body["reasons"] == ["database: no answer within 0.2 s"]


@asynccontextmanager
async def _database_down(engine: AsyncEngine) -> AsyncIterator[None]:
    """The database stops answering, and comes back after the block.

    SQLite: every connection is closed and the file is replaced by a folder, so nothing
    can open it. PostgreSQL: the database refuses new connections and its sessions are
    terminated (what a stopped or restarting server looks like to the bot)."""
    if PG_URL:
        name = make_url(PG_URL).database
        admin = db.create_engine(str(make_url(db.normalise_url(PG_URL)).set(database="postgres")))
        admin = admin.execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            try:
                yield
            finally:
                async with admin.connect() as conn:
                    await conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        finally:
            await admin.dispose()
        return
    path = Path(str(engine.url.database))
    await engine.dispose()
    away = path.with_name(path.name + ".away")
    os.rename(path, away)
    os.mkdir(path)
    try:
        yield
    finally:
        os.rmdir(path)
        os.rename(away, path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_mentorbot_run_serves_health_and_metrics_and_follows_the_gateway(
    database_url: str,
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeDiscord() as fake:
        fake.add_user(OWNER, "olive")
        guild = fake.add_guild("Givers", owner_id=OWNER)
        config = load_config(
            None,
            env={
                "MENTORBOT_CONFIG": "",
                "MENTORBOT_HEALTH_PORT": str(port),
                "DATABASE_URL": database_url,
                "DISCORD_TOKEN": "discord-token",
                "DISCORD_API_BASE_URL": fake.api_base_url,
                "DISCORD_GATEWAY_URL": fake.gateway_url,
            },
        )
        stop = asyncio.Event()
        running = asyncio.create_task(_run_platforms(config, stop))
        try:
            body = await _until_status(base + "/readyz", 200)
            assert body["checks"]["discord"] == {"ok": True}

            answer = await fake.interact(fake.slash_command(guild.id, OWNER, "mentor help", {}))
            assert answer.type == 4, answer

            status, exposition = await _get(base + "/metrics")
            assert status == 200
            samples = metric_samples(exposition)
            help_ok = (
                ("kind", "command"),
                ("name", "mentor help"),
                ("outcome", "ok"),
                ("platform", "discord"),
            )
            assert samples[("mentorbot_interactions_total", help_ok)] == 1
            first = samples[("mentorbot_first_response_seconds_count", (("platform", "discord"),))]
            assert first == 1
            assert samples[("mentorbot_queue_read_ok", ())] == 1

            # The gateway drops and discord.py waits 5 s before identifying again.
            await fake.disconnect_clients(resumable=False)
            body = await _until_status(base + "/readyz", 503)
            assert body["checks"]["discord"] == {"ok": False}
            assert [r for r in body["reasons"] if r.startswith("discord: ")], body
            await _until_status(base + "/readyz", 200, within=30)
        finally:
            stop.set()
            assert await asyncio.wait_for(running, timeout=30) == 0


async def test_the_delivery_lag_counts_only_what_this_process_delivers(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A Slack-only process is not made unready by Discord effects waiting for the process
    that runs Discord (its dispatcher never claims them)."""
    made = await community(factory, clock)  # a console community
    await queue(factory, clock, made.id, "waiting")
    clock.advance(seconds=600)
    async with factory() as session:
        everything = await queue_stats(session, clock.now())
        mine = await queue_stats(session, clock.now(), ClaimScope(("slack",)))
        console = await queue_stats(session, clock.now(), ClaimScope(("console", "slack")))
    assert (everything.due, everything.lag_seconds(clock.now())) == (1, 600.0)
    assert (mine.due, mine.oldest_due_at) == (0, None)
    assert console.due == 1
