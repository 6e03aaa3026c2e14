"""The periods figures cover: the last 30, 90 or 365 days, or everything; each beside the
period just before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import InvalidValue

PERIODS = {"30d": 30, "90d": 90, "365d": 365, "all": None}
DEFAULT_PERIOD = "30d"
# Windows are half-open, so "the last 30 days" ends a second after now: what happened at
# this very moment (a clock that has not ticked since; goal progress steps are stamped a
# microsecond apart after it) is counted.
JUST_AFTER = timedelta(seconds=1)


@dataclass(frozen=True)
class Window:
    """``[start, end)`` and the previous period ``[previous_start, start)``; ``start`` is
    None for "all" (no lower bound, nothing to compare with)."""

    label: str
    end: datetime
    days: int | None

    @property
    def start(self) -> datetime | None:
        return None if self.days is None else self.end - timedelta(days=self.days)

    @property
    def previous_start(self) -> datetime | None:
        start = self.start
        return None if start is None or self.days is None else start - timedelta(days=self.days)

    @property
    def lowest(self) -> datetime | None:
        """The earliest moment either period reads (None: from the beginning)."""
        return self.previous_start

    def shifted(self, days: int) -> Window:
        """The same window ``days`` earlier (retention cohorts reach their mark later)."""
        return Window(self.label, self.end - timedelta(days=days), self.days)

    def describe(self) -> str:
        if self.days is None:
            return "all time"
        if self.days == 7:
            return "the last 7 days"
        return f"the last {self.days} days"

    def versus(self) -> str:
        return "" if self.days is None else f"the {self.days} days before"


def parse_period(raw: str | None, now: datetime) -> Window:
    """``30d`` (default), ``90d``, ``365d`` or ``all``; anything else is refused."""
    label = (raw or DEFAULT_PERIOD).strip().lower()
    if label not in PERIODS:
        raise InvalidValue("period", f"must be one of {', '.join(PERIODS)}", raw)
    return Window(label, now + JUST_AFTER, PERIODS[label])


def week_window(now: datetime) -> Window:
    """The weekly digest's window: the last 7 days beside the 7 before."""
    return Window("7d", now + JUST_AFTER, 7)
