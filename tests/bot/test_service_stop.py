"""`mentorbot run` as a service: a real process, logging JSON, stopped with SIGTERM (what
systemd's ``KillSignal=SIGTERM`` sends), exits 0 after a clean shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import _run_platforms
from bot.config import load_config
from bot.http import HTTP_SHUTDOWN_SECONDS
from core.delivery import DeliverySettings
from core.models import DispatcherHeartbeat
from tests.fakes.discord_fake import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz012345678"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _ready(url: str, process: asyncio.subprocess.Process, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            assert process.returncode is None, "the bot exited while starting"
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, "the bot did not become ready"
            await asyncio.sleep(0.2)


async def test_sigterm_stops_a_running_bot_cleanly(
    database_url: str, factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    port = _free_port()
    (tmp_path / "mentorbot.toml").write_text(
        f'[logging]\nformat = "json"\n[health]\nport = {port}\n', encoding="utf-8"
    )
    async with FakeDiscord(token=TOKEN) as fake:
        fake.add_guild("Givers")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))},
            "MENTORBOT_CONFIG": str(tmp_path / "mentorbot.toml"),
            "DATABASE_URL": database_url,
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE_URL": fake.api_base_url,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            try:
                await _ready(f"http://127.0.0.1:{port}/readyz", process)
            except AssertionError as exc:
                process.kill()
                _, err = await process.communicate()
                raise AssertionError(f"{exc}:\n{err.decode()[-3000:]}") from None
            assert await _dispatchers(factory) == 1
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, err.decode()
    records = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
    messages = [r["message"] for r in records]
    assert "Mentorbot is running (discord)" in messages
    assert messages[-2:] == ["stopping", "stopped"]
    assert TOKEN not in err.decode()
    # The dispatcher said goodbye: its heartbeat row is gone, its claims released.
    assert await _dispatchers(factory) == 0


async def _dispatchers(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        found = await session.scalar(select(func.count()).select_from(DispatcherHeartbeat))
    return int(found or 0)


async def test_a_stop_while_starting_stops_what_had_started(
    database_url: str, factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mentorbot")
    async with FakeDiscord() as fake:
        fake.add_guild("Givers")
        config = load_config(
            None,
            env={
                "MENTORBOT_CONFIG": "",
                "MENTORBOT_HEALTH_PORT": "0",
                "DATABASE_URL": database_url,
                "DISCORD_TOKEN": "discord-token",
                "DISCORD_API_BASE_URL": fake.api_base_url,
                "DISCORD_GATEWAY_URL": fake.gateway_url,
            },
        )
        stop = asyncio.Event()
        running = asyncio.create_task(_run_platforms(config, stop))
        # Stopped once the gateway has been dialled, long before the bot is ready.
        for _ in range(200):
            if fake.identifies:
                break
            await asyncio.sleep(0.02)
        assert fake.identifies
        stop.set()
        assert await asyncio.wait_for(running, timeout=30) == 0
        assert await _dispatchers(factory) == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "mentorbot"]
    assert messages[-2:] == ["stopped while starting", "stopped"]


def test_the_example_unit_restarts_on_failure_and_waits_for_a_clean_stop() -> None:
    unit = (ROOT / "deploy" / "mentorbot.service").read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] not in "#;"
    )
    assert settings["Restart"] == "on-failure"
    assert settings["KillSignal"] == "SIGTERM"
    assert settings["ExecStart"].endswith("mentorbot run")
    assert settings["EnvironmentFile"]
    assert "3" in settings["RestartPreventExitStatus"].split()  # schema out of date
    # Longer than the dispatcher's grace for calls under way plus the HTTP server's drain.
    stop_takes = DeliverySettings().stop_grace_seconds + HTTP_SHUTDOWN_SECONDS
    assert int(settings["TimeoutStopSec"]) >= stop_takes + 10
