"""Support-group meetings (F8): the rolling window, reminders, events, moves and notes.

The next ``meeting_window`` occurrences of a group's schedule exist as meeting rows, one
per occurrence (unique per group, so materialising again never duplicates). Each has its
reminders posted in the group's space (``meeting_reminder_hours`` before), a platform
event (Discord Guild Scheduled Event), and a DM to the facilitator after it ends with a
button to record notes: all queued with the meeting's ``group_key``, so a move or a
cancellation cancels them at once. Housekeeping extends each window when its first
meeting has started (``SupportGroup.meetings_due_at``), a bounded batch of groups a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core import validation
from core.actions import action_id
from core.context import Actor
from core.effects import DirectMessage, GroupPost, ScheduledEvent, ScheduledEventChange
from core.errors import InvalidValue
from core.ids import new_id
from core.messages import Button, Field, Message, Reply, moment, say
from core.models import Member, SupportGroup, SupportGroupMeeting
from core.recurrence import (
    FREQUENCIES,
    Schedule,
    local_instant,
    parse_time,
    week_number,
    weekday,
)
from core.uow import Queued, UnitOfWork
from core.usecases.groups import (
    GroupRef,
    find_group,
    group_to_lead,
    schedule_text,
)

_DATE_HELP = "must be a date as YYYY-MM-DD"


def schedule_of(group: SupportGroup) -> Schedule | None:
    return Schedule.from_dict(group.schedule) if group.schedule else None


def meeting_key(meeting: SupportGroupMeeting) -> str:
    return f"meeting:{meeting.id}"


@dataclass(frozen=True)
class ScheduleOptions:
    """The options that say when a group meets (its zone and the rest come with them)."""

    frequency: str
    day: str
    time: str


def schedule_from(
    cmd: ScheduleOptions, zone: str, week: str | None, duration: int | None, anchor: date
) -> Schedule:
    """A schedule from command options; each bad part names its option."""
    chosen = validation.choice("frequency", cmd.frequency, FREQUENCIES)
    return Schedule(
        frequency=chosen,  # type: ignore[arg-type]  # checked against FREQUENCIES
        weekday=weekday("day", cmd.day),
        at=parse_time("time", cmd.time),
        duration=60 if duration is None else duration,
        zone=validation.timezone("timezone", zone),
        week=week_number("week", week) if chosen == "monthly" else None,
        anchor=anchor,
    )


def shifted_note(meetings: Sequence[SupportGroupMeeting], schedule: Schedule) -> str:
    """Say so when a meeting's local time does not exist that day (a spring-forward night)."""
    moved = [m for m in meetings if _local(m.scheduled_at, schedule.zone).time() != schedule.at]
    if not moved:
        return ""
    days = ", ".join(f"{_local(m.scheduled_at, schedule.zone):%Y-%m-%d}" for m in moved)
    return (
        f"⚠️ {schedule.at:%H:%M} does not exist in {schedule.zone} on {days} (the clocks "
        f"go forward), so that meeting starts an hour later, at the same moment it would "
        "have had."
    )


def _local(when: datetime, zone: str) -> datetime:
    return when.astimezone(ZoneInfo(zone))


async def upcoming(uow: UnitOfWork, group: SupportGroup, limit: int) -> list[SupportGroupMeeting]:
    rows = await uow.session.execute(
        select(SupportGroupMeeting)
        .where(
            SupportGroupMeeting.group_id == group.id,
            SupportGroupMeeting.status == "scheduled",
            SupportGroupMeeting.scheduled_at > uow.now(),
        )
        .order_by(SupportGroupMeeting.scheduled_at)
        .limit(limit)
    )
    return list(rows.scalars())


async def materialise(
    uow: UnitOfWork, group: SupportGroup, now: datetime
) -> list[SupportGroupMeeting]:
    """Top the group's future occurrences up to the window; queue each new one's effects."""
    return (await top_up(uow, [group], now)).get(group.id, [])


