"""`mentorbot run`: both adapters in one process, against the local fakes."""

from __future__ import annotations

import asyncio
import gc
import html
import socket
from pathlib import Path

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import _run_platforms
from bot.config import load_config
from core import db
from core.models import Community
from tests.fakes.discord_fake import FakeDiscord
from tests.fakes.slack_fake import FakeSlack


async def test_run_starts_discord_and_slack_then_stops_cleanly(
    database_url: str, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with FakeDiscord() as discord_fake, FakeSlack() as slack_fake:
        guild = discord_fake.add_guild("Givers Guild")
        config = load_config(
            None,
            env={
                "MENTORBOT_CONFIG": "",
                "MENTORBOT_HEALTH_PORT": "0",
                "DATABASE_URL": database_url,
                "DISCORD_TOKEN": "discord-token",
                "DISCORD_API_BASE_URL": discord_fake.api_base_url,
                "DISCORD_GATEWAY_URL": discord_fake.gateway_url,
                "SLACK_BOT_TOKEN": slack_fake.bot_token,
                "SLACK_APP_TOKEN": slack_fake.app_token,
                "SLACK_API_BASE_URL": slack_fake.api_base_url,
            },
        )
        stop = asyncio.Event()
        running = asyncio.create_task(_run_platforms(config, stop))
        await discord_fake.wait_until_ready(timeout=15)
        await slack_fake.wait_until(lambda: slack_fake.socket_connected > 0, within=15)
        # Joining the guild created its community and greeted it once.
        await discord_fake.wait_for_call("POST", "/channels/{c}/messages", timeout=15)
        # Once running, the start-up heap is left out of the collector's full passes.
        for _ in range(300):
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        stop.set()
        assert await asyncio.wait_for(running, timeout=30) == 0
    assert gc.get_freeze_count() == 0
    async with factory() as session:
        communities = (await session.execute(select(Community))).scalars().all()
    assert [(c.platform, c.platform_id, c.name) for c in communities] == [
        ("discord", str(guild.id), "Givers Guild")
    ]


async def test_run_creates_the_schema_of_a_new_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    async with FakeDiscord() as discord_fake:
        guild = discord_fake.add_guild("Givers Guild")
        config = load_config(
            None,
            env={
                "MENTORBOT_CONFIG": "",
                "MENTORBOT_HEALTH_PORT": "0",
                "DATABASE_URL": f"sqlite:///{path}",
                "DISCORD_TOKEN": "discord-token",
                "DISCORD_API_BASE_URL": discord_fake.api_base_url,
                "DISCORD_GATEWAY_URL": discord_fake.gateway_url,
            },
        )
        stop = asyncio.Event()
        running = asyncio.create_task(_run_platforms(config, stop))
        await discord_fake.wait_until_ready(timeout=15)
        await discord_fake.wait_for_call("POST", "/channels/{c}/messages", timeout=15)
        stop.set()
        assert await asyncio.wait_for(running, timeout=30) == 0
    engine = db.create_engine(f"sqlite:///{path}")
    try:
        assert await db.current_revision(engine) == db.head_revision()
        async with db.session_factory(engine)() as session:
            names = (await session.execute(select(Community.name))).scalars().all()
    finally:
        await engine.dispose()
    assert names == [guild.name]


async def test_run_in_oauth_mode_serves_the_install_pages_on_the_one_server(
    database_url: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "mentorbot.toml").write_text(
        f'[slack]\nmode = "http"\nhttp_host = "127.0.0.1"\nhttp_port = {port}\n'
        'public_url = "https://mentorbot.example.org"\n'
    )
    async with FakeSlack() as slack_fake:
        config = load_config(
            tmp_path / "mentorbot.toml",
            env={
                "DATABASE_URL": database_url,
                "SLACK_CLIENT_ID": slack_fake.client_id,
                "SLACK_CLIENT_SECRET": slack_fake.client_secret,
                "SLACK_SIGNING_SECRET": slack_fake.signing_secret,
                "SLACK_API_BASE_URL": slack_fake.api_base_url,
            },
        )
        stop = asyncio.Event()
        running = asyncio.create_task(_run_platforms(config, stop))
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(f"{base}/slack/install") as page:
                            install = (page.status, await page.text())
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                async with http.get(f"{base}/slack/oauth_redirect?code=x&state=y") as redirect:
                    refused = redirect.status
        finally:
            stop.set()
            assert await asyncio.wait_for(running, timeout=30) == 0
    assert install[0] == 200
    page_text = html.unescape(install[1])
    assert "redirect_uri=https://mentorbot.example.org/slack/oauth_redirect" in page_text
    assert f"client_id={slack_fake.client_id}" in page_text
    assert refused == 400  # no state cookie: not the browser that opened the page
    assert slack_fake.calls_to("auth.test") == []  # no bot token to check in this mode
