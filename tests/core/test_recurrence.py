"""Local schedules (core/recurrence.py): DST-correct instants, rules and calendar files."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import icalendar
import pytest

from core.errors import InvalidValue
from core.recurrence import CalendarEntry, Schedule, calendar_file, parse_time

LONDON = "Europe/London"


def _starts(schedule: Schedule, after: datetime, n: int) -> list[datetime]:
    return [o.start for o in schedule.occurrences(after, n)]


def test_weekly_wednesday_1900_london_stays_1900_local_across_both_changes() -> None:
    weekly = Schedule("weekly", 2, time(19), 60, LONDON)
    spring = _starts(weekly, datetime(2026, 3, 20, tzinfo=UTC), 2)
    autumn = _starts(weekly, datetime(2026, 10, 20, tzinfo=UTC), 2)
    assert spring == [datetime(2026, 3, 25, 19, tzinfo=UTC), datetime(2026, 4, 1, 18, tzinfo=UTC)]
    assert autumn == [
        datetime(2026, 10, 21, 18, tzinfo=UTC),
        datetime(2026, 10, 28, 19, tzinfo=UTC),
    ]


def test_a_skipped_local_time_moves_forward_by_the_gap_and_says_so() -> None:
    (occurrence,) = Schedule("weekly", 6, time(1, 30), 60, LONDON).occurrences(
        datetime(2026, 3, 28, tzinfo=UTC), 1
    )
    assert occurrence.shifted
    assert occurrence.start == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 BST


def test_a_repeated_local_time_is_the_first_of_the_two() -> None:
    (occurrence,) = Schedule("weekly", 6, time(1, 30), 60, LONDON).occurrences(
        datetime(2026, 10, 24, tzinfo=UTC), 1
    )
    assert not occurrence.shifted
    assert occurrence.start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST


def test_every_other_week_keeps_its_rhythm_from_the_series_start() -> None:
    biweekly = Schedule("biweekly", 2, time(19), 60, LONDON, anchor=date(2026, 1, 7))
    later = _starts(biweekly, datetime(2026, 6, 1, tzinfo=UTC), 2)
    assert [(d.date() - date(2026, 1, 7)).days % 14 for d in later] == [0, 0]
    assert later[1] - later[0] == timedelta(days=14)


def test_monthly_on_the_nth_and_last_weekday() -> None:
    second = Schedule("monthly", 1, time(18), 60, "America/New_York", week=2)
    last = Schedule("monthly", 4, time(18), 60, "America/New_York", week=-1)
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert [d.date() for d in _starts(second, after, 2)] == [date(2026, 1, 13), date(2026, 2, 10)]
    assert [d.date() for d in _starts(last, after, 2)] == [date(2026, 1, 30), date(2026, 2, 27)]
    assert last.rrule_text() == "FREQ=MONTHLY;BYDAY=-1FR"


@pytest.mark.parametrize("text", ["25:00", "12:60", "13pm", "noon", "", "7:5"])
def test_an_impossible_time_names_the_option(text: str) -> None:
    with pytest.raises(InvalidValue, match="`time`: must be a time of day"):
        parse_time("time", text)


def test_a_monthly_schedule_needs_its_week_and_a_duration_its_range() -> None:
    with pytest.raises(InvalidValue, match="`week`"):
        Schedule("monthly", 1, time(18), 60, LONDON)
    with pytest.raises(InvalidValue, match="`duration`"):
        Schedule("weekly", 1, time(18), 5, LONDON)


def test_a_calendar_file_carries_the_rule_the_zone_and_exceptions() -> None:
    weekly = Schedule("weekly", 2, time(19), 60, LONDON)
    start = datetime(2026, 3, 25, 19, tzinfo=weekly.tz)
    data = calendar_file(
        [
            CalendarEntry(
                "g@x",
                "Meeting",
                start,
                timedelta(hours=1),
                rrule=weekly.rrule_text(),
                exdates=[start + timedelta(days=7)],
            )
        ],
        stamp=datetime(2026, 3, 1, tzinfo=UTC),
    )
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert event["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=WE"
    assert event["DTSTART"].params["TZID"] == LONDON
    assert b"EXDATE;TZID=Europe/London:20260401T190000" in data