async def top_up(
    uow: UnitOfWork, groups: Sequence[SupportGroup], now: datetime
) -> dict[str, list[SupportGroupMeeting]]:
    """Materialise the windows of several groups at once: a handful of statements for the
    whole batch (their occurrences ahead, their facilitators, one insert of meetings, one
    of effects), whatever its size.

    Counts occurrences (scheduled or cancelled) ahead, not rows moved elsewhere, so a
    cancelled meeting is not replaced by a later one.
    """
    live = [g for g in groups if g.schedule and g.status != "archived"]
    for group in groups:
        if group not in live:
            group.meetings_due_at = None
    if not live:
        return {}
    ahead: dict[str, list[datetime]] = {g.id: [] for g in live}
    rows = await uow.session.execute(
        select(SupportGroupMeeting.group_id, SupportGroupMeeting.occurrence_at)
        .where(
            SupportGroupMeeting.group_id.in_(list(ahead)),
            SupportGroupMeeting.occurrence_at > now,
        )
        .order_by(SupportGroupMeeting.occurrence_at)
    )
    for group_id, occurrence in rows:
        if occurrence is not None:
            ahead[group_id].append(occurrence)
    wanted = {g.facilitator_id for g in live if g.facilitator_id}
    facilitators = {
        m.id: m
        for m in (await uow.session.execute(select(Member).where(Member.id.in_(wanted)))).scalars()
    }
    window = uow.settings.meeting_window
    made: dict[str, list[SupportGroupMeeting]] = {}
    for group in live:
        schedule = Schedule.from_dict(group.schedule or {})
        after = max([now, *ahead[group.id]])
        new = [
            SupportGroupMeeting(
                id=new_id(),
                community_id=group.community_id,
                group_id=group.id,
                title=f"{group.name} meeting",
                scheduled_at=occurrence.start,
                occurrence_at=occurrence.start,
                duration=schedule.duration,
                status="scheduled",
                created_at=now,
            )
            for occurrence in schedule.occurrences(after, max(window - len(ahead[group.id]), 0))
        ]
        made[group.id] = new
        first = ahead[group.id][:1] or [m.scheduled_at for m in new[:1]]
        group.meetings_due_at = first[0] if first else None
    everything = [m for new in made.values() for m in new]
    if everything:
        uow.session.add_all(everything)
        await uow.session.flush()
    by_community: dict[str, list[Queued]] = {}
    for group in live:
        facilitator = facilitators.get(group.facilitator_id or "")
        for meeting in made[group.id]:
            by_community.setdefault(group.community_id, []).extend(
                meeting_effects(uow, group, meeting, facilitator)
            )
    for community_id, queued in by_community.items():
        await uow.outbox.add_many(community_id, queued)
    return made


def meeting_effects(
    uow: UnitOfWork,
    group: SupportGroup,
    meeting: SupportGroupMeeting,
    facilitator: Member | None,
    *,
    create_event: bool = True,
) -> list[Queued]:
    """Reminders in the space, the platform event, and the facilitator's notes prompt.

    Keys carry the start time, so a moved meeting's new reminders are new rows.
    """
    now, start = uow.now(), meeting.scheduled_at
    end = start + timedelta(minutes=meeting.duration)
    stamp = int(start.timestamp())
    group_key = meeting_key(meeting)
    queued: list[Queued] = []
    for hours in uow.settings.meeting_reminder_hours:
        due = start - timedelta(hours=hours)
        if due <= now:
            continue
        reminder = GroupPost(
            group.id,
            Message(
                title=f"Reminder: {group.name} meets {moment(start, 'R')}",
                text=f"{moment(start, 'F')} – {moment(end, 't')}"
                + (f"\nTopic: {meeting.topic}" if meeting.topic else ""),
            ),
            until=start,
        )
        queued.append(Queued(reminder, f"{group_key}:{stamp}:remind:{hours}", due, group_key))
    if create_event:
        event = ScheduledEvent(
            group.id,
            meeting.title or f"{group.name} meeting",
            (group.description or f"{group.name} support group meeting")[:1000],
            start,
            end,
            meeting_id=meeting.id,
        )
        queued.append(Queued(event, f"{group_key}:event", None, group_key))
    if facilitator is not None:
        notes = DirectMessage(
            facilitator.platform_user_id,
            Message(
                title=f"How did the {group.name} meeting go?",
                text=f"Record the topic, notes and how many came to the meeting of "
                f"{moment(start, 'f')}.",
                buttons=(Button("Record notes", action_id("gnotes", meeting.id), "primary"),),
            ),
        )
        queued.append(Queued(notes, f"{group_key}:{stamp}:notes", end, group_key))
    return queued


