"""The metrics charts: what each draws (counted by SQL), its summary in words, and the
PNGs, drawn in the chart process so the event loop never waits for matplotlib."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from core.charts import (
    BLUE,
    GREEN,
    ORANGE,
    VERMILLION,
    BarChart,
    Bars,
    draw_bar_charts,
    drawn,
    peak,
)
from core.messages import File
from core.uow import UnitOfWork
from core.usecases.metrics.periods import Window
from core.usecases.metrics.series import (
    Weekly,
    match_bands,
    mentorships_weekly,
    rating_counts,
    sessions_weekly,
)

CHARTS = ("mentorships", "matching", "sessions", "ratings")


def _labels(weekly: Weekly, zone: str) -> tuple[str, ...]:
    tz = ZoneInfo(zone)
    return tuple(f"{d.astimezone(tz):%d %b}" for d in weekly.starts())


def _per(weekly: Weekly) -> str:
    return "week" if weekly.bucket_days == 7 else f"{weekly.bucket_days // 7} weeks"


async def mentorships_chart(uow: UnitOfWork, cid: str, window: Window, zone: str) -> BarChart:
    weekly = await mentorships_weekly(uow, cid, window)
    labels = _labels(weekly, zone)
    started, completed = sum(weekly.a), sum(weekly.b)
    summary = f"Mentorships over {window.describe()}: {started} started, {completed} completed"
    if started:
        summary += f"; {peak(labels, weekly.a)} (the {_per(weekly)} from that day)"
    return BarChart(
        "mentorships.png",
        f"Mentorships started and completed per {_per(weekly)}",
        labels,
        (Bars("started", weekly.a, BLUE), Bars("completed", weekly.b, GREEN)),
        "mentorships",
        summary + ".",
    )


async def matching_chart(uow: UnitOfWork, cid: str, window: Window, zone: str) -> BarChart:
    bands = await match_bands(uow, cid, window)
    labels = tuple(label for label, _ in bands)
    counts = tuple(n for _, n in bands)
    total = sum(counts)
    if total:
        within_day = sum(counts[:3])
        summary = (
            f"Time to match over {window.describe()}: of {total} mentorships started, "
            f"{within_day} ({within_day / total:.0%}) were accepted within a day; "
            f"the most common wait was {labels[max(range(len(counts)), key=counts.__getitem__)]}."
        )
    else:
        summary = f"Time to match over {window.describe()}: no mentorship started."
    return BarChart(
        "time-to-match.png",
        "Time from request to acceptance",
        labels,
        (Bars("mentorships", counts, ORANGE),),
        "mentorships",
        summary,
    )


async def sessions_chart(uow: UnitOfWork, cid: str, window: Window, zone: str) -> BarChart:
    weekly = await sessions_weekly(uow, cid, window)
    labels = _labels(weekly, zone)
    held, missed = sum(weekly.a), sum(weekly.b)
    summary = f"Sessions over {window.describe()}: {held} held, {missed} no-shows"
    if held + missed:
        summary += f" ({missed / (held + missed):.0%} of those due)"
        summary += f"; {peak(labels, [a + b for a, b in zip(weekly.a, weekly.b, strict=True)])}"
    return BarChart(
        "sessions.png",
        f"Sessions per {_per(weekly)}",
        labels,
        (Bars("held", weekly.a, BLUE), Bars("no-show", weekly.b, VERMILLION)),
        "sessions",
        summary + ".",
        stacked=True,
    )


async def ratings_chart(uow: UnitOfWork, cid: str, window: Window, zone: str) -> BarChart:
    counts = tuple(await rating_counts(uow, cid, window))
    total = sum(counts)
    if total:
        average = sum((i + 1) * n for i, n in enumerate(counts)) / total
        summary = (
            f"Ratings over {window.describe()}: {total} reviews averaging {average:.1f} stars; "
            + ", ".join(f"{n} × {i + 1}★" for i, n in enumerate(counts) if n)
            + "."
        )
    else:
        summary = f"Ratings over {window.describe()}: no reviews."
    return BarChart(
        "ratings.png",
        "Ratings given",
        tuple(f"{i} ★" for i in range(1, 6)),
        (Bars("reviews", counts, GREEN),),
        "reviews",
        summary,
    )


BUILDERS = {
    "mentorships": mentorships_chart,
    "matching": matching_chart,
    "sessions": sessions_chart,
    "ratings": ratings_chart,
}


async def build_charts(
    uow: UnitOfWork, cid: str, window: Window, zone: str, names: Sequence[str]
) -> list[BarChart]:
    """What each named chart draws (one or two SQL aggregates each)."""
    return [await BUILDERS[name](uow, cid, window, zone) for name in names]


async def draw(charts: Sequence[BarChart]) -> tuple[File, ...]:
    """The PNGs, drawn one after another in the chart process (``core.charts.drawn``)."""
    pngs = await drawn(draw_bar_charts, list(charts))
    return tuple(
        File(chart.filename, png, "image/png") for chart, png in zip(charts, pngs, strict=True)
    )
