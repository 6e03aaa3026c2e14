"""The live calendar feed: a member's private URL serves their sessions only, from the
bot's HTTP server; a wrong or reset token is refused; without a base URL it says how."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from bot.cli import _run_platforms
from bot.config import CalendarConfig, Config, load_config
from bot.http import HttpServer, add_calendar_feed
from bot.wiring import build_console
from core.clock import FakeClock
from tests.adapters.console.test_issue8_core import _connected
from tests.fakes.slack_fake import FakeSlack

URL = re.compile(r"https://cal\.example/calendar/(\S+)\.ics")


@pytest.fixture
async def served(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> AsyncIterator[tuple[ConsoleBot, HttpServer]]:
    config = Config(calendar=CalendarConfig(public_base_url="https://cal.example/"))
    console = build_console(factory, config, clock=clock)
    server = HttpServer("127.0.0.1", 0)
    add_calendar_feed(server, console.service)
    await server.start()
    try:
        yield console, server
    finally:
        await server.stop()


async def _get(server: HttpServer, token: str) -> tuple[int, bytes, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.base_url}/calendar/{token}.ics") as answer,
    ):
        return answer.status, await answer.read(), answer.headers.get("Content-Type", "")


async def _token(console: ConsoleBot, line: str = "/session calendar") -> str:
    out = "\n".join(await console.say(line))
    found = URL.search(out)
    assert found is not None, out
    return found.group(1)


async def test_the_feed_serves_the_members_sessions_and_refuses_other_tokens(
    served: tuple[ConsoleBot, HttpServer],
) -> None:
    console, server = served
    await _connected(console)  # as dave, mentee of alice
    await console.handle(
        '/session schedule person:@alice title:"Budget review" when:"2026-01-08 18:30"'
    )
    await console.handle("as @zoe")  # someone else's session must not show
    token = await _token(console)
    await console.handle("as @dave")
    mine = await _token(console)

    status, body, kind = await _get(server, mine)
    assert status == 200
    assert kind.startswith("text/calendar")
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Budget review"
    status, body, _ = await _get(server, token)
    assert status == 200
    assert Calendar.from_ical(body).walk("VEVENT") == []

    assert (await _get(server, "not-a-token"))[0] == 404
    fresh = await _token(console, "/session calendar reset:yes")
    assert fresh != mine
    assert (await _get(server, mine))[0] == 404
    assert (await _get(server, fresh))[0] == 200
    assert await _token(console) == fresh  # asked again: the same URL


async def test_without_a_base_url_the_command_says_how_to_enable_it(
    console: ConsoleBot,
) -> None:
    await console.handle("as @dave")
    out = "\n".join(await console.say("/session calendar"))
    assert "[calendar]" in out
    assert "public_base_url" in out


async def test_slack_http_mode_and_the_feed_share_one_server(
    database_url: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "mentorbot.toml").write_text(
        f'[slack]\nmode = "http"\nhttp_host = "127.0.0.1"\nhttp_port = {port}\n'
        '[calendar]\npublic_base_url = "https://cal.example"\n'
    )
    async with FakeSlack() as slack_fake:
        config = load_config(
            tmp_path / "mentorbot.toml",
            env={
                "DATABASE_URL": database_url,
                "SLACK_BOT_TOKEN": slack_fake.bot_token,
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
                        async with http.get(f"{base}/calendar/nobody.ics") as feed:
                            feed_status = feed.status
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                async with http.post(f"{base}/slack/events", data="{}") as events:
                    events_status = events.status
        finally:
            stop.set()
            assert await asyncio.wait_for(running, timeout=30) == 0
    assert feed_status == 404  # the feed answers (no such token) ...
    assert events_status == 401  # ... beside Slack's events route (an unsigned request)
