"""Issue 14 (items 1–5) on the console: /admin metrics prints the figures (equal to those
computed from the seeded rows in the test) and the charts' file paths; the exports' CSV
files are saved and parse; the leaderboard is posted in the announcement room."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.console.bot import ConsoleBot
from core.clock import FakeClock
from core.models import Community
from tests.metrics_kit import Seeded, expected_lines, is_png, mentor_rows_expected, seed

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
async def seeded(console: ConsoleBot, clock: FakeClock, tmp_path: Path) -> Seeded:
    clock.set(NOW)
    console.files_dir = tmp_path
    await console.handle("as @owner --admin")
    await console.handle(
        "/admin setup admin_role:@Admins admin_channel:#mentor-admin "
        "announcement_channel:#general default_timezone:UTC"
    )
    async with console.service.factory() as session:
        cid = await session.scalar(select(Community.id).where(Community.platform == "console"))
    assert cid is not None
    return await seed(console.service.factory, cid, NOW)


def _paths(lines: list[str]) -> dict[str, Path]:
    found = {}
    for line in lines:
        if "📎" in line:
            name = line.split("📎 ")[1].split(" (")[0]
            found[name] = Path(line.split(" → ")[1])
    return found


async def test_metrics_print_figures_and_chart_paths(console: ConsoleBot, seeded: Seeded) -> None:
    said = await console.say("/admin metrics")  # 30 days by default
    text = "\n".join(said)
    assert "Impact metrics · the last 30 days" in text
    for line in expected_lines(seeded, 30):
        assert line in text
    paths = _paths(said)
    assert list(paths) == ["mentorships.png", "time-to-match.png", "sessions.png", "ratings.png"]
    assert all(is_png(path.read_bytes()) for path in paths.values())
    assert "Time to match over the last 30 days:" in text


async def test_exports_are_saved_csv_files(console: ConsoleBot, seeded: Seeded) -> None:
    said = await console.say("/admin export mentors period:all")
    (path,) = _paths(said).values()
    with path.open(newline="") as handle:
        rows = {r["user_id"]: r for r in csv.DictReader(handle)}
    want = mentor_rows_expected(seeded)
    assert {u: int(r["sessions"]) for u, r in rows.items()} == {
        u: v["sessions"] for u, v in want.items()
    }
    said = await console.say("/admin export metrics period:365d")
    (path,) = _paths(said).values()
    with path.open(newline="") as handle:
        assert {r["key"] for r in csv.DictReader(handle)} >= {"sessions.held", "ratings.average"}


async def test_leaderboard_posted_in_the_announcement_room(
    console: ConsoleBot, seeded: Seeded
) -> None:
    said = await console.say("/admin leaderboard period:365d post:yes")
    assert any("Posted in #general" in line for line in said)
    await console.dispatcher.drain()
    posts = [s for s in console.shown if s.channel == "general"]
    assert posts
    assert posts[-1].message.title == "Mentor leaderboard · the last 365 days"
