"""Reading sessions: whom one is for, a member's upcoming ones, and the one an actor means.

A member's sessions are always found through ``session_attendees`` (indexed by member),
so an agenda, a feed or a free-time check reads that member's rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, select

from core.context import Actor
from core.errors import Conflict, NotAllowed
from core.models import Community, Member, MentorSession, SessionAttendee
from core.uow import UnitOfWork
from core.usecases.sessions.rules import DURATION_MAX

# Who may move, cancel or close a session: both people of a one-on-one, a workshop's host.
MANAGERS = ("host", "participant")


def zone_of(member: Member, community: Community) -> str:
    return member.timezone or community.default_timezone or "UTC"


def group_key(session: MentorSession) -> str:
    """The delivery-queue group of a session's reminders (cancelled together)."""
    return f"session:{session.id}"


def end_of(session: MentorSession) -> datetime:
    return session.scheduled_at + timedelta(minutes=session.duration)


async def attendees(uow: UnitOfWork, session_id: str) -> list[tuple[Member, str]]:
    """(member, role) of everyone a session is for, hosts first."""
    rows = await uow.session.execute(
        select(Member, SessionAttendee.role)
        .join(SessionAttendee, SessionAttendee.member_id == Member.id)
        .where(SessionAttendee.session_id == session_id)
        .order_by(SessionAttendee.created_at, SessionAttendee.id)
    )
    return [(member, role) for member, role in rows]


async def role_of(uow: UnitOfWork, session_id: str, member_id: str) -> str | None:
    return await uow.session.scalar(
        select(SessionAttendee.role).where(
            SessionAttendee.session_id == session_id, SessionAttendee.member_id == member_id
        )
    )


async def managed(
    uow: UnitOfWork, actor: Actor, session_id: str, action: str, *, scheduled: bool = True
) -> MentorSession:
    """The session, locked for a change, if the actor may make it (NotFound otherwise:
    an id from another community looks exactly like an unknown one)."""
    session = await uow.get_scoped(
        MentorSession, session_id, actor.community.id, "session", lock=True
    )
    if await role_of(uow, session.id, actor.member.id) not in MANAGERS:
        raise NotAllowed(action, "only the session's two participants (or a workshop's host) can")
    if scheduled and session.status != "scheduled":
        raise Conflict(f"This session is already {session.status.replace('_', ' ')}.")
    return session


def upcoming_query(member_id: str, now: datetime, limit: int) -> Select[MentorSession, str]:
    """A member's scheduled sessions not yet over, soonest first (at most ``limit``)."""
    return (
        select(MentorSession, SessionAttendee.role)
        .join(SessionAttendee, SessionAttendee.session_id == MentorSession.id)
        .where(
            SessionAttendee.member_id == member_id,
            MentorSession.status == "scheduled",
            # Sessions that started up to the longest duration ago may still be going on.
            MentorSession.scheduled_at > now - timedelta(minutes=DURATION_MAX),
        )
        .order_by(MentorSession.scheduled_at, MentorSession.id)
        .limit(limit)
    )


async def upcoming(uow: UnitOfWork, member_id: str, limit: int) -> list[tuple[MentorSession, str]]:
    now = uow.now()
    rows = await uow.session.execute(upcoming_query(member_id, now, limit + 20))
    found = [(s, role) for s, role in rows if end_of(s) > now]
    return found[:limit]


async def names_of_others(
    uow: UnitOfWork, session_ids: Sequence[str], member_id: str
) -> dict[str, list[Member]]:
    """The other participants of each session (hosts and participants, not RSVPs)."""
    if not session_ids:
        return {}
    rows = await uow.session.execute(
        select(SessionAttendee.session_id, Member)
        .join(Member, Member.id == SessionAttendee.member_id)
        .where(
            SessionAttendee.session_id.in_(session_ids),
            SessionAttendee.member_id != member_id,
            SessionAttendee.role.in_(MANAGERS),
        )
    )
    found: dict[str, list[Member]] = {}
    for session_id, member in rows:
        found.setdefault(session_id, []).append(member)
    return found


async def busy_between(
    uow: UnitOfWork, member_ids: Sequence[str], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """When any of these members has a scheduled session overlapping [start, end)."""
    rows = await uow.session.execute(
        select(MentorSession.scheduled_at, MentorSession.duration)
        .join(SessionAttendee, SessionAttendee.session_id == MentorSession.id)
        .where(
            SessionAttendee.member_id.in_(member_ids),
            MentorSession.status == "scheduled",
            MentorSession.scheduled_at < end,
            MentorSession.scheduled_at > start - timedelta(minutes=DURATION_MAX),
        )
    )
    return [(at, at + timedelta(minutes=length)) for at, length in rows]
