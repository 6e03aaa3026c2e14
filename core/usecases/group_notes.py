"""After and around a group's meetings (F8): the facilitator's notes, and the series as
an .ics calendar file (its RRULE in the group's zone, cancelled and moved occurrences
excepted, moved ones as entries of their own)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core import validation
from core.actions import action_id, button, form
from core.context import Actor
from core.errors import Conflict, InvalidValue
from core.messages import File, Form, FormField, Message, Reply, say
from core.models import SupportGroup, SupportGroupMeeting
from core.recurrence import CalendarEntry, Schedule, calendar_file
from core.uow import UnitOfWork
from core.usecases.group_meetings import schedule_of
from core.usecases.groups import may_see, require_lead

NOTES_MAX, TOPIC_MAX = 2000, 200


# ----- notes and the calendar file ----------------------------------------------------------


@button("gnotes")
async def ask_notes(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    meeting, group = await _meeting_for_lead(uow, actor, args[0])
    return Reply(
        form=Form(
            action=action_id("gnotes", meeting.id),
            title=f"Notes: {group.name[:30]} meeting",
            fields=(
                FormField("topic", "Topic", max_length=TOPIC_MAX, required=False),
                FormField("notes", "Notes", long=True, max_length=NOTES_MAX, required=False),
                FormField("attendees", "How many came", max_length=3, required=False),
            ),
        )
    )


async def _meeting_for_lead(
    uow: UnitOfWork, actor: Actor, meeting_id: str
) -> tuple[SupportGroupMeeting, SupportGroup]:
    meeting = await uow.get_scoped(SupportGroupMeeting, meeting_id, actor.community.id, "meeting")
    group = await uow.get_scoped(SupportGroup, meeting.group_id, actor.community.id, "group")
    require_lead(actor, group, "record this meeting's notes")
    if meeting.status != "scheduled":
        raise Conflict("This meeting was cancelled.")
    if meeting.scheduled_at > uow.now():
        raise Conflict("Notes are recorded after the meeting has started.")
    return meeting, group


@form("gnotes")
async def record_notes(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    meeting, _group = await _meeting_for_lead(uow, actor, args[0])
    topic = validation.text("topic", values.get("topic", ""), max_length=TOPIC_MAX)
    notes = validation.text("notes", values.get("notes", ""), max_length=NOTES_MAX)
    raw = validation.clean(values.get("attendees", ""))
    attendees = None
    if raw:
        if not raw.isdigit():
            raise InvalidValue("attendees", "must be a whole number from 0 to 500", raw)
        attendees = validation.integer("attendees", int(raw), minimum=0, maximum=500)
    meeting.topic = topic or meeting.topic
    meeting.notes = notes or meeting.notes
    meeting.attendee_count = attendees if attendees is not None else meeting.attendee_count
    return say("Meeting notes saved.", tone="success")


@button("gics")
async def calendar(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    group = await uow.get_scoped(SupportGroup, args[0], actor.community.id, "group")
    if not await may_see(uow, actor, group):
        raise InvalidValue("group", "is private; only its members get its calendar")
    schedule = schedule_of(group)
    if schedule is None or group.status == "archived":
        raise Conflict(f"“{group.name}” has no meetings to put in a calendar.")
    data = group_calendar(group, schedule, await _window(uow, group), uow.now())
    return Reply(
        message=Message(
            text=f"The meetings of “{group.name}” ({schedule.describe()}) for your calendar.",
            files=(File(f"{_slug(group.name)}.ics", data, "text/calendar"),),
        )
    )


async def _window(uow: UnitOfWork, group: SupportGroup) -> list[SupportGroupMeeting]:
    rows = await uow.session.execute(
        select(SupportGroupMeeting)
        .where(
            SupportGroupMeeting.group_id == group.id,
            SupportGroupMeeting.occurrence_at > uow.now(),
        )
        .order_by(SupportGroupMeeting.occurrence_at)
    )
    return list(rows.scalars())


def group_calendar(
    group: SupportGroup,
    schedule: Schedule,
    window: Sequence[SupportGroupMeeting],
    now: datetime,
) -> bytes:
    """The series with its RRULE (from its next occurrence on), minus cancelled or moved
    occurrences, plus moved ones as their own entries."""
    zone = schedule.tz
    first = schedule.occurrences(now, 1)
    if not first:
        raise Conflict("This schedule has no future meetings.")
    start = first[0].start.astimezone(zone)
    exdates = [
        m.occurrence_at.astimezone(zone)
        for m in window
        if m.occurrence_at is not None
        and (m.status == "cancelled" or m.scheduled_at != m.occurrence_at)
    ]
    entries = [
        CalendarEntry(
            uid=f"group-{group.id}@mentorbot",
            title=f"{group.name} meeting",
            start=start,
            duration=timedelta(minutes=schedule.duration),
            description=group.description,
            rrule=schedule.rrule_text(),
            exdates=exdates,
        )
    ]
    entries += [
        CalendarEntry(
            uid=f"meeting-{m.id}@mentorbot",
            title=f"{group.name} meeting (moved)",
            start=m.scheduled_at.astimezone(zone),
            duration=timedelta(minutes=m.duration),
        )
        for m in window
        if m.status == "scheduled"
        and m.occurrence_at is not None
        and m.scheduled_at != m.occurrence_at
    ]
    return calendar_file(entries, stamp=now.astimezone(UTC))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "group"
