"""Portable pieces of the metrics' SQL: seconds between two moments, whole buckets, a
period label for a moment, and percentiles computed in the database.

PostgreSQL has ``percentile_cont``; SQLite has none, so there each bucket's values are
numbered in order by a window function and only the (at most two) rows around each wanted
rank come back, to be interpolated exactly as ``percentile_cont`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres as is_postgres
from core.models.base import UTCDateTime
from core.usecases.metrics.periods import Window

CURRENT, PREVIOUS = "current", "previous"


def at(moment: datetime) -> ColumnElement[Any]:
    """A moment as a bound parameter of the stored timestamp type."""
    return literal(moment, UTCDateTime())


def seconds(pg: bool, later: Any, earlier: Any) -> ColumnElement[float]:
    """``later - earlier`` in seconds (a float)."""
    if pg:
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def whole(pg: bool, value: ColumnElement[float]) -> ColumnElement[int]:
    """The whole part of a non-negative number (PostgreSQL's cast would round)."""
    return cast(func.floor(value), Integer) if pg else cast(value, Integer)


def within(column: Any, start: datetime | None, end: datetime) -> ColumnElement[bool]:
    return column < end if start is None else and_(column >= start, column < end)


def period_of(column: Any, window: Window) -> ColumnElement[str | None]:
    """'current' or 'previous' for a moment in either period, else NULL."""
    whens = [(within(column, window.start, window.end), CURRENT)]
    if window.start is not None and window.previous_start is not None:
        whens.append((within(column, window.previous_start, window.start), PREVIOUS))
    return case(*whens, else_=None)


def in_either(column: Any, window: Window) -> ColumnElement[bool]:
    lowest = window.lowest
    return column < window.end if lowest is None else and_(column >= lowest, column < window.end)


def count_in(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def interpolate(ranked: dict[int, float], n: int, p: float) -> float:
    """``percentile_cont(p)`` from the values at the two ranks around ``p * (n - 1)``."""
    position = p * (n - 1)
    low = math.floor(position)
    high = min(low + 1, n - 1) if position > low else low
    return ranked[low] + (ranked[high] - ranked[low]) * (position - low)


async def percentiles(
    session: AsyncSession, values: Any, ps: Sequence[float]
) -> dict[str, tuple[int, list[float]]]:
    """For ``values`` selecting ``(bucket, value)`` rows: per bucket, how many values and
    the ``ps`` percentiles (continuous, as ``percentile_cont``). NULL values are skipped."""
    sub = values.subquery()
    bucket, value = sub.c[0], sub.c[1]
    present = value.is_not(None)
    if is_postgres(session):
        rows = await session.execute(
            select(
                bucket,
                func.count(),
                *[func.percentile_cont(p).within_group(value) for p in ps],
            )
            .where(present)
            .group_by(bucket)
        )
        return {b: (int(n), [float(v) for v in found]) for b, n, *found in rows}
    # Computed once per row (not flattened into the window query, which would compute
    # each value again for every use), then numbered in one sort: both window functions
    # share the window.
    sub = values.limit(-1).subquery()
    bucket, value = sub.c[0], sub.c[1]
    order = func.row_number().over(partition_by=bucket, order_by=value) - 1
    size = func.count().over(partition_by=bucket, order_by=value, rows=(None, None))
    ranked = (
        select(bucket.label("bucket"), value.label("value"), order.label("rank"), size.label("n"))
        .where(value.is_not(None))
        .subquery()
    )
    wanted = []
    for p in ps:
        position = (ranked.c.n - 1) * p
        low = cast(position, Integer)  # non-negative: the cast is the floor
        wanted += [ranked.c.rank == low, ranked.c.rank == low + case((position > low, 1), else_=0)]
    rows = await session.execute(
        select(ranked.c.bucket, ranked.c.n, ranked.c.rank, ranked.c.value).where(or_(*wanted))
    )
    by_bucket: dict[str, tuple[int, dict[int, float]]] = {}
    for b, n, rank, v in rows:
        by_bucket.setdefault(b, (int(n), {}))[1][int(rank)] = float(v)
    return {b: (n, [interpolate(ranks, n, p) for p in ps]) for b, (n, ranks) in by_bucket.items()}


def case_value(condition: ColumnElement[bool], value: Any) -> ColumnElement[Any]:
    """``value`` where ``condition`` holds, else NULL (for AVG / COUNT DISTINCT of a part)."""
    return case((condition, value), else_=None)


async def counts(session: AsyncSession, subqueries: Sequence[Any]) -> list[int]:
    """Several scalar counts in one statement (each its own index range count)."""
    row = (await session.execute(select(*subqueries))).one()
    return [int(value or 0) for value in row]
