"""Issue 14 (items 1–5) on Discord: /admin metrics with its charts as attachments, the
figures equal to those computed from the seeded rows in the test; CSV exports as
attachments; refusals; the weekly digest posted once a week in the admin channel."""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.clock import FakeClock
from core.models import Community
from core.service import Mentorbot
from tests.adapters.discord.conftest import BOB, OWNER, BotFactory, World, embed_text
from tests.metrics_kit import Seeded, expected_lines, is_png, mentor_rows_expected, seed

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def _seed(service: Mentorbot) -> Seeded:
    async with service.factory() as session:
        cid = await session.scalar(select(Community.id).where(Community.platform == "discord"))
    assert cid is not None
    return await seed(service.factory, cid, NOW)


async def test_metrics_with_charts_as_attachments(
    discord_bot: BotFactory, world: World, service: Mentorbot, clock: FakeClock
) -> None:
    clock.set(NOW)
    async with discord_bot() as bot:
        await bot.set_up()
        seeded = await _seed(service)
        bot.adapter.router.defer_after = 30.0  # the first chart imports matplotlib
        await asyncio.to_thread(importlib.import_module, "matplotlib.pyplot")
        answer = await bot.command(OWNER, "admin metrics", {"period": "90d"})
        assert answer.ephemeral
        text = embed_text(answer)
        for line in expected_lines(seeded, 90):
            assert line in text
        names = [f.filename for f in answer.files]
        assert names == ["mentorships.png", "time-to-match.png", "sessions.png", "ratings.png"]
        assert all(is_png(f.data) for f in answer.files)
        assert "Sessions over the last 90 days:" in text  # each chart in words

        one = await bot.command(OWNER, "admin metrics", {"period": "all", "chart": "ratings"})
        assert [f.filename for f in one.files] == ["ratings.png"]
        for line in expected_lines(seeded, None):
            assert line in embed_text(one)


async def test_exports_are_csv_attachments(
    discord_bot: BotFactory, world: World, service: Mentorbot, clock: FakeClock
) -> None:
    clock.set(NOW)
    async with discord_bot() as bot:
        await bot.set_up()
        seeded = await _seed(service)
        answer = await bot.command(OWNER, "admin export mentors", {"period": "all"})
        (table,) = answer.files
        rows = {r["user_id"]: r for r in csv.DictReader(io.StringIO(table.data.decode()))}
        want = mentor_rows_expected(seeded)
        assert set(rows) == set(want)
        for user, values in want.items():
            assert int(rows[user]["sessions"]) == values["sessions"]
            assert int(rows[user]["reviews"]) == values["reviews"]
        figures = await bot.command(OWNER, "admin export metrics", {})
        (sheet,) = figures.files
        keys = [r["key"] for r in csv.DictReader(io.StringIO(sheet.data.decode()))]
        assert "sessions.no_show_rate" in keys


async def test_refusals(discord_bot: BotFactory, world: World, clock: FakeClock) -> None:
    clock.set(NOW)
    async with discord_bot() as bot:
        await bot.set_up()
        refused = await bot.command(BOB, "admin metrics", {})
        assert refused.ephemeral
        assert "only community admins can do that" in (refused.content or embed_text(refused))
        wrong = await bot.command(OWNER, "admin metrics", {"period": "7d"})
        assert "`period`: must be one of 30d, 90d, 365d, all" in (
            wrong.content or embed_text(wrong)
        )


async def test_weekly_digest_in_the_admin_channel_once_a_week(
    discord_bot: BotFactory, world: World, service: Mentorbot, clock: FakeClock
) -> None:
    clock.set(NOW)  # a Sunday
    async with discord_bot() as bot:
        await bot.set_up()
        await _seed(service)
        saved = await bot.command(OWNER, "admin reports", {"digest": True, "digest_day": "monday"})
        assert "Mondays at 09:00" in embed_text(saved)

        def digests() -> list[dict]:
            return [
                m
                for m in bot.fake.channel_messages(world.admin_channel)
                if m["embeds"] and "Weekly digest" in (m["embeds"][0].get("title") or "")
            ]

        for week in range(2):
            clock.set(datetime(2026, 11, 30, 9, 1, tzinfo=UTC) + timedelta(days=7 * week))
            await bot.deliver()
            await service.housekeeping()
            await bot.deliver()
            assert len(digests()) == week + 1
        (attachment,) = digests()[0]["attachments"]
        assert attachment["filename"] == "mentorships.png"
        assert is_png(bot.fake.attachment_data[int(attachment["id"])])
