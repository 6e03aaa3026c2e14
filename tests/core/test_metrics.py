"""Impact metrics (issue 14, items 1–5) in the core: every figure equals the same figure
recomputed from the seeded rows in plain Python, on both databases; exports, the
leaderboard's opt-out and the weekly digest's schedule."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.clock import FakeClock
from core.files import fit_files
from core.messages import File, Message
from core.models import Community, Delivery, Member, MentorReview
from core.usecases.metrics.figures import compute
from core.usecases.metrics.periods import PERIODS, parse_period
from tests.metrics_kit import ACCEPTED, Seeded, expected, seed

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SETUP = (
    "/admin setup admin_role:@Admins admin_channel:#mentor-admin "
    "announcement_channel:#general default_timezone:UTC"
)


async def _community_id(factory: async_sessionmaker[AsyncSession]) -> str:
    async with factory() as session:
        found = await session.scalar(select(Community.id).where(Community.platform == "console"))
    assert found is not None
    return found


@pytest.fixture
async def seeded(console: ConsoleBot, clock: FakeClock) -> Seeded:
    clock.set(NOW)
    await console.handle("as @owner --admin")
    await console.handle(SETUP)
    return await seed(console.service.factory, await _community_id(console.service.factory), NOW)


def _close(got: float | None, want: float | None) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return got == pytest.approx(want, rel=1e-6, abs=0.01)


@pytest.mark.parametrize("period", list(PERIODS))
async def test_every_figure_equals_plain_python(
    console: ConsoleBot, seeded: Seeded, period: str
) -> None:
    async with console.service.read_uow() as uow:
        figures = await compute(uow, seeded.community_id, parse_period(period, NOW))
    want = expected(seeded, PERIODS[period])
    assert {f.key for f in figures} == set(want)
    wrong = [
        (f.key, (f.current, f.previous), want[f.key])
        for f in figures
        if not (_close(f.current, want[f.key][0]) and _close(f.previous, want[f.key][1]))
    ]
    assert wrong == []
    # The seed exercises every figure: nothing is trivially zero in the longest period.
    if period == "365d":
        assert figures["mentorships.started"].current
        assert figures["matching.request_p90"].current
        assert figures["retention.day90"].current is not None
        assert figures["groups.attendance"].current is not None


async def test_anonymising_a_member_keeps_counts_and_recomputes_ratings(
    console: ConsoleBot, seeded: Seeded
) -> None:
    """What /privacy delete leaves (an anonymised member row, their reviews gone) keeps
    every count; the ratings are those of the remaining reviews."""
    reviewer = seeded.reviews[0]["reviewer_id"]
    factory = console.service.factory
    async with factory() as session, session.begin():
        await session.execute(
            update(Member)
            .where(Member.id == reviewer)
            .values(display_name="Deleted member", platform_user_id="deleted-1", left_at=NOW)
        )
        await session.execute(delete(MentorReview).where(MentorReview.reviewer_id == reviewer))
    seeded.reviews = [r for r in seeded.reviews if r["reviewer_id"] != reviewer]
    for m in seeded.members:
        if m["id"] == reviewer:
            m["left_at"] = NOW
    async with console.service.read_uow() as uow:
        figures = await compute(uow, seeded.community_id, parse_period("365d", NOW))
    want = expected(seeded, 365)
    assert all(_close(f.current, want[f.key][0]) for f in figures)


async def test_bad_period_and_non_admins_are_refused(console: ConsoleBot, seeded: Seeded) -> None:
    said = await console.say("/admin metrics period:7d")
    assert any("`period`: must be one of 30d, 90d, 365d, all" in line for line in said)
    for command in (
        "/admin metrics",
        "/admin export metrics",
        "/admin export mentors",
        "/admin leaderboard",
        "/admin reports digest:yes",
    ):
        await console.handle("as @nobody")
        said = await console.say(command)
        assert any("only community admins can do that" in line for line in said), command


def _last_reply(console: ConsoleBot) -> Message:
    return console.shown[-1].message


async def test_mentor_csv_pages_parse_and_match(console: ConsoleBot, seeded: Seeded) -> None:
    console.service.settings = type(console.service.settings)(export_page_size=4)
    await console.handle("/admin export mentors period:365d")
    (table,) = _last_reply(console).files
    rows = list(csv.DictReader(io.StringIO(table.data.decode())))
    assert len(rows) == len(seeded.mentors)
    end = NOW + timedelta(seconds=1)  # a period includes this very moment
    start = end - timedelta(days=365)
    for mentor in seeded.mentors:
        user = seeded.mentor_member(mentor)["platform_user_id"]
        (row,) = [r for r in rows if r["user_id"] == user]
        ships = [
            m
            for m in seeded.mentorships
            if m["mentor_id"] == mentor["id"]
            and m["status"] in ACCEPTED
            and m["start_date"] < end
            and (m["end_date"] is None or m["end_date"] >= start)
        ]
        assert int(row["mentees"]) == len({m["mentee_id"] for m in ships})
        assert int(row["completed"]) == sum(
            m["status"] == "completed" and start <= m["end_date"] < end for m in ships
        )
        mine = [s for s in seeded.sessions if s["mentor_id"] == mentor["id"]]
        assert int(row["sessions"]) == sum(
            s["status"] == "completed" and start <= s["scheduled_at"] < end for s in mine
        )
        ratings = [
            r["rating"]
            for r in seeded.reviews
            if r["mentor_id"] == mentor["id"] and start <= r["created_at"] < end
        ]
        assert int(row["reviews"]) == len(ratings)
        assert row["rating"] == (f"{sum(ratings) / len(ratings):.2f}" if ratings else "")
        assert row["status"] == mentor["status"]


async def test_metrics_csv_matches_the_figures(console: ConsoleBot, seeded: Seeded) -> None:
    await console.handle("/admin export metrics period:90d")
    (table,) = _last_reply(console).files
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(table.data.decode()))}
    want = expected(seeded, 90)
    assert set(rows) == set(want)
    for key, (current, previous) in want.items():
        assert _close(float(rows[key]["value"]) if rows[key]["value"] else None, current), key
        assert _close(float(rows[key]["previous"]) if rows[key]["previous"] else None, previous)


def _joined(parts: tuple[File, ...]) -> bytes:
    whole = b""
    for i, part in enumerate(parts):
        data = part.data
        if part.name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                (inner,) = archive.namelist()
                data = archive.read(inner)
        whole += data if i == 0 else data.split(b"\n", 1)[1]
    return whole


def test_an_export_over_the_limit_is_compressed_or_split_never_cut() -> None:
    rows = "".join(f"mentor{i},u{i},{i * 7919 % 1000003},{i % 5}\n" for i in range(4000))
    data = ("mentor,user_id,sessions,rating\n" + rows).encode()
    whole = File("m.csv", data, "text/csv")
    assert fit_files((whole,), None) == ((whole,), [])
    zipped, _ = fit_files((whole,), len(data) // 2)
    assert [f.name for f in zipped] == ["m.csv.zip"]
    parts, notes = fit_files((whole,), 8000)
    assert "each a CSV with the header row" in notes[0]
    assert len(parts) > 1
    assert all(len(p.data) <= 8000 for p in parts)
    assert all(p.name.startswith("m.part") for p in parts)
    assert _joined(parts) == data


async def test_a_big_mentor_table_comes_in_parts(console: ConsoleBot, seeded: Seeded) -> None:
    console.port.max_file_bytes = 300  # the platform's limit: the adapter fits the file
    said = await console.say("/admin export mentors period:all")
    files = _last_reply(console).files
    assert len(files) > 1
    assert all(len(f.data) <= 300 for f in files)
    assert any("comes in" in line and "parts" in line for line in "\n".join(said).splitlines())
    rows = list(csv.DictReader(io.StringIO(_joined(files).decode())))
    assert len(rows) == len(seeded.mentors)


async def test_leaderboard_honours_opt_out(console: ConsoleBot, seeded: Seeded) -> None:
    await console.handle("/admin leaderboard period:all")
    board = _last_reply(console)
    text = "\n".join(f.value for f in board.fields)
    hidden = [
        seeded.mentor_member(m)["platform_user_id"]
        for m in seeded.mentors
        if not m["listed_on_boards"]
    ]
    assert hidden
    assert not any(f"<@{user}>" in text for user in hidden)
    # Sessions board: listed mentors by completed sessions, most first.
    left = {m["id"] for m in seeded.members if m["left_at"] is not None}
    counts = {}
    for mentor in seeded.mentors:
        if (
            mentor["listed_on_boards"]
            and mentor["status"] in ("active", "paused", "retired")
            and mentor["user_id"] not in left
        ):
            held = sum(
                s["mentor_id"] == mentor["id"]
                and s["status"] == "completed"
                and s["scheduled_at"] <= NOW  # the period includes this very moment
                for s in seeded.sessions
            )
            if held:
                counts[seeded.mentor_member(mentor)["platform_user_id"]] = held
    top = max(counts.values())
    first_line = board.fields[0].value.splitlines()[0]
    assert f"· {top} sessions" in first_line
    assert any(f"<@{u}>" in first_line for u, n in counts.items() if n == top)


async def test_a_mentor_opts_out_with_a_command(console: ConsoleBot, clock: FakeClock) -> None:
    clock.set(NOW)
    await console.handle("as @owner --admin")
    await console.handle(SETUP)
    await console.handle("as @alice")
    await console.handle(
        '/mentor apply bio:"Alice has mentored newcomers for years." expertise:giving '
        "availability:10 style:async languages:en timezone:UTC"
    )
    said = await console.say("/mentor leaderboard listed:no")
    assert any("no longer shown on public leaderboards" in line for line in said)
    said = await console.say("/mentor leaderboard")
    assert any("You are not shown" in line for line in said)
    await console.handle("as @bob")
    said = await console.say("/mentor leaderboard listed:no")
    assert any("mentor profile" in line for line in said)


async def _digests(factory: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with factory() as session:
        rows = await session.execute(
            select(Delivery).where(Delivery.kind == "report").order_by(Delivery.due_at)
        )
        return list(rows.scalars())


async def test_weekly_digest_goes_out_once_a_week(console: ConsoleBot, seeded: Seeded) -> None:
    said = await console.say("/admin reports digest:yes digest_day:wednesday hour:8")
    assert any("Wednesdays at 08:00 (UTC)" in line for line in said)
    (first,) = await _digests(console.service.factory)
    assert first.due_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # queued with the setting
    posted: list[str] = []
    for _ in range(5 * 7):  # five weeks, a day at a time, delivering and housekeeping
        said = await console.say("advance 1d")
        await console.dispatcher.drain()
        await console.service.housekeeping()
        posted += [line for line in said if "Weekly digest" in line]
    posts = [s for s in console.shown if s.message.title and "Weekly digest" in s.message.title]
    assert len(posts) == 5
    assert all(s.channel == "mentor-admin" for s in posts)
    (png,) = posts[0].message.files
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Mentorships, started:" in posts[0].message.text
    rows = await _digests(console.service.factory)
    assert [r.status for r in rows] == ["sent"] * 5 + ["pending"]
    assert [r.due_at.weekday() for r in rows] == [2] * 6
    assert len({r.idempotency_key for r in rows}) == 6
    # Running housekeeping again changes nothing: the next one is queued once.
    await console.service.housekeeping()
    assert len(await _digests(console.service.factory)) == 6

    await console.handle("/admin reports digest:no")
    rows = await _digests(console.service.factory)
    assert rows[-1].status == "cancelled"
    await console.say("advance 8d")
    await console.service.housekeeping()
    assert len(await _digests(console.service.factory)) == 6


async def test_monthly_leaderboard_in_the_announcement_room(
    console: ConsoleBot, seeded: Seeded
) -> None:
    said = await console.say("/admin reports leaderboard:yes hour:10")
    assert any("the 1st of each month at 10:00 (UTC)" in line for line in said)
    said = await console.say("/admin reports leaderboard:yes")
    assert any("Nothing changed" in line for line in said)
    (queued,) = await _digests(console.service.factory)
    assert queued.due_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    await console.say("advance 2d")
    await console.dispatcher.drain()
    await console.service.housekeeping()
    boards = [s for s in console.shown if s.channel == "general"]
    assert [s.message.title for s in boards] == ["Mentor leaderboard · the last 30 days"]
    rows = await _digests(console.service.factory)
    assert [(r.status, r.due_at) for r in rows] == [
        ("sent", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)),
        ("pending", datetime(2027, 1, 1, 10, 0, tzinfo=UTC)),
    ]


async def test_chart_series_equal_plain_python(console: ConsoleBot, seeded: Seeded) -> None:
    from core.usecases.metrics.series import (
        MATCH_BANDS,
        match_bands,
        mentorships_weekly,
        rating_counts,
        sessions_weekly,
    )

    window = parse_period("90d", NOW)
    end = NOW + timedelta(seconds=1)  # a period includes this very moment
    start = end - timedelta(days=90)

    def week(moment: datetime) -> int:
        return int((moment - start).total_seconds() // (7 * 86400))

    async with console.service.read_uow() as uow:
        ships = await mentorships_weekly(uow, seeded.community_id, window)
        sessions = await sessions_weekly(uow, seeded.community_id, window)
        bands = await match_bands(uow, seeded.community_id, window)
        stars = await rating_counts(uow, seeded.community_id, window)
    assert (ships.start, ships.bucket_days, len(ships.a)) == (start, 7, 13)
    started, completed = [0] * 13, [0] * 13
    for m in seeded.mentorships:
        if m["status"] in ACCEPTED and start <= m["start_date"] < end:
            started[week(m["start_date"])] += 1
        if m["status"] == "completed" and start <= m["end_date"] < end:
            completed[week(m["end_date"])] += 1
    assert (list(ships.a), list(ships.b)) == (started, completed)
    held, missed = [0] * 13, [0] * 13
    for s in seeded.sessions:
        if start <= s["scheduled_at"] < end and s["status"] in ("completed", "no_show"):
            (held if s["status"] == "completed" else missed)[week(s["scheduled_at"])] += 1
    assert (list(sessions.a), list(sessions.b)) == (held, missed)
    waits = [
        (m["start_date"] - m["requested_at"]).total_seconds()
        for m in seeded.mentorships
        if m["status"] in ACCEPTED and start <= m["start_date"] < end
    ]
    want = [0] * len(MATCH_BANDS)
    for wait in waits:
        want[next(i for i, (_, bound) in enumerate(MATCH_BANDS) if wait < bound)] += 1
    assert [n for _, n in bands] == want
    assert stars == [
        sum(r["rating"] == k and start <= r["created_at"] < end for r in seeded.reviews)
        for k in range(1, 6)
    ]


async def test_report_options_without_a_report_are_refused(
    console: ConsoleBot, seeded: Seeded
) -> None:
    said = await console.say("/admin reports digest_day:friday")
    assert any("`digest_day`: sets the weekly digest's day" in line for line in said)
    said = await console.say("/admin reports hour:7")
    assert any("`hour`: sets when reports go out" in line for line in said)
    said = await console.say("/admin reports digest_day:someday digest:yes")
    assert any("`digest_day`: must be one of monday" in line for line in said)
    assert await _digests(console.service.factory) == []
