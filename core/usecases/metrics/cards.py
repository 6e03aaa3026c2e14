"""Figures in words: one field per section, each figure beside the previous period's."""

from __future__ import annotations

from core.messages import Field
from core.usecases.metrics.figures import Figure, Figures

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def value_text(value: float | None, unit: str) -> str:
    """A figure as shown: ``12``, ``42%``, ``3.5 h``, ``4.3 ★``; ``—`` when there is none."""
    if value is None:
        return "—"
    match unit:
        case "count":
            return f"{value:,.0f}"
        case "rate":
            return f"{value * 100:.0f}%"
        case "rating":
            return f"{value:.2f} ★"
        case "duration":
            return duration_text(value)
    return f"{value:.1f}"


def duration_text(seconds: float) -> str:
    if seconds < HOUR:
        return f"{seconds / MINUTE:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} d"


def change_text(figure: Figure) -> str:
    """`` (▲ 3 from 9)``: the change from the previous period, when there is one."""
    if figure.now or figure.previous is None:
        return ""
    before = value_text(figure.previous, figure.unit)
    if figure.current is None:
        return f" (before: {before})"
    delta = figure.current - figure.previous
    if abs(delta) < 1e-9:
        return f" (= {before} before)"
    arrow = "▲" if delta > 0 else "▼"
    if figure.unit == "rate":
        shown = f"{abs(delta) * 100:.0f} pts"
    elif figure.unit == "duration":
        shown = duration_text(abs(delta))
    elif figure.unit == "rating":
        shown = f"{abs(delta):.2f}"
    elif figure.unit == "count":
        shown = f"{abs(delta):,.0f}"
    else:
        shown = f"{abs(delta):.1f}"
    return f" ({arrow} {shown} from {before})"


def figure_line(figure: Figure) -> str:
    now = " (now)" if figure.now else ""
    return f"{figure.label}{now}: {value_text(figure.current, figure.unit)}{change_text(figure)}"


def figure_fields(figures: Figures) -> tuple[Field, ...]:
    return tuple(
        Field(section, "\n".join(figure_line(f) for f in items))
        for section, items in figures.sections().items()
    )


HEADLINES = (
    "mentorships.started",
    "mentorships.completed",
    "mentorships.active",
    "mentees.waiting",
    "matching.request_median",
    "sessions.held",
    "sessions.no_show_rate",
    "ratings.average",
    "groups.meetings",
)


def headline_lines(figures: Figures) -> str:
    """The digest's few figures, one a line."""
    return "\n".join(f"{figures[key].section}, {figure_line(figures[key])}" for key in HEADLINES)
