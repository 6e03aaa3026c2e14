"""Charts as PNG images drawn with matplotlib, each with the same in words: goal progress
(F10) and the impact metrics' bar charts (F13).

matplotlib is imported only when a chart is drawn (with the Agg backend, no display),
so start-up and every other command never pay for it. Drawing is CPU work, and much of it
runs in C code that keeps Python's GIL, which would hold the event loop in a worker
thread for 100 ms and more; so callers draw through :func:`drawn`, which runs the
``draw_*`` functions in one worker process, started the first time a chart is drawn (its
first chart pays the process start and the matplotlib import, about a second or two).

Metrics charts have an opaque light background with dark text and the Okabe-Ito
colour-blind-safe palette, so they read the same in Discord's and Slack's dark and
light themes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

WIDTH_PX, HEIGHT_PX, DPI = 800, 450, 100
# pyplot's state is process-wide: one chart at a time.
_DRAWING = threading.Lock()
_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ProcessPoolExecutor:
    """The chart process, started (and waited for) on the calling thread the first time:
    callers on the event loop come through a worker thread (:func:`drawn`)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # spawn, not fork: forking a process that runs an event loop and threads is unsafe.
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            pool.submit(int).result()
            _POOL = pool
        return _POOL


def _discard(pool: ProcessPoolExecutor) -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is pool:
            _POOL = None
    pool.shutdown(wait=False, cancel_futures=True)


async def drawn(draw: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``draw(*args)`` (a module-level ``draw_*`` function) in the chart process, so the
    event loop never waits for matplotlib. A worker that died is replaced, once."""
    loop = asyncio.get_running_loop()
    for attempt in range(2):
        # Starting a process takes the calling thread ~100 ms: never the loop's.
        pool = _POOL if _POOL is not None else await asyncio.to_thread(_pool)
        try:
            return await loop.run_in_executor(pool, partial(draw, *args, **kwargs))
        except BrokenProcessPool:
            _discard(pool)
            if attempt:
                raise
            log.warning("the chart process stopped; starting another")
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Point:
    at: datetime
    progress: float
    milestone: str | None = None  # the milestone ticked at this moment, if any


@dataclass(frozen=True)
class GoalSeries:
    title: str
    status: str
    points: tuple[Point, ...]
    target: datetime | None = None


def draw_progress_chart(series: list[GoalSeries], zone: str, now: datetime) -> bytes:
    """A PNG of each goal's progress over time (steps), milestones marked, dates in
    ``zone``; exactly :data:`WIDTH_PX` x :data:`HEIGHT_PX` pixels."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    tz = ZoneInfo(zone)
    with _DRAWING:
        fig, ax = plt.subplots(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        try:

            def num(at: datetime) -> float:
                return float(mdates.date2num(at.astimezone(tz)))  # type: ignore[no-untyped-call]

            for goal in series:
                xs = [num(p.at) for p in goal.points]
                ys = [p.progress for p in goal.points]
                if goal.status == "active":
                    xs.append(num(now))
                    ys.append(ys[-1])
                (line,) = ax.step(xs, ys, where="post", label=goal.title[:40])
                marked = [p for p in goal.points if p.milestone]
                if marked:
                    ax.plot(
                        [num(p.at) for p in marked],
                        [p.progress for p in marked],
                        "o",
                        color=line.get_color(),
                    )
                if goal.target is not None:
                    ax.axvline(num(goal.target), color=line.get_color(), ls=":", lw=1)
            ax.set_ylim(-2, 102)
            ax.set_ylabel("Progress (%)")
            ax.set_title("Goal progress")
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b", tz=tz))  # type: ignore[no-untyped-call]
            ax.grid(alpha=0.3)
            if series:
                ax.legend(loc="upper left", fontsize="small")
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI)
        finally:
            plt.close(fig)
    return buffer.getvalue()


def describe_progress(series: list[GoalSeries], zone: str) -> str:
    """The chart in words, for screen readers and text-only clients."""
    tz = ZoneInfo(zone)
    lines = []
    for goal in series:
        first, last = goal.points[0], goal.points[-1]
        ticks = [p for p in goal.points if p.milestone]
        steps = "; ".join(
            f"“{p.milestone}” ticked {p.at.astimezone(tz):%d %b}, {p.progress:.0f}%" for p in ticks
        )
        lines.append(
            f"{goal.title} ({goal.status}): {first.progress:.0f}% on "
            f"{first.at.astimezone(tz):%d %b %Y}, {last.progress:.0f}% on "
            f"{last.at.astimezone(tz):%d %b %Y}, {len(goal.points)} change(s)"
            + (f". Milestones: {steps}" if steps else "")
            + "."
        )
    return "\n".join(lines)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# Okabe-Ito: distinguishable with every common colour-vision deficiency.
BLUE, ORANGE, GREEN, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
INK, PAPER, GRID = "#1f2328", "#ffffff", "#d0d7de"
MAX_TICKS = 12


@dataclass(frozen=True)
class Bars:
    """One series of a bar chart."""

    label: str
    values: tuple[int, ...]
    color: str


@dataclass(frozen=True)
class BarChart:
    """A bar chart (grouped, or stacked) over ``categories``, with its summary in words."""

    filename: str
    title: str
    categories: tuple[str, ...]
    series: tuple[Bars, ...]
    ylabel: str
    summary: str
    stacked: bool = False


def draw_bar_chart(chart: BarChart) -> bytes:
    """A PNG of ``chart``, exactly :data:`WIDTH_PX` x :data:`HEIGHT_PX` pixels."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    with _DRAWING:
        fig, ax = plt.subplots(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        try:
            fig.patch.set_facecolor(PAPER)
            ax.set_facecolor(PAPER)
            xs = list(range(len(chart.categories)))
            count = max(1, len(chart.series))
            width = 0.8 if chart.stacked else 0.8 / count
            bottom = [0] * len(xs)
            for i, bars in enumerate(chart.series):
                if chart.stacked:
                    ax.bar(xs, bars.values, 0.8, bottom=bottom, label=bars.label, color=bars.color)
                    bottom = [b + v for b, v in zip(bottom, bars.values, strict=True)]
                else:
                    offset = (i - (count - 1) / 2) * width
                    shifted = [x + offset for x in xs]
                    ax.bar(shifted, bars.values, width, label=bars.label, color=bars.color)
            step = max(1, -(-len(xs) // MAX_TICKS))
            ax.set_xticks(xs[::step], chart.categories[::step], rotation=0 if step == 1 else 30)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(chart.ylabel, color=INK)
            ax.set_title(chart.title, color=INK)
            ax.tick_params(colors=INK, labelsize="small")
            for spine in ax.spines.values():
                spine.set_color(GRID)
            ax.grid(axis="y", color=GRID, alpha=0.8)
            ax.set_axisbelow(True)
            if len(chart.series) > 1:
                ax.legend(loc="upper left", fontsize="small", frameon=False, labelcolor=INK)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI, facecolor=PAPER)
        finally:
            plt.close(fig)
    return buffer.getvalue()


def draw_bar_charts(charts: Sequence[BarChart]) -> list[bytes]:
    """Several charts' PNGs, in order (one trip to the chart process)."""
    return [draw_bar_chart(chart) for chart in charts]


def peak(categories: Sequence[str], values: Sequence[int]) -> str:
    """ "the most (N) in CATEGORY" for the largest value."""
    best = max(range(len(values)), key=lambda i: values[i])
    return f"the most ({values[best]}) in {categories[best]}"
