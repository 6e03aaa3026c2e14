"""Issue 14 (items 1–5) on Slack: /mentor admin metrics with its charts shared through
files_upload_v2, the figures equal to those computed from the seeded rows in the test; CSV
exports; refusals; the weekly digest posted once a week in the admin channel."""

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
from tests.adapters.slack.conftest import ADMIN_CHANNEL, BOB, OWNER, Slack, SlackHarness, texts
from tests.metrics_kit import Seeded, expected_lines, is_png, mentor_rows_expected, seed

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def _seeded(bot: SlackHarness) -> Seeded:
    await bot.set_up_community()
    async with bot.factory() as session:
        cid = await session.scalar(select(Community.id).where(Community.platform == "slack"))
    assert cid is not None
    return await seed(bot.factory, cid, NOW)


def _shared(bot: SlackHarness, name: str) -> bytes:
    [file] = [f for f in bot.fake.files.values() if f.name == name and f.completed]
    assert file.data is not None
    return file.data


async def test_metrics_with_charts_uploaded(slack: Slack, clock: FakeClock) -> None:
    clock.set(NOW)
    bot = await slack()
    seeded = await _seeded(bot)
    await asyncio.to_thread(importlib.import_module, "matplotlib.pyplot")
    await bot.command(OWNER, "admin metrics period:365d")
    answer = texts((await bot.reply())["blocks"])
    for line in expected_lines(seeded, 365):
        assert line in answer
    assert "Ratings over the last 365 days:" in answer
    names = ("mentorships.png", "time-to-match.png", "sessions.png", "ratings.png")
    assert f"📎 {', '.join(names)}: sent to your direct messages with the app" in answer
    await bot.fake.wait_for_calls("files.completeUploadExternal", len(names))
    assert all(is_png(_shared(bot, name)) for name in names)


async def test_mentor_export_is_a_csv_upload(slack: Slack, clock: FakeClock) -> None:
    clock.set(NOW)
    bot = await slack()
    seeded = await _seeded(bot)
    await bot.command(OWNER, "admin export mentors period:all")
    answer = texts((await bot.reply())["blocks"])
    assert f"{len(seeded.mentors)} mentors" in answer
    await bot.fake.wait_for_calls("files.completeUploadExternal", 1)
    table = _shared(bot, "mentors-all-2026-11-29.csv")
    rows = {r["user_id"]: r for r in csv.DictReader(io.StringIO(table.decode()))}
    want = mentor_rows_expected(seeded)
    assert set(rows) == set(want)
    for user, values in want.items():
        assert int(rows[user]["sessions"]) == values["sessions"]
        assert int(rows[user]["reviews"]) == values["reviews"]


async def test_refusals(slack: Slack, clock: FakeClock) -> None:
    clock.set(NOW)
    bot = await slack()
    await bot.set_up_community()
    await bot.command(BOB, "admin export metrics")
    assert "only community admins can do that" in texts((await bot.reply())["blocks"])
    await bot.command(OWNER, "admin metrics period:week")
    assert "`period`: must be one of 30d, 90d, 365d, all" in texts((await bot.reply())["blocks"])


async def test_weekly_digest_in_the_admin_channel_once_a_week(
    slack: Slack, clock: FakeClock
) -> None:
    clock.set(NOW)  # a Sunday
    bot = await slack()
    await _seeded(bot)
    await bot.command(OWNER, "admin reports digest:yes digest_day:tuesday hour:7")
    assert "Tuesdays at 07:00" in texts((await bot.reply())["blocks"])

    def digests() -> list[object]:
        return [m for m in bot.fake.messages(ADMIN_CHANNEL) if "Weekly digest" in m.text]

    for week in range(3):
        clock.set(datetime(2026, 12, 1, 7, 30, tzinfo=UTC) + timedelta(days=7 * week))
        await bot.deliver()
        await Mentorbot(bot.factory, bot.clock).housekeeping()
        await bot.deliver()
        assert len(digests()) == week + 1
    await bot.fake.wait_for_calls("files.completeUploadExternal", 3)
    charts = [f for f in bot.fake.files.values() if f.name == "mentorships.png" and f.completed]
    assert len(charts) == 3
    assert all(ADMIN_CHANNEL in f.channels for f in charts)
    assert charts[0].data is not None
    assert is_png(charts[0].data)
