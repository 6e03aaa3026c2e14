"""Workshops: a mentor's session open to the community, announced with an RSVP button
and, where the platform has them, a calendar event (Discord Guild Scheduled Event)."""

from __future__ import annotations

from sqlalchemy import func, select

from core.actions import action_id, button
from core.context import Actor
from core.effects import ChannelPost, SessionEvent
from core.errors import Conflict, NotConfigured
from core.messages import Button, Message, Reply, mention, say
from core.models import Community, MentorSession, SessionAttendee
from core.uow import UnitOfWork
from core.usecases.sessions.notices import announce, queue_reminders, session_fields
from core.usecases.sessions.store import end_of, role_of


def require_channel(community: Community) -> str:
    if not community.announcement_channel_id:
        raise NotConfigured(
            "Workshops are announced in the announcement channel, which is not set yet: "
            "an admin runs `/admin setup announcement_channel:#…`."
        )
    return community.announcement_channel_id


def _event(session: MentorSession) -> SessionEvent:
    return SessionEvent(
        session.id,
        session.title,
        session.description or "",
        session.scheduled_at,
        end_of(session),
        session.meeting_link or "",
        cancel=session.status == "cancelled",
    )


async def announce_workshop(uow: UnitOfWork, actor: Actor, session: MentorSession) -> None:
    channel = require_channel(actor.community)
    places = f" ({session.capacity} places)" if session.capacity else ""
    await uow.outbox.add(
        session.community_id,
        ChannelPost(
            channel,
            Message(
                title=f"Workshop: {session.title}",
                text=f"{mention(actor.user_id)} hosts a workshop{places}. Everyone is welcome.",
                fields=session_fields(session),
                buttons=(Button("I'll attend", action_id("sattend", session.id), "success"),),
                footer=f"Session {session.id}",
            ),
        ),
        key=f"workshop:{session.id}:announce",
    )
    await update_event(uow, session)


async def update_event(uow: UnitOfWork, session: MentorSession) -> None:
    """Create, move or cancel the workshop's platform event to match the session."""
    await uow.outbox.add(
        session.community_id,
        _event(session),
        key=f"workshop:{session.id}:event:{session.version}",
    )


@button("sattend", arity=1)
async def attend(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    session = await uow.get_scoped(
        MentorSession, args[0], actor.community.id, "workshop", lock=True
    )
    if session.type != "workshop":
        raise Conflict("Only workshops take RSVPs.")
    if session.status != "scheduled" or end_of(session) <= uow.now():
        raise Conflict(f"This workshop is {session.status.replace('scheduled', 'over')}.")
    if await role_of(uow, session.id, actor.member.id) is not None:
        return say("You're already on the list for this workshop.")
    if session.capacity is not None:
        taken = await uow.session.scalar(
            select(func.count())
            .select_from(SessionAttendee)
            .where(SessionAttendee.session_id == session.id, SessionAttendee.role == "attendee")
        )
        if (taken or 0) >= session.capacity:
            raise Conflict(f"This workshop is full ({session.capacity} places).")
    uow.session.add(
        SessionAttendee(
            community_id=session.community_id,
            session_id=session.id,
            member_id=actor.member.id,
            role="attendee",
            created_at=uow.now(),
        )
    )
    me = [(actor.member, "attendee")]
    await announce(uow, session, me, "You're attending", {"": "See you there!"})
    await queue_reminders(uow, session, me)
    return say(
        f"You're on the list for “{session.title}”. Details are in your DMs.", tone="success"
    )
