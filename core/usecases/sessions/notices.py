"""What sessions say: the session card, announcements with their calendar file, and the
reminders queued for each attendee at their own moments.

Times are portable moment tokens, so every reader sees them in their own zone (Discord
renders them natively, Slack as ``<!date^…>``, the console in the member's zone).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.actions import action_id
from core.effects import DirectMessage, Effect, Reminder
from core.messages import Button, Field, Message, mention, moment
from core.models import Member, MentorSession
from core.uow import UnitOfWork
from core.usecases.sessions import ics
from core.usecases.sessions.rules import offset_text
from core.usecases.sessions.store import MANAGERS, group_key

TYPE_LABELS = {"one_on_one": "One-on-one", "group": "Group session", "workshop": "Workshop"}


def when_text(session: MentorSession) -> str:
    start = session.scheduled_at
    return f"{moment(start, 'F')} ({moment(start, 'R')})"


def manage_buttons(session: MentorSession) -> tuple[Button, ...]:
    """Reschedule / Cancel, for the version of the session they were made for."""
    ref = (session.id, str(session.version))
    return (
        Button("Reschedule", action_id("smove", *ref), "primary"),
        Button("Cancel session", action_id("scancel", *ref), "danger"),
    )


def session_fields(session: MentorSession, others: Sequence[Member] = ()) -> tuple[Field, ...]:
    fields = [
        Field("When", when_text(session)),
        Field("Length", f"{session.duration} min", inline=True),
        Field("Type", TYPE_LABELS.get(session.type, session.type), inline=True),
    ]
    if others:
        fields.append(Field("With", ", ".join(mention(m.platform_user_id) for m in others)))
    fields.append(Field("Link", session.meeting_link or "none yet"))
    if session.description:
        fields.append(Field("About", session.description))
    return tuple(fields)


async def announce(
    uow: UnitOfWork,
    session: MentorSession,
    people: Sequence[tuple[Member, str]],
    headline: str,
    lines: dict[str, str],
    *,
    skip: str | None = None,
) -> None:
    """DM each person (but ``skip``, a member id) the session card and its calendar file.

    ``lines`` maps a member id to what that person reads above the card (the default
    under ``""``). One multi-row insert, however many attend a workshop.
    """
    calendar = ics.invitation(session, uow.now())
    live = session.status == "scheduled"
    managers = [m for m, role in people if role in MANAGERS]
    effects: list[tuple[Effect, str]] = []
    for member, role in people:
        if member.id == skip:
            continue
        others = [m for m in managers if m.id != member.id] if session.type != "workshop" else []
        buttons = manage_buttons(session) if live and role in MANAGERS else ()
        message = Message(
            title=f"{headline}: {session.title}",
            text=lines.get(member.id, lines.get("", "")),
            fields=session_fields(session, others),
            buttons=buttons,
            footer=f"Session {session.id} · the attached file updates your calendar",
            tone="warning" if session.status == "cancelled" else "info",
            files=(calendar,),
        )
        effects.append(
            (
                DirectMessage(member.platform_user_id, message, thread=session.mentorship_id),
                f"session:{session.id}:{session.version}:{session.status}:{member.id}",
            )
        )
    await uow.outbox.add_many(session.community_id, effects)


def reminder_message(session: MentorSession, minutes: int, role: str) -> Message:
    return Message(
        title=f"Reminder: {session.title}",
        text=f"Your session starts {moment(session.scheduled_at, 'R')}.",
        fields=session_fields(session),
        buttons=manage_buttons(session) if role in MANAGERS else (),
        footer=f"Session {session.id} · your reminder {offset_text(minutes)} before",
    )


async def queue_reminders(
    uow: UnitOfWork, session: MentorSession, people: Sequence[tuple[Member, str]]
) -> int:
    """Each person's reminders (their own offsets, or the defaults), due at their moment.

    Each carries the session's version: a reminder made before the session moved or
    ended is dropped at send time even if it escaped being cancelled here.
    """
    now = uow.now()
    stamp = int(now.timestamp() * 1000)
    items: list[tuple[Effect, str, datetime]] = []
    for member, role in people:
        offsets = member.session_reminders
        if offsets is None:
            offsets = list(uow.settings.session_reminder_minutes)
        for minutes in offsets:
            due = session.scheduled_at - timedelta(minutes=minutes)
            if due <= now:
                continue
            effect = Reminder(
                member.platform_user_id,
                reminder_message(session, minutes, role),
                at=session.scheduled_at,
                session_id=session.id,
                session_version=session.version,
            )
            key = f"remind:{session.id}:{session.version}:{member.id}:{minutes}:{stamp}"
            items.append((effect, key, due))
    return await uow.outbox.add_many(session.community_id, items, group_key=group_key(session))


async def stop_reminders(
    uow: UnitOfWork, session: MentorSession, why: str, *, member: Member | None = None
) -> int:
    """Cancel what is still queued for the session (for one member only, if given)."""
    return await uow.outbox.cancel(
        session.community_id,
        group_key(session),
        why,
        destination=None if member is None else f"user:{member.platform_user_id}",
    )