async def extend_windows(uow: UnitOfWork) -> int:
    """Housekeeping: groups whose first upcoming meeting has started get their window
    topped up; at most ``group_batch`` groups a pass, earliest first."""
    now = uow.now()
    due = (
        (
            await uow.session.execute(
                select(SupportGroup)
                .where(SupportGroup.meetings_due_at <= now, SupportGroup.status != "archived")
                .order_by(SupportGroup.meetings_due_at, SupportGroup.id)
                .limit(uow.settings.group_batch)
            )
        )
        .scalars()
        .all()
    )
    await top_up(uow, due, now)
    return len(due)


async def cancel_future(uow: UnitOfWork, group: SupportGroup, *, forget: bool) -> int:
    """Cancel every future meeting, its reminders and its event. ``forget`` also frees its
    occurrence (a schedule change: the new rule's occurrences replace them)."""
    future = (
        (
            await uow.session.execute(
                select(SupportGroupMeeting).where(
                    SupportGroupMeeting.group_id == group.id,
                    SupportGroupMeeting.scheduled_at > uow.now(),
                    SupportGroupMeeting.status == "scheduled",
                )
            )
        )
        .scalars()
        .all()
    )
    await uow.outbox.cancel(group.community_id, [meeting_key(m) for m in future])
    for meeting in future:
        meeting.status = "cancelled"
        if forget:
            meeting.occurrence_at = None
        await uow.outbox.add(
            group.community_id,
            ScheduledEventChange(group.id, meeting.id, cancel=True),
            key=f"{meeting_key(meeting)}:event:cancel",
        )
    return len(future)


# ----- commands -----------------------------------------------------------------------


async def list_meetings(uow: UnitOfWork, actor: Actor, cmd: GroupRef) -> Reply:
    group = await find_group(uow, actor, cmd.group)
    meetings = await upcoming(uow, group, uow.settings.meeting_window)
    past = (
        (
            await uow.session.execute(
                select(SupportGroupMeeting)
                .where(
                    SupportGroupMeeting.group_id == group.id,
                    SupportGroupMeeting.status == "scheduled",
                    SupportGroupMeeting.scheduled_at <= uow.now(),
                )
                .order_by(SupportGroupMeeting.scheduled_at.desc())
                .limit(1)
            )
        )
        .scalars()
        .all()
    )
    zone = group.timezone or "UTC"
    fields = [
        Field(
            f"{_local(m.scheduled_at, zone):%Y-%m-%d} ({zone})",
            f"{moment(m.scheduled_at, 'F')}" + (f" · {m.topic}" if m.topic else ""),
        )
        for m in meetings
    ]
    buttons: list[Button] = []
    for m in past:
        notes = f"notes: {m.notes[:200]}" if m.notes else "no notes yet"
        fields.insert(0, Field(f"Last: {_local(m.scheduled_at, zone):%Y-%m-%d}", notes))
        buttons.append(Button("Record notes", action_id("gnotes", m.id)))
    return Reply(
        message=Message(
            title=f"Meetings of {group.name}",
            text=schedule_text(group),
            fields=tuple(fields),
            buttons=(*buttons, Button("Calendar (.ics)", action_id("gics", group.id))),
            footer="The facilitator moves or cancels one with /group move-meeting or "
            "/group cancel-meeting (date as shown).",
        )
    )


def _date(field_name: str, value: str) -> datetime:
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d")
    except ValueError:
        raise InvalidValue(field_name, _DATE_HELP, value) from None


async def _meeting_on(uow: UnitOfWork, group: SupportGroup, day_text: str) -> SupportGroupMeeting:
    day = _date("date", day_text).date()
    zone = group.timezone or "UTC"
    for meeting in await upcoming(uow, group, uow.settings.meeting_window * 2):
        if _local(meeting.scheduled_at, zone).date() == day:
            return meeting
    raise InvalidValue("date", f"no upcoming meeting of “{group.name}” on {day} ({zone})")


