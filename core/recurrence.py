"""Recurring local schedules and calendar files, shared by every feature that has them.

A schedule is a local rule in an IANA zone ("weekly on Wednesday at 19:00,
Europe/London"), stored as such and turned into UTC instants only when occurrences are
materialised, so 19:00 stays 19:00 on both sides of a daylight-saving change.
Recurrence is python-dateutil's ``rrule``; calendar files are built with ``icalendar``.

A local time that does not exist on one day (01:30 on a spring-forward night) is moved
forward by the gap (to 02:30) and the occurrence says so (``Occurrence.shifted``); it is
never dropped. A time that exists twice (an autumn night) is the first of the two.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dateutil import rrule

from core.errors import InvalidValue

Frequency = Literal["weekly", "biweekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = ("weekly", "biweekly", "monthly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKS = ("1", "2", "3", "4", "last")
_ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_RR_DAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
_ICS_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", re.IGNORECASE)
DURATION_MIN, DURATION_MAX = 15, 480


def parse_time(field_name: str, value: str) -> time:
    """ "19:00", "7pm" or "7:30 pm" as a time of day; anything else names the rule."""
    match = _TIME_RE.match(value.strip())
    rule = "must be a time of day such as 19:00 or 7pm (00:00–23:59)"
    if match is None:
        raise InvalidValue(field_name, rule, value)
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half:
        if not 1 <= hour <= 12:
            raise InvalidValue(field_name, rule, value)
        hour = hour % 12 + (12 if half.lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise InvalidValue(field_name, rule, value)
    return time(hour, minute)


def weekday(field_name: str, value: str) -> int:
    text = value.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if len(text) >= 3 and name.startswith(text):
            return index
    raise InvalidValue(field_name, f"must be a day of the week ({', '.join(WEEKDAYS)})", value)


def local_instant(day: date, at: time, zone: ZoneInfo) -> tuple[datetime, bool]:
    """The UTC instant of ``at`` on ``day`` in ``zone``, and whether it had to move.

    In a spring-forward gap Python's ``fold=0`` reads the wall time with the offset in
    force before the change, which lands the same distance past the gap (01:30 → 02:30).
    """
    wall = datetime.combine(day, at, tzinfo=zone)
    instant = wall.astimezone(UTC)
    shifted = instant.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None)
    return instant, shifted


@dataclass(frozen=True)
class Occurrence:
    start: datetime  # UTC
    end: datetime  # UTC
    local_day: date
    shifted: bool  # the local time did not exist that day and was moved forward


@dataclass(frozen=True)
class Schedule:
    """A meeting rule: weekly, every other week, or monthly on the nth weekday."""

    frequency: Frequency
    weekday: int  # 0 = Monday
    at: time
    duration: int  # minutes
    zone: str
    week: int | None = None  # monthly: 1–4, or -1 for the last
    anchor: date = field(default_factory=lambda: date(2000, 1, 3))  # series start (biweekly)

    def __post_init__(self) -> None:
        if self.frequency not in FREQUENCIES:
            raise InvalidValue("frequency", f"must be one of {', '.join(FREQUENCIES)}")
        if self.frequency == "monthly" and self.week not in (1, 2, 3, 4, -1):
            raise InvalidValue("week", "a monthly meeting needs the week: 1, 2, 3, 4 or last")
        if not DURATION_MIN <= self.duration <= DURATION_MAX:
            raise InvalidValue(
                "duration",
                f"must be a whole number of minutes from {DURATION_MIN} to {DURATION_MAX}",
                self.duration,
            )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def describe(self) -> str:
        day = WEEKDAYS[self.weekday].capitalize()
        when = {
            "weekly": f"weekly on {day}",
            "biweekly": f"every other {day}",
            "monthly": f"monthly on the {_ORDINAL.get(self.week or 1, '')} {day}",
        }[self.frequency]
        return f"{when} at {self.at:%H:%M}, {self.duration} min, {self.zone}"

    def rrule_text(self) -> str:
        """The series as an iCalendar RRULE value (``FREQ=WEEKLY;BYDAY=WE``)."""
        day = _ICS_DAYS[self.weekday]
        if self.frequency == "monthly":
            return f"FREQ=MONTHLY;BYDAY={self.week}{day}"
        interval = ";INTERVAL=2" if self.frequency == "biweekly" else ""
        return f"FREQ=WEEKLY{interval};BYDAY={day}"

    def _days(self, start: date) -> Iterator[date]:
        """Local days of the series from ``start`` on (dateutil, on naive local dates)."""
        day = _RR_DAYS[self.weekday]
        if self.frequency == "monthly":
            rule = rrule.rrule(
                rrule.MONTHLY,
                dtstart=datetime.combine(start.replace(day=1), time()),
                byweekday=day(self.week or 1),
            )
        else:
            # Every other week counts from the anchor's week, so the series keeps its
            # rhythm whatever day the window starts on; the rule starts at the last
            # whole period before ``start`` (not years back, which dateutil would walk).
            step = 14 if self.frequency == "biweekly" else 7
            first = self.anchor - timedelta(days=self.anchor.weekday())
            if start > first:
                first += timedelta(days=(start - first).days // step * step)
            rule = rrule.rrule(
                rrule.WEEKLY,
                dtstart=datetime.combine(first, time()),
                interval=2 if self.frequency == "biweekly" else 1,
                byweekday=day,
            )
        for moment in rule.xafter(datetime.combine(start, time()), inc=True):
            yield moment.date()

    def occurrences(self, after: datetime, count: int) -> list[Occurrence]:
        """The next ``count`` occurrences starting strictly after ``after`` (UTC)."""
        zone = self.tz
        found: list[Occurrence] = []
        first_day = after.astimezone(zone).date() - timedelta(days=1)
        for day in self._days(max(first_day, self.anchor)):
            start, shifted = local_instant(day, self.at, zone)
            if start <= after:
                continue
            found.append(Occurrence(start, start + timedelta(minutes=self.duration), day, shifted))
            if len(found) >= count:
                break
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "weekday": self.weekday,
            "at": self.at.strftime("%H:%M"),
            "duration": self.duration,
            "zone": self.zone,
            "week": self.week,
            "anchor": self.anchor.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            frequency=data["frequency"],
            weekday=int(data["weekday"]),
            at=time.fromisoformat(data["at"]),
            duration=int(data["duration"]),
            zone=data["zone"],
            week=data.get("week"),
            anchor=date.fromisoformat(data["anchor"]),
        )


def week_number(field_name: str, value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text == "last":
        return -1
    if text in ("1", "2", "3", "4"):
        return int(text)
    raise InvalidValue(field_name, "must be 1, 2, 3, 4 or last", value)


# ----- calendar files -----------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEntry:
    """One VEVENT: a single moment, or a series when ``rrule`` is given."""

    uid: str
    title: str
    start: datetime  # aware; a series starts in its own zone so it follows its clock
    duration: timedelta
    description: str = ""
    location: str = ""
    rrule: str | None = None
    exdates: Sequence[datetime] = ()
    cancelled: bool = False


def calendar_file(entries: Sequence[CalendarEntry], *, stamp: datetime) -> bytes:
    """An iCalendar file (RFC 5545) with its time zones, built by ``icalendar``."""
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Mentorbot//EN")
    calendar.add("version", "2.0")
    for entry in entries:
        event = icalendar.Event()
        event.add("uid", entry.uid)
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("summary", entry.title)
        event.add("dtstart", entry.start)
        event.add("duration", entry.duration)
        if entry.description:
            event.add("description", entry.description)
        if entry.location:
            event.add("location", entry.location)
        if entry.rrule:
            event.add("rrule", icalendar.vRecur.from_ical(entry.rrule))
        for excluded in entry.exdates:
            event.add("exdate", excluded)
        if entry.cancelled:
            event.add("status", "CANCELLED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())
