"""A member's view of their sessions: the agenda, their reminder times, the calendar feed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from core.context import Actor
from core.errors import NotConfigured
from core.messages import Button, Field, Message, Reply, moment, say
from core.models import CalendarFeed, Community, Member, MentorSession, SessionAttendee
from core.uow import UnitOfWork
from core.usecases.sessions import ics, rules
from core.usecases.sessions.notices import (
    TYPE_LABELS,
    manage_buttons,
    queue_reminders,
    stop_reminders,
)
from core.usecases.sessions.store import MANAGERS, names_of_others, upcoming

FEED_PAST_DAYS = 30
FEED_MAX = 500
TOKEN_BYTES = 32
# Upcoming sessions whose queued reminders move when a member changes their times.
REQUEUE_MAX = 100


@dataclass(frozen=True)
class ShowAgenda:
    pass


@dataclass(frozen=True)
class SetReminders:
    times: str


@dataclass(frozen=True)
class CalendarLink:
    reset: bool | None = None


async def show_agenda(uow: UnitOfWork, actor: Actor, cmd: ShowAgenda) -> Reply:
    return Reply(message=await agenda_message(uow, actor, uow.settings.agenda_page_size))


async def agenda_message(uow: UnitOfWork, actor: Actor, limit: int) -> Message:
    found = await upcoming(uow, actor.member.id, limit)
    if not found:
        return Message(
            title="Your upcoming sessions",
            text="Nothing scheduled. `/session schedule` plans one; "
            "`/session suggest-times` finds a time that suits you both.",
        )
    others = await names_of_others(uow, [s.id for s, _ in found], actor.member.id)
    fields: list[Field] = []
    buttons: list[Button] = []
    for session, role in found:
        with_whom = ", ".join(m.display_name for m in others.get(session.id, []))
        head = f"{session.title}" + (f" · with {with_whom}" if with_whom else "")
        link = session.meeting_link or "no link yet"
        fields.append(
            Field(
                head,
                f"{moment(session.scheduled_at, 'F')} ({moment(session.scheduled_at, 'R')}) · "
                f"{session.duration} min · {TYPE_LABELS.get(session.type, session.type)}\n"
                f"{link} · id {session.id}",
            )
        )
        if role in MANAGERS:
            buttons.extend(manage_buttons(session))
    return Message(
        title="Your upcoming sessions",
        fields=tuple(fields),
        buttons=tuple(buttons),
        footer="Times are shown in your own timezone",
    )


async def next_sessions(uow: UnitOfWork, mentorship_ids: list[str]) -> dict[str, str]:
    """Each mentorship's next scheduled session, as "title, moment" (one query)."""
    if not mentorship_ids:
        return {}
    rows = await uow.session.execute(
        select(MentorSession.mentorship_id, MentorSession.title, MentorSession.scheduled_at)
        .where(
            MentorSession.mentorship_id.in_(mentorship_ids),
            MentorSession.status == "scheduled",
            MentorSession.scheduled_at > uow.now(),
        )
        .order_by(MentorSession.scheduled_at)
        .limit(20 * len(mentorship_ids))
    )
    found: dict[str, str] = {}
    for ms, title, at in rows:
        if ms is not None:
            found.setdefault(ms, f"{title}, {moment(at, 'f')}")
    return found


async def set_reminders(uow: UnitOfWork, actor: Actor, cmd: SetReminders) -> Reply:
    """Choose one's own reminder times; reminders already queued move to the new times."""
    offsets = rules.reminder_offsets("times", cmd.times)
    actor.member.session_reminders = offsets
    await uow.session.flush()
    for session, role in await upcoming(uow, actor.member.id, REQUEUE_MAX):
        await stop_reminders(
            uow, session, "superseded: reminder times changed", member=actor.member
        )
        await queue_reminders(uow, session, [(actor.member, role)])
    if offsets is None:
        chosen = ", ".join(rules.offset_text(m) for m in uow.settings.session_reminder_minutes)
        text = f"Back to the default reminders: {chosen} before each session."
    elif not offsets:
        text = "No more session reminders for you."
    else:
        text = f"You'll be reminded {', '.join(rules.offset_text(m) for m in offsets)} before."
    return say(text, tone="success")


# ----- the calendar feed ------------------------------------------------------------


async def calendar_link(uow: UnitOfWork, actor: Actor, cmd: CalendarLink) -> Reply:
    base = uow.settings.calendar_base_url
    if not base:
        raise NotConfigured(
            "The calendar feed is not enabled on this bot. An operator turns it on with a "
            "`[calendar]` section in mentorbot.toml: `public_base_url` (the address members "
            "reach it at), `host` and `port`."
        )
    feed = await uow.session.scalar(
        select(CalendarFeed).where(CalendarFeed.member_id == actor.member.id)
    )
    if cmd.reset and feed is not None:
        await uow.session.execute(delete(CalendarFeed).where(CalendarFeed.id == feed.id))
        feed = None
    if feed is None:
        feed = CalendarFeed(
            community_id=actor.community.id,
            member_id=actor.member.id,
            token=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=uow.now(),
        )
        uow.session.add(feed)
    url = f"{base.rstrip('/')}/calendar/{feed.token}.ics"
    lead = "Your new private calendar feed" if cmd.reset else "Your private calendar feed"
    return Reply(
        message=Message(
            title="Calendar feed",
            text=f"{lead}:\n{url}\n\nAdd it to your calendar app as a subscription (by URL). "
            "Anyone with this link sees your sessions: keep it to yourself. "
            "`/session calendar reset:yes` replaces it and turns the old one off.",
        )
    )


async def feed_for(uow: UnitOfWork, token: str) -> bytes | None:
    """The feed behind ``token`` (None for an unknown or revoked one): the member's
    sessions from the last month on, at most ``FEED_MAX``."""
    if not token or len(token) > 100:
        return None
    found = (
        await uow.session.execute(
            select(CalendarFeed, Member, Community)
            .join(Member, Member.id == CalendarFeed.member_id)
            .join(Community, Community.id == CalendarFeed.community_id)
            .where(CalendarFeed.token == token)
        )
    ).first()
    if found is None:
        return None
    _feed, member, community = found
    since = uow.now() - timedelta(days=FEED_PAST_DAYS)
    sessions = (
        await uow.session.scalars(
            select(MentorSession)
            .join(SessionAttendee, SessionAttendee.session_id == MentorSession.id)
            .where(SessionAttendee.member_id == member.id, MentorSession.scheduled_at >= since)
            .order_by(MentorSession.scheduled_at)
            .limit(FEED_MAX)
        )
    ).all()
    return ics.feed(sessions, uow.now(), f"Mentorbot: {community.name}")
