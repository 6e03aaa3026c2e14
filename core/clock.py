"""Time for the core: always timezone-aware UTC, replaceable in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    # ``datetime.now(UTC)`` itself, with no Python frame around it: the dispatcher reads
    # the clock for every effect it sends.
    now: Callable[[], datetime] = staticmethod(partial(datetime.now, UTC))


class FakeClock:
    """A clock that only moves when told to (tests, the demo script)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        self._now = when