@dataclass(frozen=True)
class MoveMeeting:
    group: str
    date: str
    to_date: str
    to_time: str


async def move_meeting(uow: UnitOfWork, actor: Actor, cmd: MoveMeeting) -> Reply:
    group = await group_to_lead(uow, actor, cmd.group, "move this group's meetings")
    meeting = await _meeting_on(uow, group, cmd.date)
    zone = ZoneInfo(group.timezone or "UTC")
    day, at = _date("to_date", cmd.to_date).date(), parse_time("to_time", cmd.to_time)
    start, shifted = local_instant(day, at, zone)
    if shifted:
        raise InvalidValue(
            "to_time",
            f"{at:%H:%M} does not exist on {day} in {zone.key} (the clocks go "
            "forward); pick another time",
        )
    if start <= uow.now():
        raise InvalidValue("to_date", "must be in the future")
    await uow.outbox.cancel(group.community_id, [meeting_key(meeting)])
    old = meeting.scheduled_at
    meeting.scheduled_at = start
    facilitator = (
        await uow.session.get(Member, group.facilitator_id) if group.facilitator_id else None
    )
    await uow.outbox.add_many(
        group.community_id, meeting_effects(uow, group, meeting, facilitator, create_event=False)
    )
    end = start + timedelta(minutes=meeting.duration)
    await uow.outbox.add(
        group.community_id,
        ScheduledEventChange(group.id, meeting.id, start=start, end=end),
        key=f"{meeting_key(meeting)}:event:move:{int(start.timestamp())}",
    )
    await _announce(uow, group, f"The meeting of {moment(old, 'F')} moves to {moment(start, 'F')}.")
    return say(f"Moved to {moment(start, 'F')}; reminders and the event follow.", tone="success")


@dataclass(frozen=True)
class CancelMeeting:
    group: str
    date: str


async def cancel_meeting(uow: UnitOfWork, actor: Actor, cmd: CancelMeeting) -> Reply:
    group = await group_to_lead(uow, actor, cmd.group, "cancel this group's meetings")
    meeting = await _meeting_on(uow, group, cmd.date)
    meeting.status = "cancelled"
    await uow.outbox.cancel(group.community_id, [meeting_key(meeting)])
    await uow.outbox.add(
        group.community_id,
        ScheduledEventChange(group.id, meeting.id, cancel=True),
        key=f"{meeting_key(meeting)}:event:cancel",
    )
    await _announce(uow, group, f"The meeting of {moment(meeting.scheduled_at, 'F')} is cancelled.")
    return say("Cancelled; its reminders and event are withdrawn.", tone="success")


async def _announce(uow: UnitOfWork, group: SupportGroup, text: str) -> None:
    await uow.outbox.add(
        group.community_id,
        GroupPost(group.id, Message(text=text)),
        key=f"group:{group.id}:announce:{new_id()}",
    )


@dataclass(frozen=True)
class ChangeSchedule(ScheduleOptions):
    group: str
    week: str | None = None
    duration: int | None = None
    timezone: str | None = None


async def change_schedule(uow: UnitOfWork, actor: Actor, cmd: ChangeSchedule) -> Reply:
    group = await group_to_lead(uow, actor, cmd.group, "change this group's schedule")
    zone = cmd.timezone or group.timezone or "UTC"
    now = uow.now()
    schedule = schedule_from(
        cmd,
        zone,
        cmd.week,
        cmd.duration,
        now.astimezone(ZoneInfo(validation.timezone("timezone", zone))).date(),
    )
    await cancel_future(uow, group, forget=True)
    group.schedule, group.timezone = schedule.to_dict(), schedule.zone
    group.meeting_schedule = schedule.describe()[:64]
    await uow.session.flush()
    made = await materialise(uow, group, now)
    await _announce(uow, group, f"New meeting schedule: {schedule.describe()}.")
    note = shifted_note(made, schedule)
    first = moment(made[0].scheduled_at, "F") if made else "none"
    return say(
        f"Schedule changed to {schedule.describe()}. Next meeting: {first}."
        + (f"\n{note}" if note else ""),
        tone="success",
    )
