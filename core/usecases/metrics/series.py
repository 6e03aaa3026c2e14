"""What the metrics charts draw, counted by SQL per week (or per few weeks over long
periods), per time-to-match band and per star."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select

from core.models import MentorReview, MentorSession, Mentorship
from core.uow import UnitOfWork
from core.usecases.metrics.figures import ACCEPTED
from core.usecases.metrics.periods import Window
from core.usecases.metrics.sql import at, count_in, is_postgres, seconds, whole, within

MAX_BARS = 60
HOUR = 3600.0
# Time-to-match bands: (label, upper bound in seconds).
MATCH_BANDS = (
    ("< 1 h", HOUR),
    ("1–6 h", 6 * HOUR),
    ("6–24 h", 24 * HOUR),
    ("1–3 d", 72 * HOUR),
    ("3–7 d", 168 * HOUR),
    ("> 7 d", math.inf),
)


@dataclass(frozen=True)
class Weekly:
    """Counts per bucket of ``bucket_days`` starting at ``start``; ``a`` and ``b`` are the
    two series (started / completed; held / no-shows)."""

    start: datetime
    bucket_days: int
    a: tuple[int, ...]
    b: tuple[int, ...]

    def starts(self) -> list[datetime]:
        return [self.start + timedelta(days=i * self.bucket_days) for i in range(len(self.a))]


async def chart_start(uow: UnitOfWork, community_id: str, window: Window) -> datetime:
    """Where the weekly charts begin: the period's start, or (all time) the first
    mentorship's start, at most a year before the end if there is none."""
    if window.start is not None:
        return window.start
    first = await uow.session.scalar(
        select(func.min(Mentorship.start_date)).where(
            Mentorship.community_id == community_id, Mentorship.status.in_(ACCEPTED)
        )
    )
    return first if first is not None else window.end - timedelta(days=365)


def _layout(start: datetime, end: datetime) -> tuple[int, int]:
    """(bucket days, buckets): weeks, or several weeks a bar so at most MAX_BARS."""
    days = max(1.0, (end - start).total_seconds() / 86400)
    weeks = math.ceil(days / 7)
    bucket_days = 7 * math.ceil(weeks / MAX_BARS)
    return bucket_days, math.ceil(days / bucket_days)


async def _per_bucket(
    uow: UnitOfWork,
    start: datetime,
    end: datetime,
    column: Any,
    where: list[ColumnElement[bool]],
    counted: tuple[ColumnElement[bool], ColumnElement[bool]],
) -> Weekly:
    """Per bucket of ``column`` in ``[start, end)``, how many rows meet each of ``counted``."""
    pg = is_postgres(uow.session)
    bucket_days, buckets = _layout(start, end)
    index = whole(pg, seconds(pg, column, at(start)) / (bucket_days * 86400.0)).label("bucket")
    rows = await uow.session.execute(
        select(index, count_in(counted[0]), count_in(counted[1]))
        .where(within(column, start, end), *where)
        .group_by(index)
    )
    first, second = [0] * buckets, [0] * buckets
    for i, x, y in rows:
        if 0 <= int(i) < buckets:
            first[int(i)], second[int(i)] = int(x), int(y)
    return Weekly(start, bucket_days, tuple(first), tuple(second))


async def mentorships_weekly(uow: UnitOfWork, community_id: str, window: Window) -> Weekly:
    """Mentorships started (accepted) and completed per bucket."""
    start = await chart_start(uow, community_id, window)
    mine = Mentorship.community_id == community_id
    every = Mentorship.id.is_not(None)
    started = await _per_bucket(
        uow,
        start,
        window.end,
        Mentorship.start_date,
        [mine, Mentorship.status.in_(ACCEPTED)],
        (every, every),
    )
    completed = await _per_bucket(
        uow,
        start,
        window.end,
        Mentorship.end_date,
        [mine, Mentorship.status == "completed"],
        (every, every),
    )
    return Weekly(start, started.bucket_days, started.a, completed.a)


async def sessions_weekly(uow: UnitOfWork, community_id: str, window: Window) -> Weekly:
    """Sessions held and no-shows per bucket."""
    start = await chart_start(uow, community_id, window)
    return await _per_bucket(
        uow,
        start,
        window.end,
        MentorSession.scheduled_at,
        [
            MentorSession.community_id == community_id,
            MentorSession.status.in_(("completed", "no_show")),
        ],
        (MentorSession.status == "completed", MentorSession.status == "no_show"),
    )


async def match_bands(uow: UnitOfWork, community_id: str, window: Window) -> list[tuple[str, int]]:
    """How many mentorships started in the period were accepted within each band."""
    pg = is_postgres(uow.session)
    waited = seconds(pg, Mentorship.start_date, Mentorship.requested_at)
    band = case(
        *[(waited < bound, i) for i, (_, bound) in enumerate(MATCH_BANDS[:-1])],
        else_=len(MATCH_BANDS) - 1,
    ).label("band")
    rows = await uow.session.execute(
        select(band, func.count())
        .where(
            Mentorship.community_id == community_id,
            Mentorship.status.in_(ACCEPTED),
            within(Mentorship.start_date, window.start, window.end),
        )
        .group_by(band)
    )
    counts = {int(i): int(n) for i, n in rows}
    return [(label, counts.get(i, 0)) for i, (label, _) in enumerate(MATCH_BANDS)]


async def rating_counts(uow: UnitOfWork, community_id: str, window: Window) -> list[int]:
    """Reviews in the period with 1, 2, 3, 4 and 5 stars."""
    stars = func.round(MentorReview.rating).label("stars")
    rows = await uow.session.execute(
        select(stars, func.count())
        .where(
            MentorReview.community_id == community_id,
            within(MentorReview.created_at, window.start, window.end),
        )
        .group_by(stars)
    )
    counts = [0] * 5
    for value, n in rows:
        if value is not None and 1 <= int(value) <= 5:
            counts[int(value) - 1] += int(n)
    return counts
