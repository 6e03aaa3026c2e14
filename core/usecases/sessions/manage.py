"""Scheduling a session and changing it: schedule, reschedule, cancel, complete, no-show.

Every change raises the session's version, cancels the reminders still queued for it,
queues the new ones and tells the people concerned with a calendar file, all in the one
transaction of the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core import validation
from core.actions import action_id, button, form, require_current
from core.context import Actor, find_member
from core.effects import DirectMessage
from core.errors import Conflict, InvalidValue, NotAllowed
from core.messages import Form, FormField, Message, Reply, mention, say
from core.models import Member, Mentor, MentorSession, SessionAttendee
from core.uow import UnitOfWork
from core.usecases.badges import award_badges
from core.usecases.mentors import find_mentor
from core.usecases.parties import load_party, party_with
from core.usecases.reviews import invite_review
from core.usecases.sessions import rules, workshops
from core.usecases.sessions.notices import (
    announce,
    queue_reminders,
    session_fields,
    stop_reminders,
)
from core.usecases.sessions.store import attendees, end_of, managed, zone_of


@dataclass(frozen=True)
class ScheduleSession:
    title: str
    when: str
    person: str | None = None
    duration: int | None = None
    type: str | None = None
    link: str | None = None
    capacity: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class RescheduleSession:
    session: str
    when: str
    duration: int | None = None


@dataclass(frozen=True)
class CancelSession:
    session: str
    reason: str | None = None


@dataclass(frozen=True)
class CompleteSession:
    session: str
    notes: str | None = None
    feedback: str | None = None


@dataclass(frozen=True)
class MarkNoShow:
    session: str
    person: str


async def schedule(uow: UnitOfWork, actor: Actor, cmd: ScheduleSession) -> Reply:
    zone = zone_of(actor.member, actor.community)
    start = rules.parse_when("when", cmd.when, zone, uow.now())
    return await create_session(
        uow,
        actor,
        cmd.type or "one_on_one",
        start,
        cmd.duration or rules.DURATION_DEFAULT,
        title=cmd.title,
        person=cmd.person,
        link=cmd.link,
        capacity=cmd.capacity,
        description=cmd.description,
    )


async def create_session(
    uow: UnitOfWork,
    actor: Actor,
    kind: str,
    start: datetime,
    duration: int,
    *,
    title: str,
    person: str | None,
    link: str | None = None,
    capacity: int | None = None,
    description: str | None = None,
) -> Reply:
    """Schedule a session at ``start`` (already checked to be ahead) and tell everyone."""
    now = uow.now()
    session = MentorSession(
        community_id=actor.community.id,
        host_id=actor.member.id,
        timezone=zone_of(actor.member, actor.community),
        title=validation.text("title", title, min_length=1, max_length=rules.TITLE_MAX),
        description=validation.clean(description or "") or None,
        scheduled_at=start,
        duration=duration,
        type=kind,
        meeting_link=rules.link("link", link),
        status="scheduled",
        version=1,
        created_at=now,
        updated_at=now,
    )
    if kind == "workshop":
        if person is not None:
            raise InvalidValue("person", "a workshop is open to everyone; leave it out")
        mentor = await find_mentor(uow, actor.member)
        if mentor is None or mentor.status != "active":
            raise NotAllowed("schedule a workshop", "only active mentors host workshops")
        workshops.require_channel(actor.community)
        session.mentor_id, session.capacity = mentor.id, capacity
        people: list[tuple[Member, str]] = [(actor.member, "host")]
    else:
        if person is None:
            raise InvalidValue("person", f"is required for a {kind} session: your mentor or mentee")
        if capacity is not None:
            raise InvalidValue("capacity", "only workshops have a capacity")
        party = await party_with(uow, actor, person, ("active",))
        session.mentorship_id, session.mentor_id = party.mentorship.id, party.mentor.id
        people = [(actor.member, "host"), (party.other(actor.member), "participant")]
        # The next check-in falls due a while after this session, not before it.
        party.mentorship.next_check_in = end_of(session) + timedelta(
            days=uow.settings.check_in_days
        )
    uow.session.add(session)
    await uow.session.flush()
    for member, role in people:
        uow.session.add(
            SessionAttendee(
                community_id=actor.community.id,
                session_id=session.id,
                member_id=member.id,
                role=role,
                created_at=now,
            )
        )
    if kind == "workshop":
        await workshops.announce_workshop(uow, actor, session)
        await announce(uow, session, people, "Workshop scheduled", {"": "You host this workshop."})
    else:
        other = people[1][0]
        await announce(
            uow,
            session,
            people,
            "Session scheduled",
            {
                actor.member.id: f"You scheduled a session with {mention(other.platform_user_id)}.",
                other.id: f"{mention(actor.user_id)} scheduled a session with you.",
            },
        )
    await queue_reminders(uow, session, people)
    return Reply(
        message=Message(
            title=f"Scheduled: {session.title}",
            text="Both of you get the details and a calendar file by DM."
            if kind != "workshop"
            else "It is announced with an “I'll attend” button.",
            fields=session_fields(session),
            footer=f"Session {session.id}",
            tone="success",
        )
    )


# ----- reschedule -------------------------------------------------------------------


async def reschedule_command(uow: UnitOfWork, actor: Actor, cmd: RescheduleSession) -> Reply:
    return await _reschedule(uow, actor, cmd.session, cmd.when, cmd.duration, None)


@button("smove", arity=2, versioned=True)
async def reschedule_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    session_id, version = args
    session = await managed(uow, actor, session_id, "reschedule this session")
    require_current(version, session.version)
    zone = zone_of(actor.member, actor.community)
    return Reply(
        form=Form(
            action=action_id("smove", session.id, str(session.version)),
            title=f"Reschedule: {session.title}"[:45],
            fields=(
                FormField(
                    "when",
                    f"New date and time ({zone})",
                    max_length=60,
                    placeholder="2026-12-03 18:30, tomorrow 18:30, next tue 9am",
                ),
            ),
        )
    )


@form("smove", arity=2, versioned=True)
async def reschedule_form(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    session_id, version = args
    return await _reschedule(uow, actor, session_id, values.get("when", ""), None, version)


async def _reschedule(
    uow: UnitOfWork,
    actor: Actor,
    session_id: str,
    when: str,
    duration: int | None,
    card_version: str | None,
) -> Reply:
    session = await managed(uow, actor, session_id, "reschedule this session")
    if card_version is not None:
        require_current(card_version, session.version)
    zone = zone_of(actor.member, actor.community)
    start = rules.parse_when("when", when, zone, uow.now())
    if start == session.scheduled_at and (duration or session.duration) == session.duration:
        raise Conflict("The session is already at that time; nothing changed.")
    session.scheduled_at, session.duration = start, duration or session.duration
    session.version += 1
    session.updated_at = uow.now()
    await stop_reminders(uow, session, "superseded: the session was rescheduled")
    people = await attendees(uow, session.id)
    await announce(
        uow,
        session,
        people,
        "Session moved",
        {
            "": f"{mention(actor.user_id)} moved this session.",
            actor.member.id: "You moved this session.",
        },
    )
    await queue_reminders(uow, session, people)
    if session.type == "workshop":
        await workshops.update_event(uow, session)
    return say(f"Moved “{session.title}”; everyone concerned is told.", tone="success")


# ----- cancel -----------------------------------------------------------------------


async def cancel_command(uow: UnitOfWork, actor: Actor, cmd: CancelSession) -> Reply:
    return await _cancel(uow, actor, cmd.session, None, cmd.reason)


@button("scancel", arity=2, versioned=True)
async def cancel_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    return await _cancel(uow, actor, args[0], args[1], None)


async def _cancel(
    uow: UnitOfWork, actor: Actor, session_id: str, card_version: str | None, reason: str | None
) -> Reply:
    # A second press (or a card from before a move) finds it no longer scheduled: told so.
    session = await managed(uow, actor, session_id, "cancel this session")
    if card_version is not None:
        require_current(card_version, session.version)
    reason = validation.text("reason", reason or "", max_length=rules.DESCRIPTION_MAX) or None
    session.status, session.version = "cancelled", session.version + 1
    session.updated_at = uow.now()
    await stop_reminders(uow, session, "superseded: the session was cancelled")
    people = await attendees(uow, session.id)
    why = f"\n\n> {reason}" if reason else ""
    await announce(
        uow,
        session,
        people,
        "Session cancelled",
        {
            "": f"{mention(actor.user_id)} cancelled this session.{why}",
            actor.member.id: f"You cancelled this session.{why}",
        },
    )
    if session.type == "workshop":
        await workshops.update_event(uow, session)
    return say(f"Cancelled “{session.title}”; the others are told.", tone="success")


# ----- after it happened ------------------------------------------------------------


async def complete(uow: UnitOfWork, actor: Actor, cmd: CompleteSession) -> Reply:
    session = await managed(uow, actor, cmd.session, "complete this session")
    _require_started(session, uow, "completed")
    notes = validation.text("notes", cmd.notes or "", max_length=rules.NOTES_MAX) or None
    feedback = validation.text("feedback", cmd.feedback or "", max_length=rules.NOTES_MAX)
    session.status, session.notes, session.feedback = "completed", notes, feedback or None
    session.version += 1
    session.updated_at = uow.now()
    await stop_reminders(uow, session, "the session was held")
    await uow.session.flush()
    await _count_as_held(uow, actor, session)
    await _tell_others(
        uow, actor, session, f"{mention(actor.user_id)} marked “{session.title}” as held."
    )
    return say("Marked as held; notes saved.", tone="success")


async def no_show(uow: UnitOfWork, actor: Actor, cmd: MarkNoShow) -> Reply:
    session = await managed(uow, actor, cmd.session, "mark a no-show")
    _require_started(session, uow, "marked as a no-show")
    absent = await find_member(uow, actor.community.id, cmd.person)
    people = await attendees(uow, session.id)
    if absent is None or absent.id not in {m.id for m, _ in people}:
        raise InvalidValue("person", f"{mention(cmd.person)} is not part of this session")
    session.status, session.no_show_id = "no_show", absent.id
    session.version += 1
    session.updated_at = uow.now()
    await stop_reminders(uow, session, "the session was marked as a no-show")
    await _tell_others(
        uow,
        actor,
        session,
        f"{mention(actor.user_id)} noted that {mention(absent.platform_user_id)} did not come "
        f"to “{session.title}”.",
    )
    return say(f"Noted: {mention(absent.platform_user_id)} did not come.", tone="success")


async def _count_as_held(uow: UnitOfWork, actor: Actor, session: MentorSession) -> None:
    """A held session counts toward its mentor's badges (F12) and, with
    ``review_after_sessions``, invites the mentee of its mentorship to review (F11)."""
    if session.mentor_id is not None:
        mentor = await uow.session.get(Mentor, session.mentor_id)
        if mentor is not None:
            await award_badges(uow, actor.community, [mentor.user_id], ["completed_sessions"])
    if uow.settings.review_after_sessions and session.mentorship_id is not None:
        party = await load_party(uow, actor.community.id, session.mentorship_id)
        if party.mentorship.status == "active":
            await invite_review(uow, party, session.id)


def _require_started(session: MentorSession, uow: UnitOfWork, what: str) -> None:
    if session.scheduled_at > uow.now():
        raise Conflict(f"This session has not started yet, so it cannot be {what}.")


async def _tell_others(uow: UnitOfWork, actor: Actor, session: MentorSession, text: str) -> None:
    for member, role in await attendees(uow, session.id):
        if member.id == actor.member.id or role == "attendee":
            continue
        await uow.outbox.add(
            session.community_id,
            DirectMessage(
                member.platform_user_id,
                Message(title=f"Session {session.status.replace('_', ' ')}", text=text),
                thread=session.mentorship_id,
            ),
            key=f"session:{session.id}:{session.version}:{session.status}:{member.id}",
        )
