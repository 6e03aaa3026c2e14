"""Reading what a member typed about a session: when, how long, where, reminder times.

Dates are read in the member's own zone: ISO forms (``2026-12-03 18:30``) directly,
relative forms ("tomorrow 18:30", "next tue 9am") through parsedatetime, imported only
when such a form is typed. Every refusal names the field and the rule.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from core.errors import InvalidValue

TITLE_MAX = 100
DESCRIPTION_MAX = 1000
NOTES_MAX = 2000
LINK_MAX = 500
DURATION_MIN, DURATION_MAX, DURATION_DEFAULT = 15, 480, 60
MAX_DAYS_AHEAD = 365
CAPACITY_MAX = 1000
REMINDERS_MAX = 5
REMINDER_MAX_MINUTES = 7 * 24 * 60
SESSION_TYPES = ("one_on_one", "group", "workshop")

_WHEN_HINT = 'use a date and time such as 2026-12-03 18:30, or "tomorrow 18:30", "next tue 9am"'
_OFFSET_RE = re.compile(r"(\d+)\s*([dhm])")


def parse_when(field: str, typed: str, zone: str, now: datetime) -> datetime:
    """The moment ``typed`` names, read as wall-clock time in ``zone``; UTC-aware.

    Refused: text that is no date and time, a wall-clock time that does not exist in the
    zone (the hour skipped when clocks go forward), a moment in the past or more than a
    year ahead.
    """
    text = " ".join(typed.split())
    if not text:
        raise InvalidValue(field, f"is required; {_WHEN_HINT}")
    tz = ZoneInfo(zone)
    local = _iso(text, tz) or _relative(text, now.astimezone(tz).replace(tzinfo=None))
    if local is None:
        raise InvalidValue(field, f"“{text}” is not a date and time I can read; {_WHEN_HINT}")
    if local.tzinfo is None:
        aware = local.replace(tzinfo=tz)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
            raise InvalidValue(
                field, f"{local:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks go forward)"
            )
        local = aware
    when = local.astimezone(UTC).replace(second=0, microsecond=0)
    if when <= now:
        shown = when.astimezone(tz)
        raise InvalidValue(field, f"must be in the future ({shown:%Y-%m-%d %H:%M} {zone} is past)")
    if when > now + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidValue(field, f"must be at most {MAX_DAYS_AHEAD} days ahead")
    return when


def _iso(text: str, tz: ZoneInfo) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _relative(text: str, source: datetime) -> datetime | None:
    import parsedatetime  # 0.3 s to import: only when a relative date is typed

    calendar = parsedatetime.Calendar(version=parsedatetime.VERSION_CONTEXT_STYLE)
    parsed, context = calendar.parseDT(text, sourceTime=source)
    if not (context.hasDate and context.hasTime):
        return None
    return parsed.replace(tzinfo=None, second=0, microsecond=0)  # type: ignore[no-any-return]


def link(field: str, value: str | None) -> str | None:
    """A meeting link: an http(s) URL with a host, nothing else (no ``javascript:``)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in value:
        raise InvalidValue(field, "must be a web link starting with http:// or https://", value)
    if len(value) > LINK_MAX:
        raise InvalidValue(field, f"must be at most {LINK_MAX} characters", value)
    return value


def reminder_offsets(field: str, typed: str) -> list[int] | None:
    """Minutes before a session, from "24h,1h" / "1d,30m" / "1h30m"; [] for "off",
    None for "default"."""
    text = typed.strip().lower()
    if text in ("off", "none", "no"):
        return []
    if text in ("default", "defaults"):
        return None
    minutes: list[int] = []
    for item in (i.strip() for i in text.split(",")):
        if not item or _OFFSET_RE.sub("", item).strip():
            raise InvalidValue(
                field, 'use times such as 24h,1h or 1d,30m (or "off", or "default")', typed
            )
        total = sum(
            int(n) * {"d": 1440, "h": 60, "m": 1}[unit] for n, unit in _OFFSET_RE.findall(item)
        )
        if not 1 <= total <= REMINDER_MAX_MINUTES:
            raise InvalidValue(field, f"{item}: each time must be from 1m to 7d before", typed)
        minutes.append(total)
    picked = sorted(set(minutes), reverse=True)
    if len(picked) > REMINDERS_MAX:
        raise InvalidValue(field, f"give at most {REMINDERS_MAX} times", typed)
    return picked


def offset_text(minutes: int) -> str:
    """1440 -> "24 h", 90 -> "1 h 30 min", 15 -> "15 min"."""
    hours, mins = divmod(minutes, 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    return f"{hours} h" if hours else f"{mins} min"
