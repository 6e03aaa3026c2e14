"""Calendar files for sessions (RFC 5545, built with ``icalendar``).

One stable UID per session and ``SEQUENCE`` = its version, so a calendar app updates the
same entry when a session moves (``METHOD:REQUEST``) or is cancelled (``METHOD:CANCEL``).
The feed is the same events without a method (``PUBLISH``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from core.messages import File
from core.models import MentorSession

PRODID = "-//Mentorbot//Sessions//EN"
UID_DOMAIN = "mentorbot"
CONTENT_TYPE = "text/calendar"


def uid(session: MentorSession) -> str:
    return f"session-{session.id}@{UID_DOMAIN}"


def _event(session: MentorSession, stamp: datetime, *, cancelled: bool = False) -> object:
    from icalendar import Event  # imported when a file is made: not at start-up

    event = Event()
    event.add("uid", uid(session))
    event.add("sequence", session.version)
    event.add("dtstamp", stamp)
    event.add("dtstart", session.scheduled_at)
    event.add("dtend", session.scheduled_at + timedelta(minutes=session.duration))
    event.add("summary", session.title)
    description = session.description or ""
    if session.meeting_link:
        description = f"{description}\n\n{session.meeting_link}".strip()
        event.add("url", session.meeting_link)
        event.add("location", session.meeting_link)
    if description:
        event.add("description", description)
    status = "CANCELLED" if cancelled or session.status == "cancelled" else "CONFIRMED"
    event.add("status", status)
    return event


def _calendar(method: str | None) -> object:
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    return calendar


def invitation(session: MentorSession, stamp: datetime) -> File:
    """The .ics sent with an announcement: REQUEST for new or moved, CANCEL otherwise."""
    cancelled = session.status == "cancelled"
    calendar = _calendar("CANCEL" if cancelled else "REQUEST")
    calendar.add_component(_event(session, stamp, cancelled=cancelled))  # type: ignore[attr-defined]
    data: bytes = calendar.to_ical()  # type: ignore[attr-defined]
    name = "session-cancelled.ics" if cancelled else "session.ics"
    return File(name, data, CONTENT_TYPE)


def feed(sessions: Iterable[MentorSession], stamp: datetime, name: str) -> bytes:
    """A member's live feed: their sessions as one calendar."""
    calendar = _calendar("PUBLISH")
    calendar.add("x-wr-calname", name)  # type: ignore[attr-defined]
    for session in sessions:
        calendar.add_component(_event(session, stamp))  # type: ignore[attr-defined]
    data: bytes = calendar.to_ical()  # type: ignore[attr-defined]
    return data
